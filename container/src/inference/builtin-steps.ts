// The built-in steps: what a model does where its code (if any) has no hook. input decodes the body with
// the codec the edge chose (rows, or KServe V2 tensors); predict runs the session; output encodes with the
// codec the edge chose (or writes a hook's plain value as JSON, CSV or JSON Lines). Large requests run and
// encode in chunks, so their outputs are never all held at once.
import { recordObject } from '../codecs/json';
import { decodeQuery } from '../codecs/query';
import { decodeRequest, requestCodec, responseCodec, RESPONSE_TYPES } from '../codecs/registry';
import type { Codec } from '../codecs/types';
import { decodeV2, encodeV2, encodeV2Response } from '../codecs/v2';
import { BINARY_HEADER } from '../codecs/v2-binary';
import { encodeValue } from '../codecs/values';
import { ServerError } from '../errors';
import type { Answer, Invocation, InvocationOutput } from '../models/model';
import { sliceMatrix, type HookName, type Matrix, type Predictions, type TensorData } from '../vocabulary';
import { isTensorLike, toOrtTensor } from './onnxruntime';
import type { OnnxSession } from './session';
import { HookError, type StepRequest, type Steps, type StepValue } from './steps';

const utf8 = new TextEncoder();

/** Rows per session run for large requests: bounds the memory of labels, probabilities and output text. */
export const CHUNK_ROWS = 65_536;

const NOT_ACCEPTABLE_V2 = 'KServe V2 requests are answered with application/json, which Accept does not allow';

export function text(body: string, contentType: string, records: number): Answer {
  return { ok: true, body: utf8.encode(body), contentType, records };
}

/** The encoder the edge chose; its absence is a bug upstream (the edge negotiated against this model's types). */
function encoderFor(output: InvocationOutput): Codec {
  const encoder = responseCodec(output.mediaType);
  if (!encoder) throw new ServerError('INTERNAL_ERROR', `no encoder for ${output.mediaType}`);
  return encoder;
}

/** Whether the answer's type can hold a tensor model's outputs: V2 JSON (the caller accepts JSON), or a type whose codec writes tensors. */
const tensorsWritable = (invocation: Invocation): boolean => invocation.tensorsAcceptable || responseCodec(invocation.output.mediaType)?.encodeTensors !== undefined;

/** Predictions written the way the invocation asked. */
function encodePredictions(output: InvocationOutput, p: Predictions): Answer {
  const encoder = encoderFor(output);
  if (output.single) return text(JSON.stringify(recordObject(p, output, 0)), 'application/json', 1);
  if (encoder.encodeBinary) return { ok: true, body: encoder.encodeBinary(p, output), contentType: encoder.mediaType, exactType: true, records: p.rows };
  const bytes = encoder.encodeBytes?.(p, output);
  if (bytes) return { ok: true, body: bytes, contentType: encoder.mediaType, records: p.rows };
  return text(encoder.encode!(p, output), encoder.mediaType, p.rows);
}

const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;

/**
 * A hook's value as the answer: a string, bytes, {body, contentType}, or a value the server writes as the
 * negotiated type. `hook` is named when the value cannot be written.
 */
export function valueAnswer(value: unknown, accept: string, hook: HookName): Answer {
  let body: unknown = value;
  let contentType = accept;
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && 'body' in value && Object.keys(value).every((k) => k === 'body' || k === 'contentType')) {
    const v = value as { body: unknown; contentType?: unknown };
    body = v.body;
    if (v.contentType !== undefined) {
      if (typeof v.contentType !== 'string' || !/^[\x21-\x7e]+\/[\x20-\x7e]+$/.test(v.contentType)) throw new HookError(hook, new Error(`returned contentType ${JSON.stringify(v.contentType)}, which is not a media type`));
      contentType = v.contentType;
    }
  }
  if (typeof body === 'string') return { ok: true, body: utf8.encode(body), contentType, exactType: contentType !== accept, records: 1 };
  if (isBytes(body)) return { ok: true, body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength).slice(), contentType, exactType: true, records: 1 };
  if (body instanceof ArrayBuffer) return { ok: true, body: new Uint8Array(body.slice(0)), contentType, exactType: true, records: 1 };
  const encoded = encodeValue(body, contentType);
  if (encoded === undefined) {
    throw new ServerError('NOT_ACCEPTABLE', `${hook} returned a value (not a string or bytes), which the server writes as ${RESPONSE_TYPES.join(', ')}; the request asked for ${contentType}`);
  }
  return { ok: true, body: utf8.encode(encoded), contentType, records: Array.isArray(body) ? body.length : 1 };
}

