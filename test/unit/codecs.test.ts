import { csvCodec } from '../../container/src/codecs/csv';
import { decodeText } from '../../container/src/codecs/text';
import { jsonCodec, octetStreamCodec } from '../../container/src/codecs/json';
import { jsonLinesCodec } from '../../container/src/codecs/jsonlines';
import { REQUEST_TYPES, RESPONSE_TYPES, decodeRequest, requestCodec, responseCodec } from '../../container/src/codecs/registry';
import type { Decoded } from '../../container/src/codecs/types';
import type { Matrix, Predictions, TabularSchema } from '../../container/src/vocabulary';
import { thrown } from '../helpers/errors';

const NAMES = ['a', 'b', 'c'];
const named: TabularSchema = { features: 3, featureNames: NAMES, inputType: 'float32' };
const anonymous: TabularSchema = { features: 3, inputType: 'float32' };

const matrix = (d: Decoded): Matrix => {
  if (d.kind !== 'rows') throw new Error('expected rows');
  return d.matrix;
};
const rowsOf = (m: Matrix) => Array.from({ length: m.rows }, (_, r) => Array.from(m.values.subarray(r * m.width, (r + 1) * m.width)));

const fails = thrown;

const rows = (d: Decoded) => rowsOf(matrix(d));
/**
 * Both CSV paths: the byte fast path (what the server tries first) must give exactly what the text path
 * gives, or step aside (undefined) — never a different answer, never its own error.
 */
function bothPaths(text: string, schema: TabularSchema | null, params: Record<string, string>): { decoded: Decoded; fast: boolean } {
  const ctx = { schema, params };
  const bytes = new Uint8Array(Buffer.from(text));
  let fast: Decoded | undefined;
  let fastError: unknown;
  try {
    fast = csvCodec.decodeBytes!(bytes, ctx);
  } catch (err) {
    fastError = err;
  }
  let decoded: Decoded;
  try {
    // The reference: the body's bytes read as text in its charset, as the server does.
    decoded = csvCodec.decode!(decodeText(bytes, params.charset), ctx);
  } catch (err) {
    // The text path's error: the byte path must have stepped aside, or refused the same way (no schema).
    if (fastError === undefined) expect(fast).toBeUndefined();
    else expect((fastError as Error).message).toBe((err as Error).message);
    throw err;
  }
  expect(fastError).toBeUndefined();
  if (fast) {
    const a = matrix(fast);
    const b = matrix(decoded);
    expect([a.rows, a.width, a.values.constructor.name]).toEqual([b.rows, b.width, b.values.constructor.name]);
    const differ = Array.from(a.values).findIndex((v, i) => !Object.is(v, b.values[i]));
    expect(differ).toBe(-1);
  }
  return { decoded, fast: fast !== undefined };
}
const csv = (text: string, schema: TabularSchema | null = anonymous, params: Record<string, string> = {}) => bothPaths(text, schema, params).decoded;
const fastPath = (text: string, schema: TabularSchema | null = anonymous, params: Record<string, string> = {}) => bothPaths(text, schema, params).fast;
const json = (text: string, schema: TabularSchema | null = named) => jsonCodec.decode!(text, { schema, params: {} });
const jsonl = (text: string, schema: TabularSchema | null = named) => jsonLinesCodec.decode!(text, { schema, params: {} });

