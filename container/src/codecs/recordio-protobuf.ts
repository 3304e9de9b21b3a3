// application/x-recordio-protobuf: SageMaker's RecordIO framing (a 0xced7230a magic, a length, the bytes,
// padding to 4) of aialgs Record protobufs, as its built-in algorithms and its Python SDK's RecordSerializer
// write them. Requests: one row per record, from features["values"], dense (values) or sparse (values at
// keys, absent features missing). Answers: one record per row, its label map holding each output key's
// float32 values, as SageMaker's XGBoost container answers.
import * as protobuf from 'protobufjs';
import { ServerError } from '../errors';
import type { Predictions } from '../vocabulary';
import { recordKeys } from './records';
import { MatrixBuilder, tabularSchema } from './rows';
import type { Codec, DecodeContext, Decoded, EncodeContext } from './types';
import { xgboostTensors } from './xgboost-style';

// The subset of SageMaker's record.proto (aialgs.data) the server reads and writes, with its field numbers.
const SCHEMA = `
syntax = "proto2";
package aialgs.data;
message Float32Tensor { repeated float values = 1 [packed = true]; repeated uint64 keys = 2 [packed = true]; repeated uint64 shape = 3 [packed = true]; }
message Float64Tensor { repeated double values = 1 [packed = true]; repeated uint64 keys = 2 [packed = true]; repeated uint64 shape = 3 [packed = true]; }
message Int32Tensor { repeated int32 values = 1 [packed = true]; repeated uint64 keys = 2 [packed = true]; repeated uint64 shape = 3 [packed = true]; }
message Bytes { repeated bytes value = 1; optional string content_type = 2; }
message Value { optional Float32Tensor float32_tensor = 2; optional Float64Tensor float64_tensor = 3; optional Int32Tensor int32_tensor = 7; optional Bytes bytes = 9; }
message Record { map<string, Value> features = 1; map<string, Value> label = 2; optional string uid = 3; optional string metadata = 4; optional string configuration = 5; }
`;
const Record = protobuf.parse(SCHEMA, { keepCase: true }).root.lookupType('aialgs.data.Record');

const MAGIC = 0xced7230a;

interface Tensor {
  values?: number[];
  keys?: (number | { toNumber(): number })[];
  shape?: (number | { toNumber(): number })[];
}
const asNumber = (v: number | { toNumber(): number }) => (typeof v === 'number' ? v : v.toNumber());

/** The records of a RecordIO body; `place(i)` names record i in errors. */
function* frames(bytes: Uint8Array): Generator<Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  let index = 0;
  while (at < bytes.length) {
    index += 1;
    if (at + 8 > bytes.length) throw new ServerError('INVALID_VALUE', `record ${index} (byte ${at}): the body ends inside a RecordIO header`);
    const magic = view.getUint32(at, true);
    if (magic !== MAGIC) throw new ServerError('INVALID_VALUE', `record ${index} (byte ${at}): not a RecordIO record (magic 0x${magic.toString(16).padStart(8, '0')}, expected 0xced7230a)`);
    // The upper 3 bits are a continuation flag, which SageMaker's writers never set.
    const length = view.getUint32(at + 4, true) & 0x1fffffff;
    at += 8;
    if (at + length > bytes.length) throw new ServerError('INVALID_VALUE', `record ${index} (byte ${at}): ${length} bytes announced, ${bytes.length - at} left in the body`);
    yield bytes.subarray(at, at + length);
    at += (length + 3) & ~3;
  }
}

function tensorOf(value: Record<string, unknown> | undefined): Tensor | undefined {
  if (!value) return undefined;
  return (value.float32_tensor ?? value.float64_tensor ?? value.int32_tensor) as Tensor | undefined;
}

