// Mixed-type tabular models: which inputs take rows (planColumns), how every row format reads string and
// integer columns, and that the decoded rows reach onnxruntime as the tensors it would be given directly.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { csvCodec } from '../../container/src/codecs/csv';
import { jsonCodec, octetStreamCodec } from '../../container/src/codecs/json';
import { jsonLinesCodec } from '../../container/src/codecs/jsonlines';
import { decodeQuery } from '../../container/src/codecs/query';
import { decodeRequest } from '../../container/src/codecs/registry';
import { decodeText } from '../../container/src/codecs/text';
import type { Decoded } from '../../container/src/codecs/types';
import { columnTensors, planColumns } from '../../container/src/inference/columns';
import { OnnxSession } from '../../container/src/inference/session';
import { concatMatrices, sliceMatrix, type Matrix, type TabularSchema, type TensorInfo } from '../../container/src/vocabulary';
import { thrown } from '../helpers/errors';
import { PIPELINE_CATEGORIES, sklearnPipelineModel } from '../helpers/models';

/** The skl2onnx pipeline's columns: age float32, gender string, category string, amount float64, step int64. */
const schema: TabularSchema = {
  features: 5,
  featureNames: ['age', 'gender', 'category', 'amount', 'step'],
  columnTypes: ['float32', 'string', 'string', 'float64', 'int64'],
};
const anonymous: TabularSchema = { ...schema, featureNames: undefined };

const matrix = (d: Decoded): Matrix => {
  if (d.kind !== 'rows') throw new Error('expected rows');
  return d.matrix;
};
/** Rows as [age, gender, category, amount, step]. */
function rowsOf(m: Matrix): unknown[][] {
  return Array.from({ length: m.rows }, (_, r) => [m.values[r * 5], m.strings![r * 2], m.strings![r * 2 + 1], m.values[r * 5 + 3], m.values[r * 5 + 4]]);
}

/** CSV through both paths: the byte path must give the text path's rows, or its exact error, or step aside. */
function csv(text: string | Buffer, s: TabularSchema = schema, params: Record<string, string> = {}): { rows: unknown[][]; fast: boolean } {
  const bytes = new Uint8Array(Buffer.from(text));
  const ctx = { schema: s, params };
  let fast: Decoded | undefined;
  let fastError: Error | undefined;
  try {
    fast = csvCodec.decodeBytes!(bytes, ctx);
  } catch (err) {
    fastError = err as Error;
  }
  let reference: Decoded;
  try {
    reference = csvCodec.decode!(decodeText(bytes, params.charset), ctx);
  } catch (err) {
    if (fastError) expect(fastError.message).toBe((err as Error).message);
    else expect(fast).toBeUndefined();
    throw err;
  }
  expect(fastError).toBeUndefined();
  if (fast) expect(rowsOf(matrix(fast))).toEqual(rowsOf(matrix(reference)));
  return { rows: rowsOf(matrix(reference)), fast: fast !== undefined };
}
const csvRows = (text: string | Buffer, s: TabularSchema = schema, params: Record<string, string> = {}) => csv(text, s, params).rows;
const json = (text: string, s: TabularSchema = schema) => rowsOf(matrix(jsonCodec.decode!(text, { schema: s, params: {} })));
const jsonl = (text: string) => rowsOf(matrix(jsonLinesCodec.decode!(text, { schema, params: {} })));
const message = (fn: () => unknown) => {
  const err = thrown(fn);
  return `${err.code}: ${err.message}`;
};

const SEED_ROW = [30, 'M', 'es_transportation', 4.55, 0];