function isMatrix(v: unknown): v is Matrix {
  return typeof v === 'object' && v !== null && 'rows' in v && 'width' in v && 'values' in v && (v.values instanceof Float32Array || v.values instanceof Float64Array);
}

/** Rows given as a list of number lists (or one number list: one row) as a Matrix. */
function rowsToMatrix(v: unknown[]): Matrix | undefined {
  const rows = v.every((x) => typeof x === 'number') ? [v as number[]] : v;
  if (rows.length === 0 || !rows.every((r) => Array.isArray(r) && r.every((x) => typeof x === 'number'))) return undefined;
  const width = (rows[0] as number[]).length;
  if (!rows.every((r) => (r as number[]).length === width)) throw new ServerError('WRONG_FEATURE_COUNT', `the rows inputFn returned have different lengths (the first has ${width})`);
  // Doubles, as the hook gave them: a float model's input narrows them, a double model's (LightGBM) keeps them.
  const values = new Float64Array(rows.length * width);
  rows.forEach((r, i) => values.set(r as number[], i * width));
  return { rows: rows.length, width, values };
}

/** A value as users' predictFn and a modelFn model's run see it: a Matrix, tensors by name, or the hook's own value. */
export function plainValue(value: StepValue): unknown {
  switch (value.kind) {
    case 'rows':
      return value.matrix;
    case 'tensors':
    case 'outputs': {
      const byName: Record<string, TensorData> = {};
      for (const t of value.tensors) byName[t.name] = t;
      return byName;
    }
    case 'predictions':
      return value.predictions;
    case 'value':
      return value.value;
  }
}

export interface BuiltinOptions {
  /** The folder's model as the server loaded it; absent when the model's own modelFn loaded it. */
  session?: OnnxSession;
  /** modelFn's model (a session from context.loadSession, or anything with run(feeds)). */
  model?: unknown;
  /** The built-in output writes the answer (no outputFn): a V2 request Accept refuses is refused before it runs. */
  writesAnswer: boolean;
}

export class BuiltinSteps implements Steps {
  constructor(private readonly options: BuiltinOptions) {}

  /** Rows or tensors from the body (or the query's fields), decoded by the codec the edge chose. */
  async input({ invocation }: StepRequest): Promise<StepValue> {
    const { input } = invocation;
    const { session } = this.options;
    const schema = session?.schema ?? null;
    const rowsRefused = session?.rowsRefused;
    if (input.kind === 'fields') return { kind: 'rows', matrix: decodeQuery(input.fields, { schema, rowsRefused, params: {} }) };
    const decoder = requestCodec(input.mediaType);
    if (!decoder) throw new ServerError('INTERNAL_ERROR', `no decoder for ${input.mediaType}`);
    const { decoded } = decodeRequest(decoder, input.body, { schema, rowsRefused, params: input.params, inputs: session?.description.inputs });
    // The body is decoded: let its memory go now, not when the whole invocation ends (large batches).
    invocation.input = { ...input, body: new Uint8Array(0) };
    if (decoded.kind === 'rows') {
      if (invocation.output.protocol) throw new ServerError('INVALID_TENSOR', 'an inference request of the Open Inference Protocol is {"inputs": [{"name", "shape", "datatype", "data"}]}; rows ({"instances": ...}) go to POST /invocations');
      return { kind: 'rows', matrix: decoded.matrix };
    }
    if (!session) throw new ServerError('UNSUPPORTED_MEDIA_TYPE', `model "${invocation.model}" is loaded by its own modelFn, so the server does not know its tensors: KServe V2 requests need an inputFn in its code`);
    if (this.options.writesAnswer && !tensorsWritable(invocation)) throw new ServerError('NOT_ACCEPTABLE', NOT_ACCEPTABLE_V2);
    const request = decodeV2(decoded.doc, session.description.inputs, session.description.outputs, session.zeroSizeRefusal, decoded.binary);
    return { kind: 'tensors', tensors: request.inputs, request: { id: request.id, outputs: request.outputs, binaryOutputs: request.binaryOutputs } };
  }

  /**
   * An inputFn's value as the session takes it: a Matrix or number lists are rows, an object of tensors
   * by input name is tensors. Anything else the built-in predict cannot run.
   */
  normalize(value: StepValue): StepValue {
    if (value.kind !== 'value' || !this.options.session) return value;
    const v = value.value;
    const matrix = isMatrix(v) ? v : Array.isArray(v) ? rowsToMatrix(v) : undefined;
    if (matrix) {
      // Checked here, as the codecs check decoded rows: onnxruntime's own refusal would name a tensor's shape.
      const features = this.options.session.description.features;
      if (features !== null && matrix.width !== features) throw new ServerError('WRONG_FEATURE_COUNT', `the rows ${value.hook} returned have ${matrix.width} value(s), but the model has ${features} feature(s)`);
      return { kind: 'rows', matrix };
    }
    if (typeof v === 'object' && v !== null && Object.values(v).length > 0 && Object.values(v).every(isTensorLike)) {
      const tensors = Object.entries(v).map(([name, t]) => {
        const tensor = toOrtTensor(name, t);
        return { name, type: tensor.type, dims: [...tensor.dims], data: tensor.data as TensorData['data'] };
      });
      return { kind: 'tensors', tensors };
    }
    throw new HookError(value.hook, new Error('returned a value the built-in predictFn cannot run: give rows (a list of number lists), or tensors by input name ({name: {type, dims, data}}), or add a predictFn'));
  }

