import { jsonCodec } from '../../container/src/codecs/json';
import { decodeV2, encodeV2 } from '../../container/src/codecs/v2';
import { halfToNumber, numberToHalf } from '../../container/src/codecs/numbers';
import { zeroSizeRefusal } from '../../container/src/inference/layout';
import { thrown } from '../helpers/errors';
import type { TensorData, TensorInfo } from '../../container/src/vocabulary';

const INPUTS: TensorInfo[] = [
  { name: 'a', type: 'float32', shape: ['N', 2] },
  { name: 'b', type: 'int64', shape: ['N'] },
  { name: 'flag', type: 'bool', shape: [] },
  { name: 'tag', type: 'string', shape: ['N'] },
];
const OUTPUTS: TensorInfo[] = [{ name: 'sum', type: 'float32', shape: ['N'] }, { name: 'b2', type: 'int64', shape: ['N'] }];

const ok = {
  id: 'req-1',
  inputs: [
    { name: 'a', shape: [2, 2], datatype: 'FP32', data: [[1, 2], [3, 4]] },
    { name: 'b', shape: [2], datatype: 'INT64', data: [5, '9007199254740993'] },
    { name: 'flag', shape: [], datatype: 'BOOL', data: [true] },
    { name: 'tag', shape: [2], datatype: 'BYTES', data: ['x', 'y'] },
  ],
  outputs: [{ name: 'b2' }],
};

/** A V2 body as the JSON codec reads it (64-bit integers from the body's own digits). */
function v2Doc(body: string): unknown {
  const decoded = jsonCodec.decode!(body, { schema: null, params: {} });
  if (decoded.kind !== 'tensors') throw new Error('not read as tensors');
  return decoded.doc;
}

const fails = (doc: unknown) => thrown(() => decodeV2(doc, INPUTS, OUTPUTS));

const withInput = (name: string, patch: Record<string, unknown>) => ({ ...ok, inputs: ok.inputs.map((i) => (i.name === name ? { ...i, ...patch } : i)) });