describe('text/csv decoding', () => {
  test('rows of numbers, with CRLF, a BOM, a trailing newline and blank lines', () => {
    // Stored at the model input's precision (float32 here).
    expect(rows(csv('\ufeff1,2,3\r\n4.5,-6e2,.7\r\n\r\n'))).toEqual([[1, 2, 3], [4.5, -600, Math.fround(0.7)]]);
  });

  test('an empty field is missing (NaN); NaN and Inf literals are accepted', () => {
    const [r] = rows(csv('1,,nan\n'));
    expect(r[0]).toBe(1);
    expect(r[1]).toBeNaN();
    expect(r[2]).toBeNaN();
    expect(rows(csv('inf,-Infinity,0'))[0]).toEqual([Infinity, -Infinity, 0]);
  });

  test('a cell of spaces is missing, not zero; spaces around numbers are fine', () => {
    const [r] = rows(csv('1,  ,3'));
    expect(r[1]).toBeNaN();
    expect(rows(csv(' 1 , 2,3 '))).toEqual([[1, 2, 3]]);
  });

  test('plain and quoted CSV give the same rows and the same line numbers', () => {
    const plain = '1,2,3\n\n4,5,6\r\n7,8,9';
    const quoted = '"1",2,3\n\n4,5,6\r\n7,8,9';
    expect(rows(csv(plain))).toEqual(rows(csv(quoted)));
    expect(fails(() => csv('1,2,3\n\n4,x,6')).message).toBe(fails(() => csv('"1",2,3\n\n4,x,6')).message);
    expect(fails(() => csv('1,2,3\n\n4,x,6')).message).toBe('line 3, column 2: "x" is not a number');
  });

  test('the fast number path reads exactly the double Number() reads, for every shape of decimal', () => {
    let seed = 1;
    const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const shapes = [
      () => (rnd() * 1000 - 500).toFixed(Math.floor(rnd() * 8)),
      () => String(rnd() * 1e6),
      () => rnd().toExponential(Math.floor(rnd() * 14)),
      () => String(Math.floor(rnd() * 1e15)),
      () => `${rnd() < 0.5 ? '-' : '+'}0.${String(Math.floor(rnd() * 1e9)).padStart(9, '0')}`,
      () => `${Math.floor(rnd() * 100)}e${Math.floor(rnd() * 40) - 20}`,
      () => ` ${(rnd() * 10).toFixed(3)} `,
      () => `${Math.floor(rnd() * 1e17)}.5`,
    ];
    const cells = Array.from({ length: 40000 }, (_, i) => shapes[i % shapes.length]());
    const m = matrix(csv(cells.join('\n'), { features: 1, inputType: 'float64' }));
    const mismatches = cells.filter((c, i) => !Object.is(m.values[i], Number(c)));
    expect(mismatches).toEqual([]);
  });

  test('quoted fields are unquoted', () => {
    expect(rows(csv('"1","2.5"," 3 "'))).toEqual([[1, 2.5, 3]]);
  });

  test('a header naming the features is matched by name, in any order', () => {
    expect(rows(csv('c,a,b\n3,1,2\n6,4,5', named))).toEqual([[1, 2, 3], [4, 5, 6]]);
  });

  test('a header is recognised without feature names too (columns kept in order)', () => {
    expect(rows(csv('x,y,z\n1,2,3'))).toEqual([[1, 2, 3]]);
  });

  test('header=absent turns detection off; header=present forces it', () => {
    expect(fails(() => csv('a,b,c\n1,2,3', named, { header: 'absent' })).message).toBe('line 1, column 1: "a" is not a number');
    expect(rows(csv('1,2,3\n4,5,6', anonymous, { header: 'present' }))).toEqual([[4, 5, 6]]);
  });

  test.each([
    ['1,2,3\n4,x,6', 'INVALID_VALUE', 'line 2, column 2: "x" is not a number'],
    ['1,2,3\n4,0x10,6', 'INVALID_VALUE', 'line 2, column 2: "0x10" is not a number'],
    ['1,2\n', 'WRONG_FEATURE_COUNT', 'line 1: 2 value(s), but the model has 3 feature(s)'],
    ['1,2,3\n1,2,3,4', 'WRONG_FEATURE_COUNT', 'line 2: 4 value(s), but the model has 3 feature(s)'],
    ['1,2,"3\n4,5,6', 'MALFORMED_CSV', 'line'],
    ['', 'EMPTY_PAYLOAD', 'no records'],
    ['\n\n', 'EMPTY_PAYLOAD', 'no records'],
    ['1,2,1e999', 'INVALID_VALUE', 'line 1, column 3: "1e999" is too large to be a number'],
    ['1,2,1e39', 'INVALID_VALUE', "line 1, column 3: \"1e39\" is outside the range the model's float32 input can hold"],
  ])('%j -> %s naming the place', (text, code, message) => {
    const err = fails(() => csv(text));
    expect(err.code).toBe(code);
    expect(err.message).toContain(message);
  });

  test('a header with an unknown feature names it and lists the expected ones', () => {
    const err = fails(() => csv('a,b,zzz\n1,2,3', named));
    expect(err.code).toBe('UNKNOWN_FEATURE');
    expect(err.message).toBe('line 1 (header): unknown feature(s) "zzz"; expected a, b, c');
  });

  test('plain numeric bodies take the byte fast path; anything irregular takes the text path', () => {
    expect(fastPath('\ufeff1,2,3\r\n4.5,-6e2,.7\r\n\r\n')).toBe(true);
    expect(fastPath('c,a,b\n3,1,2\n6,4,5', named)).toBe(true);
    expect(fastPath('1,,nan\n1, 2 ,0.30000000000000004')).toBe(true);
    expect(fastPath('1,2,3', { features: null, inputType: 'float64' })).toBe(true);
    expect(fastPath('"1",2,3')).toBe(false);
    expect(fastPath('1,2,3', anonymous, { charset: 'latin1' })).toBe(false);
    expect(() => csv('1,2,\u00e9')).toThrow('"\u00e9" is not a number');
    // Other charsets are the text path's: us-ascii (windows-1252 to a decoder) keeps a UTF-8 BOM's bytes.
    expect(fastPath('1,2,3', anonymous, { charset: 'us-ascii' })).toBe(false);
    expect(() => csv('\ufeff1,2,3', anonymous, { charset: 'us-ascii' })).toThrow('is not a number');
  });

  test('rows far narrower than the model fail on the first row, whatever the body size', () => {
    const err = fails(() => csv('1\n'.repeat(100_000), { features: 100_000, inputType: 'float32' }));
    expect([err.code, err.message]).toEqual(['WRONG_FEATURE_COUNT', 'line 1: 1 value(s), but the model has 100000 feature(s)']);
  });

  test('a line far wider than the model fails at once, without splitting it, wherever it is', () => {
    const started = performance.now();
    const commas = fails(() => csv(','.repeat(2_000_000), named));
    expect([commas.code, commas.message]).toEqual(['WRONG_FEATURE_COUNT', 'line 1: 2000001 value(s), but the model has 3 feature(s)']);
    const later = fails(() => csv(`1,2,3\n${'1,'.repeat(1_000_000)}1\n`, named));
    expect(later.message).toBe('line 2: 1000001 value(s), but the model has 3 feature(s)');
    const failing = performance.now() - started;
    // Splitting those lines into millions of strings took over a second on a quiet machine; counting them,
    // both byte and text paths, takes tens of milliseconds. The bound leaves room for a loaded machine.
    console.log(`failing on the wide lines, both decode paths: ${failing.toFixed(1)} ms`);
    expect(failing).toBeLessThan(3000);
  });

  test('quoted CSV fails at its first bad record, and a single record of millions of fields once it is too long', () => {
    const wrong = fails(() => csv(`"1",2,3\n"1",2\n${'"1",2,3\n'.repeat(100_000)}`, named));
    expect([wrong.code, wrong.message]).toEqual(['WRONG_FEATURE_COUNT', 'line 2: 2 value(s), but the model has 3 feature(s)']);
    const started = performance.now();
    const wide = fails(() => csv('"1",'.repeat(1_000_000), named));
    expect([wide.code, wide.message]).toEqual(['MALFORMED_CSV', "line 1: a record longer than 66304 characters, far more than the model's features take"]);
    expect(performance.now() - started).toBeLessThan(10_000); // generous: a loaded machine; reading every field would take minutes
  });

  test('a header of many unknown names shows the first five, shortened', () => {
    const err = fails(() => csv(`${Array.from({ length: 9 }, (_, i) => `${'n'.repeat(60)}${i}`).join(',')}\n1,2,3`, { features: null, featureNames: NAMES, inputType: 'float32' }));
    expect(err.code).toBe('UNKNOWN_FEATURE');
    expect(err.message).toMatch(/^line 1 \(header\): unknown feature\(s\) "n{40}\.\.\.", .* and 4 more; expected a, b, c$/);
  });

  test('a request body is read by the byte path when it fits, else as text in its charset', () => {
    const read = (text: string | Buffer, params: Record<string, string> = {}) => decodeRequest(csvCodec, new Uint8Array(Buffer.from(text)), { schema: anonymous, params });
    expect(read('1,2,3\n4,5,6\n').path).toBe('bytes');
    expect(rows(read('1,2,3\n4,5,6\n').decoded)).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(read('"1",2,3').path).toBe('text');
    const latin1 = read(Buffer.from('1,2,3', 'utf16le'), { charset: 'utf-16le' });
    expect([latin1.path, rows(latin1.decoded)]).toEqual(['text', [[1, 2, 3]]]);
    expect(decodeRequest(jsonCodec, new Uint8Array(Buffer.from('[[1,2,3]]')), { schema: named, params: {} }).path).toBe('text');
  });

  test('the byte path and the text path agree on random bodies of number-like bytes', () => {
    let seed = 7;
    const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const alphabet = ['0', '1', '5', '9', '.', '-', '+', 'e', 'E', ' ', ',', ',', ',', '\n', '\r', 'n', 'a', 'i', 'f', '\t', '\u00e9', '\ufeff', 'x'];
    let fast = 0;
    for (let k = 0; k < 3000; k++) {
      // Mostly well-formed rows with a few random characters spliced in, so both accepted and refused bodies occur.
      const lines = Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => Array.from({ length: 3 }, () => (rnd() * 200 - 100).toFixed(Math.floor(rnd() * 4))).join(','));
      let text = lines.join(rnd() < 0.3 ? '\r\n' : '\n');
      for (let m = Math.floor(rnd() * 3); m > 0; m--) {
        const at = Math.floor(rnd() * (text.length + 1));
        text = text.slice(0, at) + alphabet[Math.floor(rnd() * alphabet.length)] + text.slice(at);
      }
      const schema = rnd() < 0.2 ? { features: null, inputType: 'float64' as const } : anonymous;
      try {
        if (fastPath(text, schema)) fast += 1;
      } catch (err) {
        if (!(err as { code?: string }).code) throw err;
      }
    }
    expect(fast).toBeGreaterThan(1000);
  });

  test('without fixed width, the first record sets it', () => {
    expect(fails(() => csv('1,2\n1,2,3', { features: null })).message).toBe('line 2: 3 value(s), but the first record has 2 feature(s)');
  });
});

