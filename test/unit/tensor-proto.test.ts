// The TensorProto reader (ONNX's .pb test files): every element type onnxruntime-node takes, from raw_data
// and from the typed repeated fields, packed or not, exact for 64-bit integers; and real files of ONNX's
// backend test data.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TensorProto } from '../../container/src/onnx/proto';
import { decodeTensorProto, readTensorFile } from '../../tools/src/tensor-proto';

const encode = (fields: Record<string, unknown>) => TensorProto.encode(TensorProto.fromObject(fields)).finish();
const raw = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('TensorProto reader', () => {
  test.each([
    ['float32', 1, Float32Array.from([1.5, -0, NaN, Infinity])],
    ['uint8', 2, Uint8Array.from([0, 255])],
    ['int8', 3, Int8Array.from([-128, 127])],
    ['uint16', 4, Uint16Array.from([0, 65535])],
    ['int16', 5, Int16Array.from([-32768, 32767])],
    ['int32', 6, Int32Array.from([-(2 ** 31), 2 ** 31 - 1])],
    ['int64', 7, BigInt64Array.from([-(2n ** 63n), 2n ** 53n + 1n])],
    ['bool', 9, Uint8Array.from([1, 0])],
    ['float16', 10, Uint16Array.from([0x3c00, 0x7e00])],
    ['float64', 11, Float64Array.from([0.1, -Infinity])],
    ['uint32', 12, Uint32Array.from([0, 2 ** 32 - 1])],
    ['uint64', 13, BigUint64Array.from([2n ** 64n - 1n, 1n])],
  ])('%s from raw_data', (type, dataType, values) => {
    const t = decodeTensorProto(encode({ name: 'x', data_type: dataType, dims: [values.length], raw_data: raw(values) }));
    expect(t).toEqual({ name: 'x', type, dims: [values.length], data: values });
  });

  test('the typed fields: float_data, double_data, int32_data (int8..int32, bool, float16 bits), int64_data, uint64_data, string_data', () => {
    expect(decodeTensorProto(encode({ data_type: 1, dims: [2], float_data: [1.5, -2] })).data).toEqual(Float32Array.from([1.5, -2]));
    expect(decodeTensorProto(encode({ data_type: 11, dims: [1], double_data: [0.1] })).data).toEqual(Float64Array.from([0.1]));
    expect(decodeTensorProto(encode({ data_type: 3, dims: [2], int32_data: [-5, 7] })).data).toEqual(Int8Array.from([-5, 7]));
    expect(decodeTensorProto(encode({ data_type: 9, dims: [2], int32_data: [1, 0] })).data).toEqual(Uint8Array.from([1, 0]));
    expect(decodeTensorProto(encode({ data_type: 10, dims: [1], int32_data: [0x7c00] })).data).toEqual(Uint16Array.from([0x7c00]));
    expect(decodeTensorProto(encode({ data_type: 7, dims: [2], int64_data: ['-9223372036854775808', '9007199254740993'] })).data).toEqual(BigInt64Array.from([-(2n ** 63n), 2n ** 53n + 1n]));
    expect(decodeTensorProto(encode({ data_type: 13, dims: [1], uint64_data: ['18446744073709551615'] })).data).toEqual(BigUint64Array.from([2n ** 64n - 1n]));
    expect(decodeTensorProto(encode({ data_type: 12, dims: [1], uint64_data: [4294967295] })).data).toEqual(Uint32Array.from([4294967295]));
    expect(decodeTensorProto(encode({ data_type: 8, dims: [2], string_data: [Buffer.from('a'), Buffer.from('é')] }))).toMatchObject({ type: 'string', data: ['a', 'é'] });
  });

  test('scalars (no dims) and zero-size tensors', () => {
    expect(decodeTensorProto(encode({ data_type: 1, float_data: [3] }))).toEqual({ name: '', type: 'float32', dims: [], data: Float32Array.from([3]) });
    expect(decodeTensorProto(encode({ data_type: 7, dims: [0, 3] }))).toEqual({ name: '', type: 'int64', dims: [0, 3], data: new BigInt64Array(0) });
  });

  test('types onnxruntime-node cannot take, and a value count that does not fit the dims, are errors naming the file', () => {
    expect(() => decodeTensorProto(encode({ data_type: 16, dims: [1], int32_data: [1] }), 'x.pb')).toThrow('x.pb: data type bfloat16 is not one onnxruntime-node takes');
    expect(() => decodeTensorProto(encode({ data_type: 1, dims: [3], float_data: [1, 2] }), 'y.pb')).toThrow('y.pb: 2 value(s) for dims [3], which hold 3');
  });

  const DATA = '/usr/share/libonnx-testdata/data/node';
  test("real files of ONNX's backend tests (libonnx-testdata)", () => {
    if (!fs.existsSync(DATA)) throw new Error(`ONNX's backend test data is missing (${DATA}): apt-get install -y libonnx-testdata`);
    const cast = readTensorFile(path.join(DATA, 'test_cast_STRING_to_FLOAT/test_data_set_0/input_0.pb'));
    expect(cast).toMatchObject({ name: 'input', type: 'string', dims: [3, 4] });
    expect(cast.data).toEqual(expect.arrayContaining(['NaN', 'INF', '-INF']));
    const expected = readTensorFile(path.join(DATA, 'test_cast_STRING_to_FLOAT/test_data_set_0/output_0.pb'));
    expect(Array.from(expected.data as Float32Array).filter((v) => !Number.isFinite(v))).toEqual([NaN, Infinity, Infinity, -Infinity]);
  });
});