describe('KServe V2 decoding', () => {
  test('converts every input to the type onnxruntime takes, nested data flattened, int64 beyond 2^53 exact', () => {
    const r = decodeV2(ok, INPUTS, OUTPUTS);
    expect(r.id).toBe('req-1');
    expect(r.outputs).toEqual(['b2']);
    const [a, b, flag, tag] = r.inputs;
    expect(a).toEqual({ name: 'a', type: 'float32', dims: [2, 2], data: Float32Array.from([1, 2, 3, 4]) });
    expect(b.data).toEqual(BigInt64Array.from([5n, 9007199254740993n]));
    expect(flag).toEqual({ name: 'flag', type: 'bool', dims: [], data: Uint8Array.from([1]) });
    expect(tag.data).toEqual(['x', 'y']);
  });

  test.each([
    [withInput('a', { name: 'z' }), 'input "z" is not an input of this model; it takes a (FP32 [N, 2]), b (INT64 [N]), flag (BOOL []), tag (BYTES [N])'],
    [{ ...ok, inputs: ok.inputs.slice(1) }, 'missing input(s) "a"; the model takes a (FP32 [N, 2])'],
    [{ ...ok, inputs: [...ok.inputs, ok.inputs[0]] }, 'input "a" is given twice'],
    [withInput('a', { datatype: 'FP64' }), 'input "a": datatype FP64, but the model takes FP32'],
    [withInput('a', { datatype: 'COMPLEX' }), 'input "a": "datatype" must be one of BOOL, UINT8'],
    [withInput('a', { shape: [4] }), 'input "a": shape [4] has 1 dimension(s), but the model takes [N, 2]'],
    [withInput('a', { shape: [1, 4], data: [1, 2, 3, 4] }), 'input "a": dimension 1 is 4, but the model needs 2 (shape [N, 2])'],
    [withInput('a', { shape: [2, 2], data: [1, 2, 3] }), 'input "a": 3 value(s) for shape [2, 2], which holds 4'],
    [withInput('a', { shape: [-1, 2] }), 'input "a": "shape" must be an array of non-negative integers'],
    [withInput('a', { data: [[1, 'x'], [3, 4]] }), 'input "a", data[1]: "x" is not a number'],
    [withInput('a', { data: [[1, 1e39], [3, 4]] }), 'input "a", data[1]: 1e+39 is outside the range FP32 can hold'],
    [withInput('b', { data: [1.5, 2] }), 'input "b", data[0]: 1.5 is not an integer'],
    [withInput('b', { data: [1, '99999999999999999999'] }), 'input "b", data[1]: "99999999999999999999" is outside the INT64 range'],
    [withInput('flag', { data: ['yes'] }), 'input "flag", data[0]: "yes" is not a boolean'],
    [withInput('tag', { data: ['x', 3] }), 'input "tag", data[1]: 3 is not a string (BYTES)'],
    [withInput('a', { data: undefined }), 'input "a": "data" is missing'],
    [{ ...ok, outputs: [{ name: 'nope' }] }, 'output "nope" is not an output of this model; it has sum, b2'],
    [{ inputs: [5] }, 'inputs[0]: expected an object'],
  ])('%# refuses with a message naming the input', (doc, message) => {
    const err = fails(doc);
    expect(err.code).toBe('INVALID_TENSOR');
    expect(err.message).toContain(message);
  });

  test('a zero-size dimension is refused before the model runs when the model uses an operator that aborts on it, naming the input, the dimension and the reason', () => {
    const refusal = 'onnxruntime aborts on them in its GRU operator';
    const err = thrown(() => decodeV2({ inputs: [{ name: 'a', shape: [0, 2], datatype: 'FP32', data: [] }] }, INPUTS, OUTPUTS, refusal));
    expect(err.code).toBe('INVALID_TENSOR');
    expect(err.message).toBe('input "a": dimension 0 is 0; zero-size tensors are refused for this model because onnxruntime aborts on them in its GRU operator');
    expect(thrown(() => decodeV2(withInput('tag', { shape: [0], data: [] }), INPUTS, OUTPUTS, refusal)).message).toMatch(/^input "tag": dimension 0 is 0; zero-size/);
    const unknownRank: TensorInfo[] = [{ name: 'x', type: 'float32', shape: [] }];
    expect(thrown(() => decodeV2({ inputs: [{ name: 'x', shape: [3, 0, 2], datatype: 'FP32', data: [] }] }, unknownRank, [], refusal)).message)
      .toBe('input "x": dimension 1 is 0; zero-size tensors are refused for this model because onnxruntime aborts on them in its GRU operator');
  });

  test('a zero-size dimension goes to other models (an empty axes list, an empty batch)', () => {
    const spec: TensorInfo[] = [{ name: 'x', type: 'float32', shape: ['N', 3] }, { name: 'axes', type: 'int64', shape: [''] }];
    const r = decodeV2({ inputs: [{ name: 'x', shape: [0, 3], datatype: 'FP32', data: [] }, { name: 'axes', shape: [0], datatype: 'INT64', data: [] }] }, spec, []);
    expect(r.inputs.map((i) => [i.dims, i.data.length])).toEqual([[[0, 3], 0], [[0], 0]]);
  });

  test('which models refuse zero-size inputs: those using an operator onnxruntime aborts in, or whose operators are unknown', () => {
    expect(zeroSizeRefusal(['Add', 'MatMul', 'Concat'])).toBeUndefined();
    expect(zeroSizeRefusal(['Add', 'TopK'])).toBe('onnxruntime aborts on them in its TopK operator');
    expect(zeroSizeRefusal(['GRU', 'LSTM', 'Relu'])).toBe('onnxruntime aborts on them in its GRU, LSTM operators');
    expect(zeroSizeRefusal(undefined)).toMatch(/could not read which operators the model uses/);
  });

  test('inputs sharing a named dimension must agree on its size; the message names both inputs', () => {
    const err = fails(withInput('b', { shape: [3], data: [1, 2, 3] }));
    expect(err.code).toBe('INVALID_TENSOR');
    expect(err.message).toBe('input "b": dimension 0 (N) is 3, but input "a" has 2 in its dimension 0 (N); inputs sharing a dimension name must agree');
  });

  test('unnamed dynamic dimensions need not agree', () => {
    const spec: TensorInfo[] = [{ name: 'p', type: 'float32', shape: ['', 1] }, { name: 'q', type: 'float32', shape: [''] }];
    const r = decodeV2({ inputs: [{ name: 'p', shape: [2, 1], datatype: 'FP32', data: [1, 2] }, { name: 'q', shape: [3], datatype: 'FP32', data: [1, 2, 3] }] }, spec, []);
    expect(r.inputs.map((i) => i.dims)).toEqual([[2, 1], [3]]);
  });

  test('a declared scalar takes only shape []; an input of unknown rank (also [] in onnxruntime) takes any shape', () => {
    const spec: TensorInfo[] = [{ name: 's', type: 'float32', shape: [], scalar: true }, { name: 'u', type: 'float32', shape: [] }];
    const v = (s: unknown, u: unknown) => ({ inputs: [{ name: 's', datatype: 'FP32', ...(s as object) }, { name: 'u', datatype: 'FP32', ...(u as object) }] });
    const err = thrown(() => decodeV2(v({ shape: [1], data: [2] }, { shape: [], data: [1] }), spec, []));
    expect(err.code).toBe('INVALID_TENSOR');
    expect(err.message).toBe('input "s": shape [1] has 1 dimension(s), but the model takes a scalar (shape [])');
    expect(thrown(() => decodeV2(v({ shape: [1, 1], data: [[2]] }, { shape: [], data: [1] }), spec, [])).message).toMatch(/^input "s": shape \[1, 1\] has 2 dimension/);
    const r = decodeV2(v({ shape: [], data: 2 }, { shape: [2, 3], data: [1, 2, 3, 4, 5, 6] }), spec, []);
    expect(r.inputs.map((i) => i.dims)).toEqual([[], [2, 3]]);
    expect(thrown(() => decodeV2(v({ shape: [], data: [1, 2] }, { shape: [1], data: [1] }), spec, [])).message).toBe('input "s": 2 value(s) for shape [], which holds 1');
  });

  test('a number beyond a double (1e400 parses as Infinity) is refused', () => {
    const err = fails(withInput('a', { data: [[1, 1e400], [3, 4]] }));
    expect(err.message).toBe('input "a", data[1]: the number is too large');
  });

  test('NaN and the infinities come as the strings "NaN", "Infinity", "-Infinity" for FP16, FP32 and FP64; null and other words are refused', () => {
    for (const [datatype, type] of [['FP16', 'float16'], ['FP32', 'float32'], ['FP64', 'float64']]) {
      const spec: TensorInfo[] = [{ name: 'x', type, shape: [4] }];
      const r = decodeV2({ inputs: [{ name: 'x', shape: [4], datatype, data: ['NaN', 'Infinity', '-Infinity', 1.5] }] }, spec, []);
      const values = Array.from(r.inputs[0].data as ArrayLike<number>, (v) => (type === 'float16' ? halfToNumber(v) : v));
      expect(values).toEqual([NaN, Infinity, -Infinity, 1.5]);
      for (const wrong of [null, 'nan', 'inf', '+Infinity', '1.5']) {
        const err = thrown(() => decodeV2({ inputs: [{ name: 'x', shape: [1], datatype, data: [wrong] }] }, [{ name: 'x', type, shape: [1] }], []));
        expect(err.message).toBe(`input "x", data[0]: ${wrong === null ? 'null' : JSON.stringify(wrong)} is not a number (NaN and the infinities are written "NaN", "Infinity", "-Infinity")`);
      }
    }
  });

  test('FP16 values are rounded to the nearest half (ties to even); beyond its range they are refused', () => {
    const spec: TensorInfo[] = [{ name: 'h', type: 'float16', shape: [5] }];
    const r = decodeV2({ inputs: [{ name: 'h', shape: [5], datatype: 'FP16', data: [1 / 3, 65504, -0, 2 ** -24, 1 + 2 ** -11] }] }, spec, []);
    expect(Array.from(r.inputs[0].data as Uint16Array)).toEqual([0x3555, 0x7bff, 0x8000, 0x0001, 0x3c00]);
    const err = thrown(() => decodeV2({ inputs: [{ name: 'h', shape: [1], datatype: 'FP16', data: [70000] }] }, [{ name: 'h', type: 'float16', shape: [1] }], []));
    expect(err.message).toBe('input "h", data[0]: 70000 is outside the range FP16 can hold');
    for (let bits = 0; bits < 0x10000; bits++) {
      const v = halfToNumber(bits);
      if (v === v && numberToHalf(v) !== bits) throw new Error(`half ${bits.toString(16)} does not round-trip`);
    }
  });

  test('INT64 and UINT64 over their whole range, from JSON numbers as the body writes them and from decimal strings; beyond the range, a 400 naming the value', () => {
    const spec: TensorInfo[] = [{ name: 'i', type: 'int64', shape: [6] }, { name: 'u', type: 'uint64', shape: [4] }];
    // As Python's json.dumps writes them: plain digits, which JSON.parse alone would round beyond 2^53 - 1.
    const body = '{"inputs": [{"name": "i", "shape": [6], "datatype": "INT64", "data": [9223372036854775807, -9223372036854775808, 9007199254740993, -9007199254740993, "9007199254740992", 5]},'
      + ' {"name": "u", "shape": [4], "datatype": "UINT64", "data": [[18446744073709551615, 9007199254740993], ["18446744073709551614", 0]]}]}';
    const r = decodeV2(v2Doc(body), spec, []);
    expect(r.inputs[0].data).toEqual(BigInt64Array.from([2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n, -(2n ** 53n + 1n), 2n ** 53n, 5n]));
    expect(r.inputs[1].data).toEqual(BigUint64Array.from([2n ** 64n - 1n, 2n ** 53n + 1n, 2n ** 64n - 2n, 0n]));
    const one = (datatype: string, value: string) => thrown(() => decodeV2(v2Doc(`{"inputs": [{"name": "x", "shape": [1], "datatype": "${datatype}", "data": [${value}]}]}`), [{ name: 'x', type: datatype.toLowerCase(), shape: [1] }], [])).message;
    expect(one('INT64', '9223372036854775808')).toBe('input "x", data[0]: 9223372036854775808 is outside the INT64 range');
    expect(one('INT64', '-9223372036854775809')).toBe('input "x", data[0]: -9223372036854775809 is outside the INT64 range');
    expect(one('UINT64', '18446744073709551616')).toBe('input "x", data[0]: 18446744073709551616 is outside the UINT64 range');
    expect(one('UINT64', '-1')).toBe('input "x", data[0]: -1 is outside the UINT64 range');
    expect(one('INT32', '9007199254740993')).toBe('input "x", data[0]: 9007199254740993 is outside the INT32 range');
    expect(one('INT64', '1.5')).toBe('input "x", data[0]: 1.5 is not an integer');
    // A fraction or an exponent makes a double, which may already be rounded: it is not taken as exact.
    expect(one('INT64', '9.223372036854775807e18')).toBe('input "x", data[0]: 9223372036854776000 is beyond 2^53 - 1 and was not written as plain digits (a fraction or an exponent makes it a rounded double); write INT64 values as digits or decimal strings');
  });

  test('big integers elsewhere in the body: a float input takes the nearest value, strings and other fields keep theirs', () => {
    const spec: TensorInfo[] = [{ name: 'f', type: 'float64', shape: [2] }, { name: 't', type: 'string', shape: [1] }];
    const body = '{"id": "12345678901234567890", "inputs": [{"name": "f", "shape": [2], "datatype": "FP64", "data": [12345678901234567890, 0.30000000000000004]}, {"name": "t", "shape": [1], "datatype": "BYTES", "data": ["a \\"quoted\\" 12345678901234567890 in text"]}]}';
    const r = decodeV2(v2Doc(body), spec, []);
    expect(r.id).toBe('12345678901234567890');
    expect(Array.from(r.inputs[0].data as Float64Array)).toEqual([12345678901234567890, 0.30000000000000004]);
    expect(r.inputs[1].data).toEqual(['a "quoted" 12345678901234567890 in text']);
    const err = thrown(() => decodeV2(v2Doc('{"inputs": [{"name": "t", "shape": [1], "datatype": "BYTES", "data": [12345678901234567890]}]}'), [{ name: 't', type: 'string', shape: [1] }], []));
    expect(err.message).toBe('input "t", data[0]: 12345678901234567890 is not a string (BYTES)');
  });

  test('every value the server answers goes back in unchanged: FP16/FP32/FP64 with NaN and infinities, INT64/UINT64 at and beyond 2^53, BOOL, BYTES', () => {
    const tensors: TensorData[] = [
      { name: 'h', type: 'float16', dims: [4], data: Uint16Array.from([0x7e00, 0x7c00, 0xfc00, 0x3555]) },
      { name: 'f', type: 'float32', dims: [4], data: Float32Array.from([NaN, Infinity, -Infinity, 0.1]) },
      { name: 'd', type: 'float64', dims: [4], data: Float64Array.from([NaN, Infinity, -Infinity, 0.1]) },
      { name: 'i', type: 'int64', dims: [6], data: BigInt64Array.from([2n ** 53n - 1n, 2n ** 53n, -(2n ** 53n - 1n), -(2n ** 53n), 2n ** 63n - 1n, -(2n ** 63n)]) },
      { name: 'u', type: 'uint64', dims: [3], data: BigUint64Array.from([2n ** 53n - 1n, 2n ** 53n, 2n ** 64n - 1n]) },
      { name: 'b', type: 'bool', dims: [2], data: Uint8Array.from([1, 0]) },
      { name: 's', type: 'string', dims: [1], data: ['é'] },
    ];
    const answer = JSON.parse(encodeV2(tensors, 'model'));
    expect(answer.outputs[1].data).toEqual(['NaN', 'Infinity', '-Infinity', 0.1]);
    expect(answer.outputs[3].data).toEqual([9007199254740991, '9007199254740992', -9007199254740991, '-9007199254740992', '9223372036854775807', '-9223372036854775808']);
    const spec: TensorInfo[] = tensors.map((t) => ({ name: t.name, type: t.type, shape: t.dims }));
    const back = decodeV2({ inputs: answer.outputs }, spec, []);
    back.inputs.forEach((t, k) => expect(t).toEqual(tensors[k]));
  });

  test('deep nesting is refused without exhausting the stack', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 10000; i++) deep = [deep];
    expect(fails(withInput('a', { data: deep })).message).toMatch(/nested more than 64 levels/);
  });
});

describe('KServe V2 encoding', () => {
  test('flat data, V2 datatypes, float32 in shortest form, int64 as numbers (strings beyond 2^53 - 1), bools', () => {
    const outputs: TensorData[] = [
      { name: 'p', type: 'float32', dims: [1, 2], data: Float32Array.from([0.1, 0.9]) },
      { name: 'n', type: 'int64', dims: [2], data: BigInt64Array.from([3n, 2n ** 60n]) },
      { name: 'f', type: 'bool', dims: [], data: Uint8Array.from([1]) },
      { name: 's', type: 'string', dims: [1], data: ['a'] },
    ];
    expect(JSON.parse(encodeV2(outputs, 'model', 'r1'))).toEqual({
      model_name: 'model',
      id: 'r1',
      outputs: [
        { name: 'p', datatype: 'FP32', shape: [1, 2], data: [0.1, 0.9] },
        { name: 'n', datatype: 'INT64', shape: [2], data: [3, '1152921504606846976'] },
        { name: 'f', datatype: 'BOOL', shape: [], data: [true] },
        { name: 's', datatype: 'BYTES', shape: [1], data: ['a'] },
      ],
    });
  });
});