function decodeBytes(bytes: Uint8Array, ctx: DecodeContext): Decoded {
  const schema = tabularSchema(ctx);
  const features = schema.features;
  if (schema.columnTypes || features === null) throw new ServerError('UNSUPPORTED_MEDIA_TYPE', 'application/x-recordio-protobuf holds number rows, for models with one [N, F] number input of fixed width: send CSV, JSON or JSON Lines');
  const builder = new MatrixBuilder(schema, Math.ceil(bytes.length / (8 + 4 * features)));
  let index = 0;
  for (const frame of frames(bytes)) {
    index += 1;
    const place = `record ${index}`;
    let record: { features?: Record<string, Record<string, unknown>> };
    try {
      record = Record.toObject(Record.decode(frame), { arrays: true }) as typeof record;
    } catch (err) {
      throw new ServerError('INVALID_VALUE', `${place}: not a SageMaker Record protobuf (${(err as Error).message})`);
    }
    const tensor = tensorOf(record.features?.values);
    if (!tensor) throw new ServerError('INVALID_VALUE', `${place}: no features["values"] tensor (float32, float64 or int32)`);
    const values = tensor.values ?? [];
    const keys = (tensor.keys ?? []).map(asNumber);
    if (keys.length === 0) {
      builder.startRow(values.length, place);
      for (let c = 0; c < values.length; c++) builder.put(c, values[c]);
      continue;
    }
    const shape = (tensor.shape ?? []).map(asNumber);
    if (shape.length > 0 && shape[0] > features) throw new ServerError('WRONG_FEATURE_COUNT', `${place}: a sparse row of shape [${shape.join(', ')}], but the model has ${features} feature(s)`);
    if (keys.length !== values.length) throw new ServerError('INVALID_VALUE', `${place}: ${keys.length} keys for ${values.length} values`);
    builder.startRow(features, place);
    for (let c = 0; c < features; c++) builder.put(c, NaN);
    keys.forEach((k, i) => {
      if (k >= features) throw new ServerError('WRONG_FEATURE_COUNT', `${place}: feature index ${k}, but the model has ${features} feature(s)`);
      builder.put(k, values[i]);
    });
  }
  return { kind: 'rows', matrix: builder.finish('the RecordIO-protobuf body holds no records') };
}

function decode(): Decoded {
  // decodeBytes always answers: a binary body is never read as text.
  throw new ServerError('INTERNAL_ERROR', 'RecordIO-protobuf bodies are decoded from bytes');
}

/** Each row's values as float32 lists by key: SageMaker XGBoost's keys, or the server's own (numbers only). */
function rowTensors(p: Predictions, ctx: EncodeContext, r: number): [string, number[]][] {
  if (ctx.style === 'xgboost' && p.native) return xgboostTensors(p, ctx.selected ? ctx.keys : null, r);
  if (p.kind === 'regression') return [['score', [p.scores[r]]]];
  const index = (label: string | number) => (typeof label === 'number' ? label : p.classNames.indexOf(label));
  const probs = Array.from(p.probabilities.subarray(r * p.classes, (r + 1) * p.classes));
  return recordKeys(p, ctx.keys).map((key): [string, number[]] => {
    switch (key) {
      case 'predicted_label': return [key, [index(p.labels[r])]];
      case 'probability': return [key, [Math.max(...probs)]];
      case 'probabilities': return [key, probs];
      default: return [key, p.classNames.map(index)];
    }
  });
}

function encodeBytes(p: Predictions, ctx: EncodeContext): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (let r = 0; r < p.rows; r++) {
    const label: Record<string, unknown> = {};
    for (const [key, values] of rowTensors(p, ctx, r)) label[key] = { float32_tensor: { values } };
    const body = Record.encode(Record.fromObject({ label })).finish();
    const framed = new Uint8Array(8 + ((body.length + 3) & ~3));
    const view = new DataView(framed.buffer);
    view.setUint32(0, MAGIC, true);
    view.setUint32(4, body.length, true);
    framed.set(body, 8);
    parts.push(framed);
    total += framed.length;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** The answer's bytes as a latin1 string (one character per byte); encodeBytes is what the server sends. */
function encode(p: Predictions, ctx: EncodeContext): string {
  return Buffer.from(encodeBytes(p, ctx)).toString('latin1');
}

export const recordioProtobufCodec: Codec = { mediaType: 'application/x-recordio-protobuf', decode, decodeBytes, encode, encodeBytes };
