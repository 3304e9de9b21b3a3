// application/x-npy against files numpy itself wrote (test/fixtures/npy, made by
// tools/fixtures/make-npy-fixtures.py with Debian's python3-numpy): every dtype and order numpy writes is
// read back as numpy reads it, anything else is a clear 400, and answers are numpy's own bytes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { npyCodec, readNpy } from '../../container/src/codecs/npy';
import { ServerError } from '../../container/src/errors';
import type { Predictions, TensorData } from '../../container/src/vocabulary';

const DIR = path.resolve(__dirname, '../fixtures/npy');
const file = (...p: string[]) => new Uint8Array(fs.readFileSync(path.join(DIR, ...p)));
const expected = JSON.parse(fs.readFileSync(path.join(DIR, 'requests/expected.json'), 'utf8')) as Record<string, { shape: number[]; descr: string; values: unknown[] }>;

function asJson(values: ArrayLike<unknown>, descr: string): unknown[] {
  return Array.from(values as ArrayLike<unknown>, (v) => (typeof v === 'bigint' ? v.toString() : descr.endsWith('b1') ? v === 1 : v));
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof ServerError) return `${err.code}: ${err.message}`;
    throw err;
  }
  throw new Error('nothing was refused');
}

describe('reading what numpy writes', () => {
  test.each(Object.keys(expected))('%s', (name) => {
    const { values, shape, dtype } = readNpy(file('requests', `${name}.npy`));
    const want = expected[name];
    expect(shape).toEqual(want.shape);
    if (want.descr.endsWith('f2')) {
      // float16 arrives as its bits (what onnxruntime takes); compare the numbers they stand for
      const half = (b: number) => (b & 0x8000 ? -1 : 1) * (((b >> 10) & 0x1f) === 0 ? (b & 0x3ff) * 2 ** -24 : (1 + (b & 0x3ff) / 1024) * 2 ** (((b >> 10) & 0x1f) - 15));
      expect(Array.from(values as Uint16Array, half)).toEqual(want.values);
    } else expect(asJson(values, want.descr)).toEqual(want.values);
    expect(dtype.type).toBe({ f2: 'float16', f4: 'float32', f8: 'float64', i2: 'int16', i4: 'int32', i8: 'int64', u1: 'uint8', u8: 'uint64', b1: 'bool', U6: 'string', S3: 'string' }[want.descr.slice(1)]);
  });

  test.each([
    ['refused-object.npy', "INVALID_VALUE: application/x-npy: dtype object ('|O') is a pickle, which this server never loads; send numbers or fixed-width strings"],
    ['refused-structured.npy', "INVALID_VALUE: application/x-npy: the array is structured (a 'descr' list of fields); send one plain array"],
    ['refused-complex.npy', 'INVALID_VALUE: application/x-npy: dtype "<c16" is not one this server reads: booleans, integers, floats (f2, f4, f8) and strings (U, S)'],
  ])('%s is refused, saying why', (name, message) => {
    expect(refusal(() => readNpy(file('requests', name)))).toBe(message);
  });

  test('a body that is not .npy, or is cut short, is refused saying so', () => {
    expect(refusal(() => readNpy(new TextEncoder().encode('5.1,3.5,1.4,0.2')))).toBe('INVALID_VALUE: application/x-npy: the body is not a .npy file (it does not start with \\x93NUMPY)');
    const whole = file('requests', 'iris-f8.npy');
    expect(refusal(() => readNpy(whole.subarray(0, whole.length - 8)))).toBe('INVALID_VALUE: application/x-npy: shape (2, 4) of <f8 needs 64 bytes of data, and the body has 56');
  });
});