describe('application/json decoding', () => {
  test('{"instances": [...]} with array and object rows', () => {
    expect(rows(json('{"instances": [[1,2,3], {"c": 6, "b": 5, "a": 4}]}'))).toEqual([[1, 2, 3], [4, 5, 6]]);
  });

  test('a bare array of rows, and a single row', () => {
    expect(rows(json('[[1,2,3],[4,5,6]]'))).toEqual([[1, 2, 3], [4, 5, 6]]);
    expect(rows(json('[1,2,3]'))).toEqual([[1, 2, 3]]);
    expect(rows(json('{"a":1,"b":2,"c":3}'))).toEqual([[1, 2, 3]]);
  });

  test("SageMaker's {\"features\": [...]} instance form", () => {
    expect(rows(json('{"instances": [{"features": [1,2,3]}]}', anonymous))).toEqual([[1, 2, 3]]);
  });

  test('null is a missing value', () => {
    expect(rows(json('[[1,null,3]]'))[0][1]).toBeNaN();
  });

  test('"NaN", "Infinity" and "-Infinity" are read as the answers write them; other words are not numbers', () => {
    expect(rows(json('[["NaN","Infinity","-Infinity"]]'))[0]).toEqual([NaN, Infinity, -Infinity]);
    expect(rows(jsonl('{"a":"NaN","b":1,"c":"-Infinity"}'))[0]).toEqual([NaN, 1, -Infinity]);
    expect(fails(() => json('[["nan",1,2]]')).message).toBe('record 1, column 1: "nan" is not a number');
  });

  test.each([
    ['{"instances": [[1,2,3],[4,"x",6]]}', 'INVALID_VALUE', 'instances[1], column 2: "x" is not a number'],
    ['{"instances": [[1,2]]}', 'WRONG_FEATURE_COUNT', 'instances[0]: 2 value(s), but the model has 3 feature(s)'],
    ['{"instances": [{"a":1,"b":2,"d":3}]}', 'UNKNOWN_FEATURE', 'instances[0]: unknown feature(s) "d"; expected a, b, c'],
    ['{"instances": [{"a":1,"b":2}]}', 'WRONG_FEATURE_COUNT', 'instances[0]: missing feature(s) c'],
    ['{"instances": [[1,2,[3]]]}', 'INVALID_VALUE', 'instances[0], column 3: an array is not a number'],
    ['{"instances": [[1,2,3]', 'MALFORMED_JSON', 'line 1, column 23'],
    ['[1,2,NaN]', 'MALFORMED_JSON', 'line 1, column 6: unexpected "N", expected a value (NaN and Infinity are not JSON: write "NaN", "Infinity", "-Infinity")'],
    ['{\n"instances": [[1,2,3],\n [4,5,}', 'MALFORMED_JSON', 'line 3, column 7: unexpected "}", expected a value'],
    ['', 'EMPTY_PAYLOAD', 'empty'],
    ['{"instances": []}', 'EMPTY_PAYLOAD', 'no rows'],
    ['{"instances": 5}', 'MALFORMED_JSON', '"instances" must be an array'],
    ['"hello"', 'MALFORMED_JSON', 'expected {"instances": [...]}'],
    ['[1, 2, 1e400]', 'INVALID_VALUE', 'row, column 3: the number is too large'],
    ['[1, 2, 3] x', 'MALFORMED_JSON', 'line 1, column 11: unexpected "x" after the end of the document'],
    ['{"instances": [[1,2,3]], }', 'MALFORMED_JSON', 'line 1, column 26: unexpected "}", expected a quoted key'],
    ['{"instances": [[1,2,3]], "x" 1}', 'MALFORMED_JSON', 'line 1, column 30: unexpected "1", expected ":"'],
  ])('%j -> %s naming the place', (text, code, message) => {
    const err = fails(() => json(text));
    expect(err.code).toBe(code);
    expect(err.message).toContain(message);
  });

  test('object rows need feature names', () => {
    expect(fails(() => json('{"a":1,"b":2,"c":3}', anonymous)).message).toMatch(/needs feature names/);
  });

  test('deeply nested JSON is refused as a value, not a crash', () => {
    const deep = `{"instances": [[1, 2, ${'['.repeat(100000)}1${']'.repeat(100000)}]]}`;
    const err = fails(() => json(deep));
    expect(err.code).toBe('INVALID_VALUE');
    expect(err.message).toBe('instances[0], column 3: an array is not a number');
    const broken = `[${'['.repeat(100000)}`;
    expect(fails(() => json(broken)).message).toBe('line 1, column 100002: unexpected end of input, expected a value (NaN and Infinity are not JSON: write "NaN", "Infinity", "-Infinity")');
  });

  test('application/octet-stream is read as JSON (the H2O scorer usage)', () => {
    expect(rows(octetStreamCodec.decode!('[[1,2,3]]', { schema: anonymous, params: {} }))).toEqual([[1, 2, 3]]);
  });
});

