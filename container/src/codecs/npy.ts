// application/x-npy: one numpy array in .npy form (format versions 1.0, 2.0 and 3.0), what the SageMaker
// SDK's NumpySerializer sends and its NumpyDeserializer reads. A request array becomes rows of a tabular
// model (2-D [N, F], or 1-D [F] for one row) or the one input of a tensor model; answers are written as
// numpy writes them: predictions as one array (one output key) or a structured array (one field per key),
// a tensor model's one output as itself. numpy's own dtypes only: booleans, integers, floats and fixed-width
// strings, little- or big-endian, C or Fortran order; objects (pickles) and structured requests are refused.
import { ServerError } from '../errors';
import type { InferenceOutputKey, Matrix, Predictions, TensorData, TensorValues } from '../vocabulary';
import { recordKeys } from './records';
import type { Codec, DecodeContext, Decoded, EncodeContext } from './types';
import { v2Type } from './v2';
import { xgboostTensors } from './xgboost-style';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

function bad(message: string): never {
  throw new ServerError('INVALID_VALUE', `application/x-npy: ${message}`);
}

// ---- the header: a Python dict literal, {'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }

type Literal = string | number | boolean | Literal[] | { [k: string]: Literal };

/** Reads the literal subset numpy writes: strings, integers, True/False, tuples, lists and dicts. */
function parseLiteral(text: string): Literal {
  let at = 0;
  const space = () => {
    while (at < text.length && /\s/.test(text[at])) at++;
  };
  const value = (): Literal => {
    space();
    const c = text[at];
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, at + 1);
      if (end < 0) bad('the header has an unterminated string');
      const s = text.slice(at + 1, end);
      at = end + 1;
      return s;
    }
    if (c === '{' || c === '(' || c === '[') {
      const close = c === '{' ? '}' : c === '(' ? ')' : ']';
      at++;
      const items: Literal[] = [];
      const dict: Record<string, Literal> = {};
      for (;;) {
        space();
        if (text[at] === close) {
          at++;
          return c === '{' ? dict : items;
        }
        const item = value();
        space();
        if (c === '{') {
          if (text[at] !== ':' || typeof item !== 'string') bad(`the header is not a dict of named fields at character ${at}`);
          at++;
          dict[item] = value();
          space();
        } else items.push(item);
        if (text[at] === ',') at++;
        else if (text[at] !== close) bad(`the header cannot be read at character ${at}`);
      }
    }
    const word = /^(True|False|-?\d+)/.exec(text.slice(at));
    if (!word) bad(`the header cannot be read at character ${at}`);
    at += word[0].length;
    return word[0] === 'True' ? true : word[0] === 'False' ? false : Number(word[0]);
  };
  return value();
}

/** A numpy dtype this codec reads and writes. */
interface Dtype {
  /** onnxruntime's type name of the values ('string' for U and S). */
  type: string;
  kind: 'b' | 'i' | 'u' | 'f' | 'U' | 'S';
  size: number;
  bigEndian: boolean;
}

function readDescr(descr: Literal): Dtype {
  if (typeof descr !== 'string') bad("the array is structured (a 'descr' list of fields); send one plain array");
  if (/^[<>|=]O/.test(descr)) bad("dtype object ('|O') is a pickle, which this server never loads; send numbers or fixed-width strings");
  const unread = `dtype ${JSON.stringify(descr)} is not one this server reads: booleans, integers, floats (f2, f4, f8) and strings (U, S)`;
  const m = /^([<>|=])([a-zA-Z])(\d+)$/.exec(descr);
  if (!m) bad(unread);
  const [, order, kind, digits] = m;
  const size = Number(digits);
  const types: Record<string, Record<number, string>> = { b: { 1: 'bool' }, i: { 1: 'int8', 2: 'int16', 4: 'int32', 8: 'int64' }, u: { 1: 'uint8', 2: 'uint16', 4: 'uint32', 8: 'uint64' }, f: { 2: 'float16', 4: 'float32', 8: 'float64' } };
  // U<n> is n UTF-32 characters; S<n> n bytes
  if (kind === 'U' || kind === 'S') return { type: 'string', kind, size: kind === 'U' ? 4 * size : size, bigEndian: order === '>' };
  const type = types[kind]?.[size];
  if (!type) bad(unread);
  return { type, kind: kind as Dtype['kind'], size, bigEndian: order === '>' };
}

const ARRAYS: Record<string, new (n: number) => Exclude<TensorValues, string[]>> = {
  bool: Uint8Array, int8: Int8Array, int16: Int16Array, int32: Int32Array, int64: BigInt64Array,
  uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array, uint64: BigUint64Array,
  float16: Uint16Array, float32: Float32Array, float64: Float64Array,
};