  /** Rows through a tabular model (what opportunistic batching shares between requests). */
  predictRows(matrix: Matrix): Promise<Predictions> {
    return this.options.session!.predict(matrix);
  }

  async predict(value: StepValue): Promise<StepValue> {
    const { session, model } = this.options;
    if (!session) {
      const run = (model as { run?: unknown } | undefined)?.run;
      if (typeof run !== 'function') throw new HookError('predictFn', new Error('modelFn returned a model without a run(feeds) method, so the server cannot run it: add a predictFn'));
      return { kind: 'value', value: await (run as (feeds: unknown) => Promise<unknown>).call(model, plainValue(value)), hook: 'predictFn' };
    }
    const ready = this.normalize(value);
    if (ready.kind === 'rows') return { kind: 'predictions', predictions: await session.predict(ready.matrix) };
    if (ready.kind === 'tensors') return { kind: 'outputs', tensors: await session.runTensors(ready.tensors, ready.request?.outputs), request: ready.request };
    throw new ServerError('INTERNAL_ERROR', `the built-in predict was given ${ready.kind}`);
  }

  async output(value: StepValue, { invocation }: StepRequest): Promise<Answer> {
    switch (value.kind) {
      case 'predictions':
        return encodePredictions(invocation.output, value.predictions);
      case 'outputs': {
        const { tensors, request } = value;
        if (request && !tensorsWritable(invocation)) throw new ServerError('NOT_ACCEPTABLE', NOT_ACCEPTABLE_V2);
        const records = tensors[0]?.dims[0] ?? 1;
        const { protocol } = invocation.output;
        const tensorCodec = protocol ? undefined : responseCodec(invocation.output.mediaType);
        if (tensorCodec?.encodeTensors) return { ok: true, body: tensorCodec.encodeTensors(tensors), contentType: tensorCodec.mediaType, exactType: true, records };
        if (!protocol) return text(encodeV2(tensors, invocation.model, request?.id), 'application/json', records);
        const { body, headerLength } = encodeV2Response(tensors, protocol, request ?? {});
        if (headerLength === undefined) return text(body as string, 'application/json', records);
        return { ok: true, body: body as Uint8Array, contentType: 'application/octet-stream', exactType: true, records, headers: { [BINARY_HEADER]: String(headerLength) } };
      }
      case 'value':
        return valueAnswer(value.value, invocation.output.mediaType, value.hook);
      default:
        throw new ServerError('INTERNAL_ERROR', `the built-in output was given ${value.kind}`);
    }
  }

  /** Whether a large answer of this type may be written chunk by chunk (binary formats are written whole). */
  chunkable(output: InvocationOutput): boolean {
    return !output.single && responseCodec(output.mediaType)?.encodeBinary === undefined;
  }

  /** A large request, CHUNK_ROWS at a time: each chunk is run, encoded to bytes and released. */
  async chunked(matrix: Matrix, { invocation }: StepRequest): Promise<Answer> {
    const encoder = encoderFor(invocation.output);
    const parts: Uint8Array[] = [];
    for (let from = 0; from < matrix.rows; from += CHUNK_ROWS) {
      const to = Math.min(matrix.rows, from + CHUNK_ROWS);
      const p = await this.predictRows(sliceMatrix(matrix, from, to));
      parts.push(chunkBytes(encoder, invocation.output, p, from === 0, to === matrix.rows));
    }
    return { ok: true, body: concat(parts), contentType: encoder.mediaType, records: matrix.rows };
  }
}

/** One chunk's bytes, such that the chunks concatenated are the whole answer. */
function chunkBytes(encoder: Codec, output: InvocationOutput, p: Predictions, first: boolean, last: boolean): Uint8Array {
  const frame = encoder.frame?.(output);
  if (!frame) return encoder.encodeBytes?.(p, output) ?? utf8.encode(encoder.encode!(p, output));
  const { open, separator, close } = frame;
  return utf8.encode(`${first ? open : separator}${encoder.encodeRecords!(p, output)}${last ? close : ''}`);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