describe('which models take rows as typed columns', () => {
  const t = (name: string, type: string, shape: (number | string)[]): TensorInfo => ({ name, type, shape });

  test('one input per column ([N, 1] each): the input names are the feature names, in graph order', () => {
    const plan = planColumns([t('age', 'float32', ['', 1]), t('gender', 'string', ['', 1]), t('step', 'int64', ['N', 1])], {});
    expect(plan).toEqual({
      plan: {
        types: ['float32', 'string', 'int64'],
        names: ['age', 'gender', 'step'],
        inputs: [
          { name: 'age', type: 'float32', first: 0, width: 1 },
          { name: 'gender', type: 'string', first: 1, width: 1 },
          { name: 'step', type: 'int64', first: 2, width: 1 },
        ],
      },
    });
  });

  test('model.json may list the same names in another order: positional rows follow model.json', () => {
    const found = planColumns([t('age', 'float32', ['N', 1]), t('gender', 'string', ['N', 1])], { features: ['gender', 'age'] });
    expect(found && 'plan' in found && found.plan).toMatchObject({ types: ['string', 'float32'], names: ['gender', 'age'] });
  });

  test('a string [N, F] input, and a number [N, F] input beside string ones, split by their fixed widths', () => {
    expect(planColumns([t('codes', 'string', ['N', 3])], {})).toMatchObject({ plan: { types: ['string', 'string', 'string'], names: undefined } });
    expect(planColumns([t('numbers', 'float32', ['N', 2]), t('color', 'string', ['N', 1])], { features: ['a', 'b', 'color'] })).toMatchObject({
      plan: { types: ['float32', 'float32', 'string'], names: ['a', 'b', 'color'] },
    });
    // One open width is fixed by model.json's count of features.
    expect(planColumns([t('numbers', 'float32', ['N', 'k']), t('color', 'string', ['N', 1])], { features: ['a', 'b', 'c', 'color'] })).toMatchObject({
      plan: { types: ['float32', 'float32', 'float32', 'string'] },
    });
  });

  test('columns that cannot be told apart are refused with the reason, so the model serves V2 only', () => {
    expect(planColumns([t('numbers', 'float32', ['N', 'k']), t('codes', 'string', ['N', 'j'])], {})).toEqual({
      refused: 'inputs "numbers" and "codes" have no fixed number of columns, so a row cannot be split between them; export them with a fixed second dimension',
    });
    expect(planColumns([t('codes', 'string', ['N', 'k'])], {})).toEqual({ refused: 'input "codes" has no fixed number of columns; list every column in model.json "features" so rows can be split' });
    expect(message(() => planColumns([t('numbers', 'float32', ['N', 2]), t('color', 'string', ['N', 1])], { features: ['a', 'b'] }))).toBe(
      'MODEL_INVALID: model.json lists 2 features but the inputs ("numbers", "color") hold 3 columns',
    );
  });

  test('other models are not columns: the classic [N, F] float input, vectors, scalars, images, other batch sizes, other types', () => {
    expect(planColumns([t('input', 'float32', ['N', 4])], {})).toBeUndefined();
    expect(planColumns([t('a', 'string', ['N'])], {})).toBeUndefined();
    expect(planColumns([t('a', 'float32', ['N', 1]), t('b', 'float32', ['M', 1])], {})).toBeUndefined();
    expect(planColumns([t('x', 'float32', ['N']), t('scale', 'float32', [])], {})).toBeUndefined();
    expect(planColumns([t('image', 'float32', ['N', 3, 224, 224])], {})).toBeUndefined();
    expect(planColumns([t('flag', 'bool', ['N', 1])], {})).toBeUndefined();
    expect(planColumns([t('codes', 'string', [2, 3])], {})).toBeUndefined();
  });
});