/** One array from its .npy bytes: values in C order, its shape, and its dtype. */
export function readNpy(bytes: Uint8Array): { values: TensorValues; shape: number[]; dtype: Dtype } {
  if (bytes.byteLength < 10 || MAGIC.some((b, i) => bytes[i] !== b)) bad('the body is not a .npy file (it does not start with \\x93NUMPY)');
  const major = bytes[6];
  if (major < 1 || major > 3) bad(`format version ${major}.${bytes[7]} is not one numpy writes (1.0, 2.0, 3.0)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + headerLength > bytes.byteLength) bad(`the header says ${headerLength} bytes, but the body ends before them`);
  const headerBytes = bytes.subarray(start, start + headerLength);
  const header = major === 3 ? new TextDecoder().decode(headerBytes) : Buffer.from(headerBytes).toString('latin1');
  const dict = parseLiteral(header);
  if (typeof dict !== 'object' || Array.isArray(dict)) bad('the header is not a dict');
  const { descr, fortran_order: fortran, shape } = dict as Record<string, Literal>;
  if (descr === undefined || typeof fortran !== 'boolean' || !Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && d >= 0)) {
    bad("the header needs 'descr', 'fortran_order' and 'shape'");
  }
  const dtype = readDescr(descr);
  const dims = shape as number[];
  const count = dims.reduce((a, b) => a * b, 1);
  const data = bytes.subarray(start + headerLength);
  if (data.byteLength !== count * dtype.size) bad(`shape (${dims.join(', ')}) of ${descr} needs ${count * dtype.size} bytes of data, and the body has ${data.byteLength}`);
  let values = readValues(data, dtype, count);
  if (fortran && dims.length > 1) values = toCOrder(values, dims);
  return { values, shape: dims, dtype };
}

function readValues(data: Uint8Array, dtype: Dtype, count: number): TensorValues {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const little = !dtype.bigEndian;
  if (dtype.type === 'string') {
    const out: string[] = new Array(count);
    for (let i = 0; i < count; i++) {
      let s = '';
      if (dtype.kind === 'U') {
        // UTF-32, padded with NULs
        for (let k = 0; k < dtype.size / 4; k++) {
          const cp = view.getUint32(i * dtype.size + k * 4, little);
          if (cp === 0) break;
          if (cp > 0x10ffff) bad(`string element ${i} holds ${cp}, which is not a Unicode code point`);
          s += String.fromCodePoint(cp);
        }
      } else {
        let end = i * dtype.size;
        while (end < (i + 1) * dtype.size && data[end] !== 0) end++;
        s = Buffer.from(data.subarray(i * dtype.size, end)).toString('utf8');
      }
      out[i] = s;
    }
    return out;
  }
  const out = new ARRAYS[dtype.type](count);
  const read: Record<string, (o: number) => number | bigint> = {
    bool: (o) => view.getUint8(o), int8: (o) => view.getInt8(o), uint8: (o) => view.getUint8(o),
    int16: (o) => view.getInt16(o, little), uint16: (o) => view.getUint16(o, little), float16: (o) => view.getUint16(o, little),
    int32: (o) => view.getInt32(o, little), uint32: (o) => view.getUint32(o, little), float32: (o) => view.getFloat32(o, little),
    int64: (o) => view.getBigInt64(o, little), uint64: (o) => view.getBigUint64(o, little), float64: (o) => view.getFloat64(o, little),
  };
  const get = read[dtype.type];
  for (let i = 0; i < count; i++) (out as unknown as (number | bigint)[])[i] = get(i * dtype.size);
  if (dtype.type === 'bool') for (let i = 0; i < count; i++) if ((out as Uint8Array)[i] > 1) bad(`boolean element ${i} is byte ${(out as Uint8Array)[i]}, not 0 or 1`);
  return out;
}

/** Fortran-order values (first index fastest) in C order (last index fastest). */
function toCOrder(values: TensorValues, dims: number[]): TensorValues {
  const count = values.length;
  const out = (Array.isArray(values) ? new Array<string>(count) : new (values.constructor as new (n: number) => Exclude<TensorValues, string[]>)(count)) as unknown as unknown[];
  const index = new Array<number>(dims.length).fill(0);
  for (let c = 0; c < count; c++) {
    let f = 0;
    for (let d = dims.length - 1; d >= 0; d--) f = f * dims[d] + index[d];
    out[c] = (values as unknown as unknown[])[f];
    for (let d = dims.length - 1; d >= 0; d--) {
      if (++index[d] < dims[d]) break;
      index[d] = 0;
    }
  }
  return out as unknown as TensorValues;
}

/** An array as rows of a tabular model: [N, F], or [F] for one row; numbers only, in the model's precision. */
function rows(values: TensorValues, shape: number[], dtype: Dtype, ctx: DecodeContext): Matrix {
  const schema = ctx.schema!;
  if (schema.columnTypes) bad(`this model takes typed columns (${schema.columnTypes.join(', ')}), and a .npy body holds one array of one dtype: send CSV or JSON rows`);
  if (dtype.type === 'string' || dtype.type === 'float16') bad(`dtype ${dtype.kind}${dtype.kind === 'U' ? dtype.size / 4 : dtype.size} cannot be rows of numbers: send a float or integer array`);
  if (shape.length !== 1 && shape.length !== 2) bad(`shape (${shape.join(', ')}) is not rows: send [rows, features] (or [features] for one row)`);
  const [n, width] = shape.length === 2 ? shape : [1, shape[0]];
  if (n === 0) throw new ServerError('EMPTY_PAYLOAD', 'application/x-npy: the array has no rows');
  if (schema.features !== null && width !== schema.features) throw new ServerError('WRONG_FEATURE_COUNT', `application/x-npy: each row has ${width} values, but the model takes ${schema.features} features`);
  const out = schema.inputType === 'float64' ? new Float64Array(n * width) : new Float32Array(n * width);
  for (let i = 0; i < out.length; i++) out[i] = Number((values as ArrayLike<number | bigint>)[i]);
  if (out instanceof Float32Array) for (let i = 0; i < out.length; i++) if (!Number.isFinite(out[i]) && Number.isFinite(Number((values as ArrayLike<number>)[i]))) throw new ServerError('INVALID_VALUE', `application/x-npy: element ${i} is outside the range float32 holds`);
  return { rows: n, width, values: out };
}

function decodeBytes(bytes: Uint8Array, ctx: DecodeContext): Decoded {
  const { values, shape, dtype } = readNpy(bytes);
  if (ctx.schema) return { kind: 'rows', matrix: rows(values, shape, dtype, ctx) };
  const inputs = ctx.inputs ?? [];
  if (inputs.length !== 1) bad(`this model takes ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}), and a .npy body holds one array: send KServe V2 JSON`);
  // The one input, checked against the model like any V2 input (decodeV2 takes the typed values as they are).
  return { kind: 'tensors', doc: { inputs: [{ name: inputs[0].name, shape, datatype: v2Type(dtype.type), data: values }] } };
}

// ---- writing, as numpy.save does: version 1.0 unless the header needs more, header padded to 64 bytes

/** A field of the written array: its dtype descr, its shape within one record, and its values (row-major). */
interface Field {
  name: string;
  descr: string;
  size: number;
  shape: number[];
  write(view: DataView, at: number, i: number): void;
}

const utf32 = (view: DataView, at: number, s: string, chars: number) => {
  let k = 0;
  for (const ch of s) view.setUint32(at + 4 * k++, ch.codePointAt(0)!, true);
  for (; k < chars; k++) view.setUint32(at + 4 * k, 0, true);
};

/** A list of strings or numbers as a field: U<max length> for strings, i8 when every number is an integer, else f8. */
function listField(name: string, values: (string | number)[], perRecord: number): Field {
  const shape = perRecord === 1 ? [] : [perRecord];
  if (values.some((v) => typeof v === 'string')) {
    const chars = Math.max(1, ...values.map((v) => [...String(v)].length));
    return { name, descr: `<U${chars}`, size: 4 * chars * perRecord, shape, write: (view, at, i) => { for (let k = 0; k < perRecord; k++) utf32(view, at + 4 * chars * k, String(values[i * perRecord + k]), chars); } };
  }
  const ints = values.every((v) => Number.isSafeInteger(v));
  return { name, descr: ints ? '<i8' : '<f8', size: 8 * perRecord, shape, write: (view, at, i) => { for (let k = 0; k < perRecord; k++) { const v = values[i * perRecord + k] as number; if (ints) view.setBigInt64(at + 8 * k, BigInt(v), true); else view.setFloat64(at + 8 * k, v, true); } } };
}

function floatField(name: string, values: Float32Array | Float64Array, perRecord: number, pick?: (i: number) => number): Field {
  const f4 = values instanceof Float32Array;
  return {
    name, descr: f4 ? '<f4' : '<f8', size: (f4 ? 4 : 8) * perRecord, shape: perRecord === 1 ? [] : [perRecord],
    write: (view, at, i) => {
      for (let k = 0; k < perRecord; k++) {
        const v = pick ? pick(i) : values[i * perRecord + k];
        if (f4) view.setFloat32(at + 4 * k, v, true);
        else view.setFloat64(at + 8 * k, v, true);
      }
    },
  };
}

function predictionFields(p: Predictions, keys: readonly InferenceOutputKey[]): Field[] {
  if (p.kind === 'regression') return [floatField('score', p.scores, 1)];
  return recordKeys(p, keys).map((key) => {
    switch (key) {
      case 'predicted_label':
        return listField(key, p.labels, 1);
      case 'probability':
        return floatField(key, p.probabilities, 1, (i) => Math.max(...p.probabilities.subarray(i * p.classes, (i + 1) * p.classes)));
      case 'probabilities':
        return floatField(key, p.probabilities, p.classes);
      default:
        return listField(key, Array.from({ length: p.rows }, () => p.classNames).flat(), p.classes);
    }
  });
}

const pyShape = (shape: readonly number[]) => `(${shape.join(', ')}${shape.length === 1 ? ',' : ''})`;

/** The .npy bytes of `count` records of `fields` (one field: a plain array of shape [count, ...its shape]). */
function writeNpy(fields: Field[], count: number, shape?: number[]): Uint8Array {
  const single = fields.length === 1;
  const descr = single ? `'${fields[0].descr}'` : `[${fields.map((f) => `('${f.name}', '${f.descr}'${f.shape.length > 0 ? `, ${pyShape(f.shape)}` : ''})`).join(', ')}]`;
  const arrayShape = shape ?? (single ? [count, ...fields[0].shape] : [count]);
  let header = `{'descr': ${descr}, 'fortran_order': False, 'shape': ${pyShape(arrayShape)}, }`;
  const unicode = /[^\x00-\x7f]/.test(header);
  const major = unicode ? 3 : header.length + 11 > 65535 ? 2 : 1;
  const prefix = major === 1 ? 10 : 12;
  // numpy pads the header with spaces so the data starts on a 64-byte boundary (never with no padding at all)
  header += ' '.repeat(64 - ((prefix + header.length + 1) % 64)) + '\n';
  const headerBytes = unicode ? new TextEncoder().encode(header) : Buffer.from(header, 'latin1');
  const recordSize = fields.reduce((n, f) => n + f.size, 0);
  const out = new Uint8Array(prefix + headerBytes.byteLength + recordSize * count);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, headerBytes.byteLength, true);
  else view.setUint32(8, headerBytes.byteLength, true);
  out.set(headerBytes, prefix);
  let at = prefix + headerBytes.byteLength;
  for (let i = 0; i < count; i++) {
    for (const f of fields) {
      f.write(view, at, i);
      at += f.size;
    }
  }
  return out;
}

/**
 * SageMaker XGBoost's style: the library's raw predict output as numpy.save writes it ([rows], or [rows,
 * classes] for multi:softprob); with SAGEMAKER_INFERENCE_OUTPUT, one float32 field per key holding what its
 * RecordIO-protobuf answer holds (the container itself writes no .npy, so no other shape has a claim).
 */
function xgboostFields(p: Predictions, ctx: EncodeContext): Field[] {
  const n = p.native!;
  if (!ctx.selected) return [floatField('score', n.values, n.width)];
  const rows = Array.from({ length: p.rows }, (_, r) => xgboostTensors(p, ctx.keys, r));
  return (rows[0] ?? []).map(([key, first], k) => floatField(key, Float32Array.from(rows.flatMap((row) => row[k][1])), first.length));
}

function encodeBinary(p: Predictions, ctx: EncodeContext): Uint8Array {
  return writeNpy(ctx.style === 'xgboost' && p.native ? xgboostFields(p, ctx) : predictionFields(p, ctx.keys), p.rows);
}

const DESCR: Record<string, string> = { bool: '|b1', int8: '|i1', uint8: '|u1', int16: '<i2', uint16: '<u2', float16: '<f2', int32: '<i4', uint32: '<u4', float32: '<f4', int64: '<i8', uint64: '<u8', float64: '<f8' };

/** A tensor model's answer: its one output as an array of its own dtype and shape. */
function encodeTensors(tensors: readonly TensorData[]): Uint8Array {
  if (tensors.length !== 1) throw new ServerError('NOT_ACCEPTABLE', `application/x-npy holds one array, and the model answers ${tensors.length} outputs (${tensors.map((t) => t.name).join(', ')}): accept application/json to get them all as KServe V2 tensors`);
  const t = tensors[0];
  const count = t.dims.reduce((a, b) => a * b, 1);
  if (Array.isArray(t.data)) return writeNpy([listField(t.name, t.data, 1)], count, t.dims);
  const data = t.data;
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const field: Field = { name: t.name, descr: DESCR[t.type], size: data.BYTES_PER_ELEMENT, shape: [], write: (view, at, i) => new Uint8Array(view.buffer).set(bytes.subarray(i * data.BYTES_PER_ELEMENT, (i + 1) * data.BYTES_PER_ELEMENT), at) };
  if (!field.descr) throw new ServerError('NOT_ACCEPTABLE', `output "${t.name}" is ${t.type}, which application/x-npy cannot hold here`);
  return writeNpy([field], count, t.dims);
}

export const npyCodec: Codec = { mediaType: 'application/x-npy', decodeBytes, encodeBinary, encodeTensors };
