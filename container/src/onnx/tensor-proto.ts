// Reads a serialized ONNX TensorProto (the input_*.pb / output_*.pb files of ONNX's backend tests, what
// onnx.numpy_helper.from_array writes) into a named tensor as onnxruntime-node takes it, exactly: int64s
// as bigints, float16 as its bit patterns, raw_data or the typed repeated fields alike.
import * as fs from 'node:fs';
import type { TensorData, TensorValues } from '../vocabulary';
import { fields, packedInts } from './reader';

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

/** Little-endian values of one fixed-width field (packed bytes, or one unpacked value). */
function fixedValues(bytes: Buffer, width: 4 | 8): number[] {
  const out: number[] = [];
  for (let k = 0; k + width <= bytes.length; k += width) out.push(width === 4 ? bytes.readFloatLE(k) : bytes.readDoubleLE(k));
  return out;
}

/** A TensorProto's name, onnxruntime type, dims and values; `where` names it in errors. */
export function decodeTensorProto(bytes: Uint8Array, where = 'TensorProto'): TensorData {
  let name = '';
  let dataType = 0;
  const dims: number[] = [];
  let raw: Buffer | undefined;
  const strings: string[] = [];
  const floats: number[] = [];
  const ints: bigint[] = [];
  for (const f of fields(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))) {
    if (f.int !== undefined) {
      if (f.field === 1) dims.push(Number(f.int));
      else if (f.field === 2) dataType = Number(f.int);
      else if (f.field === 5 || f.field === 7 || f.field === 11) ints.push(f.int);
      else if (f.field === 14 && f.int === 1n) throw new Error(`${where}: its data is stored in an external file, which this reader does not follow`);
    } else if (f.fixed !== undefined) {
      if (f.field === 4) floats.push(f.fixed.readFloatLE(0));
      else if (f.field === 10) floats.push(f.fixed.readDoubleLE(0));
    } else if (f.field === 1) dims.push(...packedInts(f.bytes).map(Number));
    else if (f.field === 8) name = f.bytes.toString('utf8');
    else if (f.field === 9) raw = f.bytes;
    else if (f.field === 6) strings.push(f.bytes.toString('utf8'));
    else if (f.field === 4) floats.push(...fixedValues(f.bytes, 4));
    else if (f.field === 10) floats.push(...fixedValues(f.bytes, 8));
    else if (f.field === 5 || f.field === 7 || f.field === 11) ints.push(...packedInts(f.bytes));
  }
  const spec = TYPES[dataType];
  if (!spec) throw new Error(`${where}: data type ${UNSUPPORTED[dataType] ?? dataType} is not one onnxruntime-node takes`);
  const count = dims.reduce((a, b) => a * b, 1);
  let data: TensorValues;
  if (spec.type === 'string') data = strings;
  else if (raw !== undefined) {
    // Copied, so the typed array is aligned whatever the field's offset in the file.
    data = new spec.Array!(new Uint8Array(raw).buffer);
  } else {
    const out = new spec.Array!(new ArrayBuffer(count * spec.width));
    const source: (number | bigint)[] = spec.type === 'float32' || spec.type === 'float64' ? floats : ints;
    // int32_data holds int8..int32, bool and float16 bits; uint64_data holds uint32 and uint64 (read as signed varints here).
    for (let i = 0; i < source.length && i < count; i++) {
      const v = source[i];
      if (out instanceof BigInt64Array) out[i] = BigInt(v);
      else if (out instanceof BigUint64Array) out[i] = BigInt.asUintN(64, BigInt(v));
      else out[i] = spec.type === 'uint32' ? Number(BigInt.asUintN(32, BigInt(v))) : Number(v);
    }
    if (source.length !== count) throw new Error(`${where}: ${source.length} value(s) for dims [${dims.join(', ')}], which hold ${count}`);
    data = out;
  }
  if (data.length !== count) throw new Error(`${where}: ${data.length} value(s) for dims [${dims.join(', ')}], which hold ${count}`);
  return { name, type: spec.type, dims, data };
}

/** The tensor in a .pb file. */
export function readTensorFile(file: string): TensorData {
  return decodeTensorProto(fs.readFileSync(file), file);
}