describe('requests as a model takes them', () => {
  const schema = { features: 4, inputType: 'float32' as const };
  test('rows of a tabular model, in its precision: [N, F], or [F] for one row; other shapes and types refused', () => {
    const decoded = npyCodec.decodeBytes!(file('requests', 'iris-f8-big-endian.npy'), { schema, params: {} });
    expect(decoded).toEqual({ kind: 'rows', matrix: { rows: 2, width: 4, values: Float32Array.from([5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3]) } });
    expect(npyCodec.decodeBytes!(file('requests', 'iris-one-row.npy'), { schema, params: {} })).toMatchObject({ kind: 'rows', matrix: { rows: 1, width: 4 } });
    expect(refusal(() => npyCodec.decodeBytes!(file('requests', 'uint8.npy'), { schema, params: {} }))).toBe('WRONG_FEATURE_COUNT: application/x-npy: each row has 3 values, but the model takes 4 features');
    expect(refusal(() => npyCodec.decodeBytes!(file('requests', 'int32-3d-fortran.npy'), { schema, params: {} }))).toBe('INVALID_VALUE: application/x-npy: shape (2, 3, 4) is not rows: send [rows, features] (or [features] for one row)');
    expect(refusal(() => npyCodec.decodeBytes!(file('requests', 'unicode.npy'), { schema: { features: 3 }, params: {} }))).toBe('INVALID_VALUE: application/x-npy: dtype U6 cannot be rows of numbers: send a float or integer array');
    expect(refusal(() => npyCodec.decodeBytes!(file('requests', 'empty-rows.npy'), { schema, params: {} }))).toBe('EMPTY_PAYLOAD: application/x-npy: the array has no rows');
  });

  test("a tensor model's one input, typed as numpy typed it; several inputs refused", () => {
    const decoded = npyCodec.decodeBytes!(file('requests', 'int32-3d-fortran.npy'), { schema: null, params: {}, inputs: [{ name: 'x', type: 'int32', shape: ['N', 3, 4] }] });
    expect(decoded).toEqual({ kind: 'tensors', doc: { inputs: [{ name: 'x', shape: [2, 3, 4], datatype: 'INT32', data: Int32Array.from({ length: 24 }, (_, i) => i - 12) }] } });
    expect(refusal(() => npyCodec.decodeBytes!(file('requests', 'uint8.npy'), { schema: null, params: {}, inputs: [{ name: 'a', type: 'uint8', shape: [] }, { name: 'b', type: 'uint8', shape: [] }] }))).toBe('INVALID_VALUE: application/x-npy: this model takes 2 inputs (a, b), and a .npy body holds one array: send KServe V2 JSON');
  });
});

describe("answers, byte for byte as numpy.save writes them", () => {
  const inputs = JSON.parse(fs.readFileSync(path.join(DIR, 'answers/inputs.json'), 'utf8')) as { labels: string[]; probabilities: number[]; classes: string[] };
  const classification = (labels: (string | number)[]): Predictions => ({ kind: 'classification', rows: 2, classes: 3, labels, probabilities: Float32Array.from(inputs.probabilities), classNames: inputs.classes });
  const encoded = (p: Predictions, keys: string[]) => Buffer.from(npyCodec.encodeBinary!(p, { keys: keys as never }));

  test.each([
    ['labels', ['predicted_label']],
    ['probabilities', ['probabilities']],
    ['class-names', ['labels']],
    ['structured', ['predicted_label', 'probability', 'probabilities']],
  ])('%s', (name, keys) => {
    expect(encoded(classification(inputs.labels), keys)).toEqual(Buffer.from(file('answers', `${name}.npy`)));
  });

  test('integer labels, regression scores, and tensors of every kind', () => {
    expect(encoded(classification([0, 2]), ['predicted_label'])).toEqual(Buffer.from(file('answers', 'labels-int.npy')));
    expect(encoded({ kind: 'regression', rows: 2, scores: Float32Array.of(1.5, -2.25) }, ['predicted_label'])).toEqual(Buffer.from(file('answers', 'scores-f4.npy')));
    const tensor = (t: TensorData) => Buffer.from(npyCodec.encodeTensors!([t]));
    expect(tensor({ name: 'y', type: 'int64', dims: [2, 2], data: BigInt64Array.of(1n, -2n, 3n, 2n ** 40n) })).toEqual(Buffer.from(file('answers', 'tensor-i8.npy')));
    expect(tensor({ name: 'y', type: 'bool', dims: [2], data: Uint8Array.of(1, 0) })).toEqual(Buffer.from(file('answers', 'tensor-bool.npy')));
    expect(tensor({ name: 'y', type: 'string', dims: [2, 2], data: ['ünï', 'a', 'bc', 'def'] })).toEqual(Buffer.from(file('answers', 'tensor-unicode.npy')));
    expect(refusal(() => npyCodec.encodeTensors!([{ name: 'a', type: 'float32', dims: [1], data: Float32Array.of(1) }, { name: 'b', type: 'float32', dims: [1], data: Float32Array.of(2) }]))).toBe('NOT_ACCEPTABLE: application/x-npy holds one array, and the model answers 2 outputs (a, b): accept application/json to get them all as KServe V2 tensors');
  });
});