describe('requests a model cannot take as rows', () => {
  test('a V2 tensor request is passed on as tensors, for tabular and other models alike', () => {
    const doc = { inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }] };
    expect(json(JSON.stringify(doc))).toEqual({ kind: 'tensors', doc });
    expect(json(JSON.stringify(doc), null)).toEqual({ kind: 'tensors', doc });
  });

  test('rows for a model that is not tabular get 415 saying to send V2 tensors', () => {
    for (const err of [fails(() => csv('1,2,3', null)), fails(() => json('[[1,2,3]]', null)), fails(() => jsonl('[1,2,3]', null))]) {
      expect(err.code).toBe('UNSUPPORTED_MEDIA_TYPE');
      expect(err.message).toMatch(/send KServe V2 tensors/);
    }
  });

  test('"inputs" that is not an array is a V2 mistake, named as such', () => {
    expect(fails(() => json('{"inputs": {"x": 1}}')).code).toBe('INVALID_TENSOR');
  });
});

describe('application/jsonlines decoding', () => {
  test('one row per line, blank lines skipped', () => {
    expect(rows(jsonl('[1,2,3]\n{"a":4,"b":5,"c":6}\r\n\n'))).toEqual([[1, 2, 3], [4, 5, 6]]);
  });

  test('errors name the line', () => {
    expect(fails(() => jsonl('[1,2,3]\n[1,2\n')).message).toBe('line 2, column 5: unexpected end of input, expected "," or "]"');
    expect(fails(() => jsonl('[1,2,3]\n[1,"q",3]')).message).toBe('line 2, column 2: "q" is not a number');
    expect(fails(() => jsonl('[1,2,3]\r\n\r\n[1,2]\r\n')).message).toBe('line 3: 2 value(s), but the model has 3 feature(s)');
    expect(fails(() => jsonl('\n'.repeat(10))).code).toBe('EMPTY_PAYLOAD');
  });
});

