// application/json: {"instances": [rows]}, a bare array of rows, or a single row; rows are number arrays or
// objects keyed by feature name; or a KServe V2 {"inputs": [...]} tensor request (see v2.ts).
// Responses: {"predictions": [{key: value}]}.
import { ServerError } from '../errors';
import type { Predictions } from '../vocabulary';
import { recordKeys, recordValues } from './records';
import { withExactIntegers } from './json-integers';
import { pyJsonObject, xgboostRecord } from './xgboost-style';
import { findJsonSyntaxError } from './json-syntax';
import { MatrixBuilder, tabularSchema } from './rows';
import type { Codec, DecodeContext, Decoded, EncodeContext } from './types';
import { isV2Request } from './v2';
import { BINARY_HEADER_PARAM, splitBinaryBody } from './v2-binary';

/** Line and column of a character offset, for parse errors. */
export function lineColumn(text: string, offset: number, firstLine = 1): string {
  let line = firstLine;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line += 1;
      lineStart = i + 1;
    }
  }
  return `line ${line}, column ${offset - lineStart + 1}`;
}

/** JSON.parse with errors that say where the text goes wrong; `firstLine` numbers the text's first line. */
export function parseJson(text: string, firstLine = 1): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    if (text.trim() === '') throw new ServerError('MALFORMED_JSON', `line ${firstLine}: empty document, expected a JSON value`);
    const problem = findJsonSyntaxError(text);
    if (!problem) throw new ServerError('MALFORMED_JSON', `line ${firstLine}: ${(err as Error).message}`);
    throw new ServerError('MALFORMED_JSON', `${lineColumn(text, problem.offset, firstLine)}: ${problem.reason}`);
  }
}

const isRecordObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Adds one row (array, object keyed by feature, or SageMaker's {"features": [...]}) to the builder. */
export function addRow(builder: MatrixBuilder, row: unknown, place: string, featureNames?: readonly string[]): void {
  if (Array.isArray(row)) return builder.addArray(row, place);
  if (isRecordObject(row)) {
    const keys = Object.keys(row);
    if (keys.length === 1 && keys[0] === 'features' && Array.isArray(row.features) && !featureNames?.includes('features')) {
      return builder.addArray(row.features, place);
    }
    return builder.addObject(row, place);
  }
  throw new ServerError('MALFORMED_JSON', `${place}: expected a row (an array of numbers or an object keyed by feature name), got ${row === null ? 'null' : typeof row}`);
}

function decode(text: string, ctx: DecodeContext): Decoded {
  if (text.trim() === '') throw new ServerError('EMPTY_PAYLOAD', 'the JSON body is empty: send {"instances": [[...], ...]}');
  const doc = parseJson(text);
  // Tensors may hold 64-bit integers, which JSON.parse rounds beyond 2^53 - 1: those are read from the digits.
  if (isV2Request(doc)) return { kind: 'tensors', doc: withExactIntegers(text, doc) };
  const schema = tabularSchema(ctx);
  let rows: unknown[];
  let path: string;
  if (isRecordObject(doc) && 'instances' in doc) {
    if (!Array.isArray(doc.instances)) throw new ServerError('MALFORMED_JSON', '"instances" must be an array of rows');
    rows = doc.instances;
    path = 'instances';
  } else if (isRecordObject(doc) && 'inputs' in doc) {
    throw new ServerError('INVALID_TENSOR', '"inputs" must be an array of {"name", "shape", "datatype", "data"} (KServe V2)');
  } else if (Array.isArray(doc) && doc.length > 0 && (Array.isArray(doc[0]) || isRecordObject(doc[0]))) {
    rows = doc;
    path = '';
  } else if (Array.isArray(doc) || isRecordObject(doc)) {
    rows = [doc];
    path = 'row';
  } else {
    throw new ServerError('MALFORMED_JSON', `expected {"instances": [...]}, an array of rows or a single row, got ${doc === null ? 'null' : typeof doc}`);
  }
  const builder = new MatrixBuilder(schema, rows.length);
  for (let i = 0; i < rows.length; i++) {
    const place = path === 'row' ? 'row' : path === 'instances' ? `instances[${i}]` : `record ${i + 1}`;
    addRow(builder, rows[i], place, schema.featureNames);
  }
  return { kind: 'rows', matrix: builder.finish('no rows: "instances" is empty') };
}

/** One response record as a JSON object, keys in configured order. */
export function recordObject(p: Predictions, ctx: EncodeContext, row: number, keys = recordKeys(p, ctx.keys)): Record<string, unknown> {
  const values = recordValues(p, ctx.keys, row);
  const obj: Record<string, unknown> = {};
  for (let i = 0; i < keys.length; i++) obj[keys[i]] = values[i];
  return obj;
}

const FRAME = { open: '{"predictions":[', separator: ',', close: ']}' } as const;
/** json.dumps({"predictions": [...]}), as SageMaker XGBoost's container writes it. */
const PY_FRAME = { open: '{"predictions": [', separator: ', ', close: ']}' } as const;

/** Whether SageMaker XGBoost's output style writes these predictions. */
export const xgboostStyle = (p: Predictions, ctx: EncodeContext): boolean => ctx.style === 'xgboost' && p.native !== undefined;

/** One record of SageMaker XGBoost's output style as json.dumps writes it. */
export function xgboostJson(p: Predictions, ctx: EncodeContext, row: number): string {
  return pyJsonObject(xgboostRecord(p, ctx.selected ? ctx.keys : null, row));
}

/** The records of {"predictions": [...]}, comma-separated, without the wrapper. */
function encodeRecords(p: Predictions, ctx: EncodeContext): string {
  if (xgboostStyle(p, ctx)) {
    const records = new Array<string>(p.rows);
    for (let r = 0; r < p.rows; r++) records[r] = xgboostJson(p, ctx, r);
    return records.join(PY_FRAME.separator);
  }
  const keys = recordKeys(p, ctx.keys);
  const predictions = new Array(p.rows);
  for (let r = 0; r < p.rows; r++) predictions[r] = recordObject(p, ctx, r, keys);
  return JSON.stringify(predictions).slice(1, -1);
}

const frame = (ctx: EncodeContext) => (ctx.style === 'xgboost' ? PY_FRAME : FRAME);

function encode(p: Predictions, ctx: EncodeContext): string {
  const f = xgboostStyle(p, ctx) ? PY_FRAME : FRAME;
  return `${f.open}${encodeRecords(p, ctx)}${f.close}`;
}

/**
 * A body framed by the binary tensor extension (its header length given, see v2-binary.ts) can only be read
 * as bytes: its JSON header, then raw tensors. Any other body goes to decode as text.
 */
function decodeBytes(bytes: Uint8Array, ctx: DecodeContext): Decoded | undefined {
  const headerLength = ctx.params[BINARY_HEADER_PARAM];
  if (headerLength === undefined) return undefined;
  const { json, binary } = splitBinaryBody(bytes, headerLength);
  const doc = parseJson(json);
  if (!isV2Request(doc)) throw new ServerError('INVALID_TENSOR', 'a body with Inference-Header-Content-Length must be a V2 inference request, {"inputs": [...]}, followed by its binary data');
  return { kind: 'tensors', doc, binary };
}

export const jsonCodec: Codec = { mediaType: 'application/json', decode, decodeBytes, encode, encodeRecords, frame };

/** The H2O scorer's usage: JSON sent as application/octet-stream. Answers are JSON. */
export const octetStreamCodec: Codec = { mediaType: 'application/octet-stream', decode };
