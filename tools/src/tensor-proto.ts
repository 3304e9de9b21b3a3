// Reads a serialized ONNX TensorProto (the input_*.pb / output_*.pb files of ONNX's backend tests, what
// onnx.numpy_helper.from_array writes) into a named tensor as onnxruntime-node takes it, exactly: int64s
// as bigints, float16 as its bit patterns, raw_data or the typed repeated fields alike. protobufjs decodes
// the message with the schema in proto.ts; this module maps its fields onto onnxruntime's types.
import * as fs from 'node:fs';
import type { TensorData, TensorValues } from '../../container/dist/vocabulary';
import { TensorProto } from '../../container/dist/onnx/proto';

type ArrayOf = new (buffer: ArrayBuffer) => Exclude<TensorValues, string[]>;

/** TensorProto.DataType -> onnxruntime-node's type name and the typed array holding it. */
const TYPES: Record<number, { type: string; Array?: ArrayOf; width: number }> = {
  1: { type: 'float32', Array: Float32Array, width: 4 },
  2: { type: 'uint8', Array: Uint8Array, width: 1 },
  3: { type: 'int8', Array: Int8Array, width: 1 },
  4: { type: 'uint16', Array: Uint16Array, width: 2 },
  5: { type: 'int16', Array: Int16Array, width: 2 },
  6: { type: 'int32', Array: Int32Array, width: 4 },
  7: { type: 'int64', Array: BigInt64Array, width: 8 },
  8: { type: 'string', width: 0 },
  9: { type: 'bool', Array: Uint8Array, width: 1 },
  10: { type: 'float16', Array: Uint16Array, width: 2 },
  11: { type: 'float64', Array: Float64Array, width: 8 },
  12: { type: 'uint32', Array: Uint32Array, width: 4 },
  13: { type: 'uint64', Array: BigUint64Array, width: 8 },
};
/** Types ONNX has and onnxruntime-node cannot take or return. */
const UNSUPPORTED: Record<number, string> = { 14: 'complex64', 15: 'complex128', 16: 'bfloat16' };
/** TensorProto.DataLocation EXTERNAL: the values live in another file. */
const EXTERNAL = 1;

/** The message as protobufjs gives it with 64-bit integers as decimal strings (exact, signed or not). */
interface TensorMessage {
  name?: string;
  data_type?: number;
  dims?: string[];
  raw_data?: Uint8Array;
  float_data?: number[];
  double_data?: number[];
  int32_data?: number[];
  int64_data?: string[];
  uint64_data?: string[];
  string_data?: Uint8Array[];
  data_location?: number;
}

/** A TensorProto's name, onnxruntime type, dims and values; `where` names it in errors. */
export function decodeTensorProto(bytes: Uint8Array, where = 'TensorProto'): TensorData {
  const m = TensorProto.toObject(TensorProto.decode(bytes), { longs: String, arrays: true }) as TensorMessage;
  if (m.data_location === EXTERNAL) throw new Error(`${where}: its data is stored in an external file, which this reader does not follow`);
  const dataType = m.data_type ?? 0;
  const spec = TYPES[dataType];
  if (!spec) throw new Error(`${where}: data type ${UNSUPPORTED[dataType] ?? dataType} is not one onnxruntime-node takes`);
  const dims = (m.dims ?? []).map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  let data: TensorValues;
  if (spec.type === 'string') data = (m.string_data ?? []).map((s) => Buffer.from(s.buffer, s.byteOffset, s.byteLength).toString('utf8'));
  else if (m.raw_data !== undefined && m.raw_data.byteLength > 0) {
    // Copied, so the typed array is aligned whatever the field's offset in the file.
    data = new spec.Array!(new Uint8Array(m.raw_data).buffer);
  } else {
    // float_data and double_data hold floats; int32_data holds int8..int32, bool and float16 bits;
    // int64_data int64; uint64_data uint32 and uint64.
    const source: (number | string)[] =
      spec.type === 'float32' ? m.float_data ?? [] : spec.type === 'float64' ? m.double_data ?? [] : spec.type === 'int64' ? m.int64_data ?? [] : spec.type === 'uint64' || spec.type === 'uint32' ? m.uint64_data ?? [] : m.int32_data ?? [];
    if (source.length !== count) throw new Error(`${where}: ${source.length} value(s) for dims [${dims.join(', ')}], which hold ${count}`);
    const out = new spec.Array!(new ArrayBuffer(count * spec.width));
    for (let i = 0; i < count; i++) {
      if (out instanceof BigInt64Array || out instanceof BigUint64Array) out[i] = BigInt(source[i]);
      else out[i] = Number(source[i]);
    }
    data = out;
  }
  if (data.length !== count) throw new Error(`${where}: ${data.length} value(s) for dims [${dims.join(', ')}], which hold ${count}`);
  return { name: m.name ?? '', type: spec.type, dims, data };
}

/** The tensor in a .pb file. */
export function readTensorFile(file: string): TensorData {
  return decodeTensorProto(fs.readFileSync(file), file);
}