const classification: Predictions = {
  kind: 'classification',
  rows: 2,
  classes: 2,
  labels: ['yes', 'no, really'],
  probabilities: Float32Array.from([0.75, 0.25, 0.1, 0.9]),
  classNames: ['yes', 'no, really'],
};
const regression: Predictions = { kind: 'regression', rows: 2, scores: Float32Array.from([1.5, -0.1]) };

describe('encoding', () => {
  test('CSV: one line per record, keys in order, lists as a quoted JSON array, strings quoted when needed', () => {
    const text = csvCodec.encode!(classification, { keys: ['predicted_label', 'probability', 'probabilities', 'labels'] });
    expect(text).toBe('yes,0.75,"[0.75,0.25]","[""yes"",""no, really""]"\n"no, really",0.9,"[0.1,0.9]","[""yes"",""no, really""]"\n');
  });

  test('CSV labels as bytes equal the text encoding, UTF-8 and quoting included, and only for label-only answers', () => {
    const labels = ['yes', 'no, really', 'café', 'yes', '"q"', 7, 'yes'];
    const p: Predictions = { kind: 'classification', rows: labels.length, classes: 1, labels, probabilities: new Float32Array(labels.length), classNames: [] };
    const bytes = csvCodec.encodeBytes!(p, { keys: ['predicted_label'] });
    expect(Buffer.from(bytes!).toString('utf8')).toBe(csvCodec.encode!(p, { keys: ['predicted_label'] }));
    expect(Buffer.from(bytes!).toString('utf8')).toBe('yes\n"no, really"\ncafé\nyes\n"""q"""\n7\nyes\n');
    expect(csvCodec.encodeBytes!(p, { keys: ['predicted_label', 'probability'] })).toBeUndefined();
    // Many distinct labels (a Map past 16) still give the text encoding exactly.
    const many = Array.from({ length: 500 }, (_, i) => (i % 3 === 0 ? `class ${i % 40}` : (i * 7) % 37));
    const q: Predictions = { kind: 'classification', rows: many.length, classes: 1, labels: many, probabilities: new Float32Array(many.length), classNames: [] };
    expect(Buffer.from(csvCodec.encodeBytes!(q, { keys: ['predicted_label'] })!).toString('utf8')).toBe(csvCodec.encode!(q, { keys: ['predicted_label'] }));
    expect(csvCodec.encodeBytes!(regression, { keys: ['predicted_label'] })).toBeUndefined();
  });

  test('float32 values print in their shortest form', () => {
    expect(csvCodec.encode!(regression, { keys: ['predicted_label'] })).toBe('1.5\n-0.1\n');
  });

  test('JSON: {"predictions": [...]}; regressors give score', () => {
    expect(JSON.parse(jsonCodec.encode!(classification, { keys: ['probability', 'predicted_label'] }))).toEqual({
      predictions: [
        { probability: 0.75, predicted_label: 'yes' },
        { probability: 0.9, predicted_label: 'no, really' },
      ],
    });
    expect(JSON.parse(jsonCodec.encode!(regression, { keys: ['predicted_label'] }))).toEqual({ predictions: [{ score: 1.5 }, { score: -0.1 }] });
  });

  test('JSON Lines: one object per record', () => {
    expect(jsonLinesCodec.encode!(regression, { keys: ['predicted_label'] })).toBe('{"score":1.5}\n{"score":-0.1}\n');
  });

  test('NaN and the infinities are written NaN, Infinity, -Infinity by every format: bare in a CSV cell, JSON strings elsewhere', () => {
    const scores: Predictions = { kind: 'regression', rows: 4, scores: Float32Array.from([NaN, Infinity, -Infinity, 0.5]) };
    expect(csvCodec.encode!(scores, { keys: ['predicted_label'] })).toBe('NaN\nInfinity\n-Infinity\n0.5\n');
    expect(JSON.parse(jsonCodec.encode!(scores, { keys: ['predicted_label'] })).predictions).toEqual([{ score: 'NaN' }, { score: 'Infinity' }, { score: '-Infinity' }, { score: 0.5 }]);
    expect(jsonLinesCodec.encode!(scores, { keys: ['predicted_label'] })).toBe('{"score":"NaN"}\n{"score":"Infinity"}\n{"score":"-Infinity"}\n{"score":0.5}\n');
    const probs: Predictions = { kind: 'classification', rows: 1, classes: 3, labels: ['b'], probabilities: Float64Array.from([NaN, Infinity, -Infinity]), classNames: ['a', 'b', 'c'] };
    const keys = { keys: ['probability', 'probabilities'] as const };
    expect(csvCodec.encode!(probs, { keys: [...keys.keys] })).toBe('NaN,"[""NaN"",""Infinity"",""-Infinity""]"\n');
    expect(JSON.parse(jsonCodec.encode!(probs, { keys: [...keys.keys] })).predictions).toEqual([{ probability: 'NaN', probabilities: ['NaN', 'Infinity', '-Infinity'] }]);
    // What an answer says goes back in: the CSV words and the JSON strings are read as the same numbers.
    expect(rows(csv('NaN,Infinity,-Infinity'))[0]).toEqual([NaN, Infinity, -Infinity]);
  });
});

describe('registry', () => {
  test('request and response types', () => {
    expect(REQUEST_TYPES).toEqual(['text/csv', 'application/json', 'application/jsonlines', 'application/x-jsonlines', 'application/jsonl', 'application/octet-stream', 'text/libsvm', 'text/x-libsvm', 'application/x-recordio-protobuf', 'application/x-npy']);
    expect(RESPONSE_TYPES).toEqual(['text/csv', 'application/json', 'application/jsonlines', 'application/x-recordio-protobuf', 'application/x-npy']);
    expect(requestCodec('application/x-jsonlines')).toBe(jsonLinesCodec);
    expect(requestCodec('text/xml')).toBeUndefined();
    expect(responseCodec('application/octet-stream')).toBeUndefined();
  });
});