describe('text/csv with string columns', () => {
  test('strings keep their exact text: quoting, commas and quotes inside, spaces, UTF-8; both paths agree', () => {
    expect(csvRows('30,M,es_transportation,4.55,0\n41, M ,naïve 東京,1e2,-3\n')).toEqual([SEED_ROW, [41, ' M ', 'naïve 東京', 100, -3]]);
    expect(csv('30,M,es_transportation,4.55,0\n41, M ,naïve 東京,1e2,-3\n').fast).toBe(true);
    expect(csvRows(`30,"M","${PIPELINE_CATEGORIES[2].replace(/"/g, '""')}",4.55,0\r\n`)).toEqual([[30, 'M', PIPELINE_CATEGORIES[2], 4.55, 0]]);
    expect(csvRows('\ufeff30,Ü,"a\nb",4.55,0')).toEqual([[30, 'Ü', 'a\nb', 4.55, 0]]);
  });

  test('a header is matched by name, in any order and any case; without one, columns are positional', () => {
    expect(csvRows('STEP,amount,category,gender,age\n0,4.55,es_transportation,M,30\n')).toEqual([SEED_ROW]);
    expect(csv('step,amount,category,gender,age\n0,4.55,es_transportation,M,30\n').fast).toBe(true);
    expect(message(() => csvRows('step,amount,category,sex,age\n0,4.55,es_transportation,M,30\n'))).toBe(
      'UNKNOWN_FEATURE: line 1 (header): unknown feature(s) "sex"; expected age, gender, category, amount, step',
    );
    // A model of string columns only cannot tell a header by its values: names decide, or header=present.
    const codes: TabularSchema = { features: 2, columnTypes: ['string', 'string'] };
    const pairs = (text: string, params = {}) => rowsOf2(matrix(csvCodec.decode!(text, { schema: codes, params })));
    expect(pairs('x,y\na,b')).toEqual([['x', 'y'], ['a', 'b']]);
    expect(pairs('x,y\na,b', { header: 'present' })).toEqual([['a', 'b']]);
    expect(pairs('y,x\na,b', {})).toEqual([['y', 'x'], ['a', 'b']]);
    expect(rowsOf2(matrix(csvCodec.decode!('y,x\na,b', { schema: { ...codes, featureNames: ['x', 'y'] }, params: {} })))).toEqual([['b', 'a']]);
  });

  test('an empty cell is missing: NaN in a float column, the empty string in a string column; an integer column refuses it', () => {
    expect(csvRows(',,,,0\n')).toEqual([[NaN, '', '', NaN, 0]]);
    expect(message(() => csvRows('30,M,es_food,4.55,0\n30,M,es_food,4.55,\n'))).toBe(
      'INVALID_VALUE: line 2, column 5 ("step", int64): a missing value, which the model\'s int64 column cannot take',
    );
  });

  test('a cell its column cannot take is a 400 naming the line, the column and the type', () => {
    const cases: [string, string][] = [
      ['abc,M,es_food,4.55,0', 'line 1, column 1 ("age", float32): "abc" is not a number'],
      ['30,M,es_food,4.55,0.5', 'line 1, column 5 ("step", int64): "0.5" is not an integer'],
      ['30,M,es_food,4.55,x', 'line 1, column 5 ("step", int64): "x" is not an integer'],
      ['30,M,es_food,4.55,1e17', 'line 1, column 5 ("step", int64): "1e17" is beyond ±2^53 (the integers a JSON number holds exactly)'],
      ['1e39,M,es_food,4.55,0', 'line 1, column 1 ("age", float32): "1e39" is outside the range the model\'s float32 input can hold'],
    ];
    for (const [line, expected] of cases) {
      expect(message(() => csvRows(`30,M,es_food,4.55,0\n${line.replace(/^/, '')}`))).toBe(`INVALID_VALUE: ${expected.replace('line 1', 'line 2')}`);
    }
    expect(message(() => csvRows('30,es_food,4.55,0'))).toBe('WRONG_FEATURE_COUNT: line 1: 4 value(s), but the model has 5 feature(s)');
    expect(message(() => csvRows('30,M,es_food,oops,0', anonymous))).toBe('INVALID_VALUE: line 1, column 4 (float64): "oops" is not a number');
    // The cell's column is named by the header, whatever its position.
    expect(message(() => csvRows('step,age,gender,category,amount\n0.5,30,M,es_food,4.55'))).toBe('INVALID_VALUE: line 2, column 1 ("step", int64): "0.5" is not an integer');
  });

  test('the byte path and the text path agree on random mixed bodies', () => {
    let seed = 11;
    const rnd = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
    const alphabet = ['0', '5', '.', '-', 'e', ' ', ',', '\n', '\r', 'M', 'é', '東', '"', 'x', ''];
    let fast = 0;
    for (let k = 0; k < 2000; k++) {
      const lines = Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => [(rnd() * 90).toFixed(1), rnd() < 0.5 ? 'M' : 'Ü', 'es_food', (rnd() * 100).toFixed(2), String(Math.floor(rnd() * 10))].join(','));
      let text = lines.join(rnd() < 0.3 ? '\r\n' : '\n');
      for (let m = Math.floor(rnd() * 3); m > 0; m--) {
        const at = Math.floor(rnd() * (text.length + 1));
        text = text.slice(0, at) + alphabet[Math.floor(rnd() * alphabet.length)] + text.slice(at);
      }
      try {
        if (csv(text, rnd() < 0.5 ? schema : anonymous).fast) fast += 1;
      } catch (err) {
        if (!(err as { code?: string }).code) throw err;
      }
    }
    expect(fast).toBeGreaterThan(500);
  });

  test('a body that is not UTF-8 is refused with the offset, as for any model', () => {
    expect(() => decodeRequest(csvCodec, new Uint8Array([0x33, 0x30, 0x2c, 0xff]), { schema, params: {} })).toThrow('first bad byte at offset 3');
  });
});

