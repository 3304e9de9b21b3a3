import { decodeV2, encodeV2 } from '../../container/src/codecs/v2';
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

  test('a zero-size dimension is refused before the model runs, naming the input and the dimension', () => {
    const err = fails({ inputs: [{ name: 'a', shape: [0, 2], datatype: 'FP32', data: [] }] });
    expect(err.code).toBe('INVALID_TENSOR');
    expect(err.message).toBe('input "a": dimension 0 is 0; zero-size tensors are refused because onnxruntime aborts on them in some operators');
    expect(fails(withInput('tag', { shape: [0], data: [] })).message).toMatch(/^input "tag": dimension 0 is 0; zero-size/);
  });

  test('a zero-size dimension is refused when the model does not declare a rank either', () => {
    const unknownRank: TensorInfo[] = [{ name: 'x', type: 'float32', shape: [] }];
    const err = thrown(() => decodeV2({ inputs: [{ name: 'x', shape: [3, 0, 2], datatype: 'FP32', data: [] }] }, unknownRank, []));
    expect(err.message).toBe('input "x": dimension 1 is 0; zero-size tensors are refused because onnxruntime aborts on them in some operators');
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

  test('deep nesting is refused without exhausting the stack', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 10000; i++) deep = [deep];
    expect(fails(withInput('a', { data: deep })).message).toMatch(/nested more than 64 levels/);
  });
});

describe('KServe V2 encoding', () => {
  test('flat data, V2 datatypes, float32 in shortest form, int64 as numbers (strings beyond 2^53), bools', () => {
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