function rowsOf2(m: Matrix): string[][] {
  return Array.from({ length: m.rows }, (_, r) => m.strings!.slice(r * 2, r * 2 + 2));
}

describe('JSON, JSON Lines and query parameters with string columns', () => {
  test('rows as arrays or objects keyed by name; numbers for string columns are taken as their text, numeric strings for number columns as numbers', () => {
    expect(json('{"instances": [[30, "M", "es_transportation", 4.55, 0]]}')).toEqual([SEED_ROW]);
    expect(json('{"step": "0", "amount": "4.55", "category": "es_transportation", "gender": "M", "age": "30"}')).toEqual([SEED_ROW]);
    expect(json('[{"step": 0, "amount": 4.55, "category": 28007, "gender": "Ü", "age": null}]')).toEqual([[NaN, 'Ü', '28007', 4.55, 0]]);
    expect(rowsOf(matrix(octetStreamCodec.decode!('{"age": 30, "gender": "M", "category": "es_transportation", "amount": 4.55, "step": 0}', { schema, params: {} })))).toEqual([SEED_ROW]);
    expect(jsonl('[30, "M", "es_transportation", 4.55, 0]\n\n{"age": 1, "gender": null, "category": "東京", "amount": null, "step": -2}\n')).toEqual([SEED_ROW, [1, '', '東京', NaN, -2]]);
  });

  test('a value its column cannot take names the record, the field or column, and the type', () => {
    expect(message(() => json('[{"age": 30, "gender": "M", "category": "es_food", "amount": 4.55, "step": 0.5}]'))).toBe('INVALID_VALUE: record 1, field "step" (int64): 0.5 is not an integer');
    expect(message(() => json('{"instances": [[30, ["M"], "es_food", 4.55, 0]]}'))).toBe('INVALID_VALUE: instances[0], column 2 ("gender", string): an array is not text (a string or a number)');
    expect(message(() => json('{"instances": [[30, "M", "es_food", "lots", 0]]}'))).toBe('INVALID_VALUE: instances[0], column 4 ("amount", float64): "lots" is not a number');
    expect(message(() => json('{"instances": [[30, "M", "es_food", 4.55, null]]}'))).toBe('INVALID_VALUE: instances[0], column 5 ("step", int64): a missing value, which the model\'s int64 column cannot take');
    expect(message(() => jsonl('[30, "M", "es_food", 4.55, 0]\n[true, "M", "es_food", 4.55, 0]'))).toBe('INVALID_VALUE: line 2, column 1 ("age", float32): true is not a number');
  });

  test('/predict_parameters: every feature by name, each read as its column\'s type; empty is missing', () => {
    const query = { step: '0', customer: undefined, age: '30', gender: 'M', category: 'es_transportation', amount: '4.55' } as unknown as Record<string, string>;
    delete query.customer;
    expect(rowsOf(decodeQuery(query, { schema, params: {} }))).toEqual([SEED_ROW]);
    expect(rowsOf(decodeQuery({ ...query, age: '', gender: '' }, { schema, params: {} }))).toEqual([[NaN, '', 'es_transportation', 4.55, 0]]);
    expect(message(() => decodeQuery({ ...query, step: 'zero' }, { schema, params: {} }))).toBe('INVALID_VALUE: parameter "step" (int64): "zero" is not an integer');
  });
});

describe('rows to tensors', () => {
  test('batched and sliced rows keep their strings with their numbers', () => {
    const a = matrix(csvCodec.decode!('30,M,es_food,4.55,0\n31,F,es_travel,5,1', { schema, params: {} }));
    const b = matrix(csvCodec.decode!('32,Ü,x,6,2', { schema, params: {} }));
    const both = concatMatrices([a, b]);
    expect(rowsOf(both)).toEqual([...rowsOf(a), ...rowsOf(b)]);
    expect(rowsOf(sliceMatrix(both, 1, 3))).toEqual([...rowsOf(a).slice(1), ...rowsOf(b)]);
  });

  test('rows built by hand (an inputFn) must carry the string columns\' text and the model\'s width', () => {
    const found = planColumns([{ name: 'age', type: 'float32', shape: ['N', 1] }, { name: 'gender', type: 'string', shape: ['N', 1] }], {});
    const plan = (found as { plan: Parameters<typeof columnTensors>[0] }).plan;
    expect(message(() => columnTensors(plan, { rows: 2, width: 2, values: new Float64Array(4) }))).toBe(
      'INVALID_VALUE: rows for this model need the text of its 1 string column(s) in "strings" (2 values for 2 row(s)), got 0',
    );
    expect(message(() => columnTensors(plan, { rows: 1, width: 3, values: new Float64Array(3), strings: ['M'] }))).toBe('WRONG_FEATURE_COUNT: rows of 3 value(s), but the model has 2 columns');
    expect(columnTensors(plan, { rows: 1, width: 2, values: Float64Array.from([30, 0]), strings: ['M'] }).map((t) => Array.from(t.data as ArrayLike<unknown>))).toEqual([[30], ['M']]);
  });

  test('an skl2onnx-shaped pipeline answers through the session exactly as onnxruntime does on the same tensors', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ms-mixed-')), 'model.onnx');
    fs.writeFileSync(file, sklearnPipelineModel());
    const session = await OnnxSession.load({ modelFile: file, intraOpThreads: 1 });
    expect(session.schema).toEqual(schema);
    expect(session.description).toMatchObject({ kind: 'classifier', labels: ['fraud', 'ok', 'review'], columnTypes: schema.columnTypes });
    const rows = matrix(csvCodec.decode!('age,gender,category,amount,step\n30,M,es_transportation,4.55,0\n,Ü,"es_travel, ""long haul""",,7\n55,unseen,also unseen,1e3,-4\n', { schema, params: {} }));
    const predicted = await session.predict(rows);

    const direct = await ort.InferenceSession.create(file);
    const feeds = {
      age: new ort.Tensor('float32', Float32Array.from([30, NaN, 55]), [3, 1]),
      gender: new ort.Tensor('string', ['M', 'Ü', 'unseen'], [3, 1]),
      category: new ort.Tensor('string', ['es_transportation', PIPELINE_CATEGORIES[2], 'also unseen'], [3, 1]),
      amount: new ort.Tensor('float64', Float64Array.from([4.55, NaN, 1000]), [3, 1]),
      step: new ort.Tensor('int64', BigInt64Array.from([0n, 7n, -4n]), [3, 1]),
    };
    const expected = await direct.run(feeds);
    expect(predicted).toMatchObject({ kind: 'classification', rows: 3, labels: Array.from(expected.label.data as string[]) });
    expect(Array.from((predicted as { probabilities: Float32Array }).probabilities)).toEqual(Array.from(expected.probabilities.data as Float32Array));
    // The tensors the session fed are those.
    const tensors = columnTensors((session as unknown as { columns: Parameters<typeof columnTensors>[0] }).columns, rows);
    expect(tensors.map((t) => [t.name, t.type, t.dims])).toEqual(Object.entries(feeds).map(([name, t]) => [name, t.type, [3, 1]]));
    expect(tensors.map((t) => Array.from(t.data as ArrayLike<unknown>))).toEqual(Object.values(feeds).map((t) => Array.from(t.data as ArrayLike<unknown>)));
  });
});
