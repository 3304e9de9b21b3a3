// XGBoost and LightGBM files converted to ONNX and run by onnxruntime, against what the libraries
// themselves predicted on the same 10,000-row test sets (test/fixtures/trees, made by
// tools/fixtures/make-tree-fixtures.py): every objective, every file format, missing values, zeros,
// values exactly on thresholds, categorical splits, early stopping, DART and k-fold folders.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { sniff } from '../../container/src/trees/detect';
import { loadTreeModel } from '../../container/src/trees/load';
import { treePredictions } from '../../container/src/trees/model';
import { parseUbjson } from '../../container/src/trees/ubjson';
import { replaceNonFinite } from '../../container/src/trees/xgboost-json';
import { compare, gunzipModel, readFloats, TREES, treeIndex } from '../helpers/trees';

const index = treeIndex();

async function predictNative(files: string[], rowsName: string) {
  const { model, onnx } = loadTreeModel(files.map((f) => path.join(TREES, f)));
  const input = index.inputs[rowsName];
  const rows = readFloats(input.file);
  const session = await ort.InferenceSession.create(onnx, { intraOpNumThreads: 1 });
  const type = rows instanceof Float32Array ? 'float32' : 'float64';
  const result = await session.run({ input: new ort.Tensor(type, rows, [input.rows, input.features]) });
  return { model, predictions: treePredictions(model, result.margin.data as Float32Array, input.rows) };
}

describe('tree models against the libraries', () => {
  test('the fixtures were made by the libraries the issue names, on at least 10,000 rows', () => {
    expect(index.xgboost).toBe('1.7.4');
    expect(index.lightgbm.startsWith('4.')).toBe(true);
    for (const input of Object.values(index.inputs)) expect(input.rows).toBeGreaterThanOrEqual(10_000);
  });

  test.each(index.cases.map((c) => [c.name, c] as const))('%s predicts as the library does (1e-6 relative on every row)', async (_name, c) => {
    const { model, predictions } = await predictNative(c.files, c.rows);
    const want = readFloats(c.expected);
    const got = predictions.native!.values;
    expect(got.length).toBe(want.length);
    const { worst, differing } = compare(got, want);
    // The figure, for the record: how close, and how many values are not bit-equal.
    console.log(`${c.name}: ${want.length} values, ${differing} not bit-equal, worst relative difference ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(1e-6);
    if (c.bestNtreeLimit !== undefined) {
      // Early stopping: the container predicts with best_ntree_limit, fewer trees than the file holds.
      expect(c.bestNtreeLimit).toBeLessThan(c.rounds!);
      expect(model.iterations).toBe(c.bestNtreeLimit);
    }
    if (c.folder) expect(model.boosters).toBe(3);
  });

  test('every objective the issue lists has a case', () => {
    const objectives = new Set(index.cases.map((c) => `${c.library}:${c.objective}`));
    for (const o of ['binary:logistic', 'binary:logitraw', 'binary:hinge', 'multi:softprob', 'multi:softmax', 'reg:squarederror', 'reg:logistic', 'reg:absoluteerror', 'count:poisson', 'reg:gamma', 'reg:tweedie']) expect(objectives).toContain(`xgboost:${o}`);
    for (const o of ['binary', 'multiclass', 'regression', 'regression_l1', 'huber', 'poisson', 'gamma', 'tweedie']) expect(objectives).toContain(`lightgbm:${o}`);
  });
});

describe('tree model files', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trees-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, content: string | Uint8Array) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, content);
    return file;
  };

  test('are told apart by content, never by name', () => {
    const head = (f: string) => fs.readFileSync(path.join(TREES, f)).subarray(0, 512);
    expect(sniff(head('xgb-binary-logistic.model'))).toBe('xgboost-binary');
    expect(sniff(head('xgb-binary-logistic.json'))).toBe('xgboost-json');
    expect(sniff(head('xgb-binary-logistic.ubj'))).toBe('xgboost-ubjson');
    expect(sniff(head('lgb-binary.txt'))).toBe('lightgbm');
    expect(sniff(Buffer.from('\x80\x04\x95\x10\x00', 'latin1'))).toBe('pickle');
    expect(sniff(Buffer.from('{"features": ["a"]}'))).toBe('other');
    expect(sniff(Buffer.from('hello'))).toBe('other');
  });

  test('a pickle is refused, never unpickled, with how to re-save it', () => {
    const file = write('xgboost-model', Buffer.from('\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x0excgboost.core\x94', 'latin1'));
    expect(() => loadTreeModel([file])).toThrow(/never unpickles.*save_model\("xgboost-model.json"\)/s);
  });

  test('a linear booster, a LightGBM linear tree and an unknown objective are refused naming them', () => {
    const doc = JSON.parse(fs.readFileSync(path.join(TREES, 'xgb-binary-logistic.json'), 'utf8'));
    doc.learner.gradient_booster = { name: 'gblinear', model: { weights: [1] } };
    expect(() => loadTreeModel([write('linear.json', JSON.stringify(doc))])).toThrow(/linear\.json: .*gblinear/);
    doc.learner.gradient_booster = JSON.parse(fs.readFileSync(path.join(TREES, 'xgb-binary-logistic.json'), 'utf8')).learner.gradient_booster;
    doc.learner.objective.name = 'survival:fancy';
    expect(() => loadTreeModel([write('fancy.json', JSON.stringify(doc))])).toThrow(/objective "survival:fancy"/);
    const text = fs.readFileSync(path.join(TREES, 'lgb-regression.txt'), 'utf8').replace('is_linear=0', 'is_linear=1');
    expect(() => loadTreeModel([write('linear.txt', text)])).toThrow(/linear tree/);
  });

  test('several LightGBM files, or LightGBM beside XGBoost, are refused as ambiguous, naming each file', () => {
    const model = fs.readFileSync(path.join(TREES, 'lgb-regression.txt'));
    const files = [write('model.txt', model), write('model.txt.snapshot_iter_10', model)];
    expect(() => loadTreeModel(files)).toThrow(expect.objectContaining({ code: 'MODEL_AMBIGUOUS', message: expect.stringMatching(/^2 model files at the top of .*: model\.txt \(LightGBM text\), model\.txt\.snapshot_iter_10 \(LightGBM text\)\. Only XGBoost files combine .*remove the others/) }));
    const mixed = [write('a.txt', model), write('xgboost-model', fs.readFileSync(path.join(TREES, 'xgb-binary-logistic.model')))];
    expect(() => loadTreeModel(mixed)).toThrow(/a\.txt \(LightGBM text\), xgboost-model \(XGBoost binary\)/);
  });

  test('a truncated binary model is refused saying so', () => {
    const bytes = fs.readFileSync(path.join(TREES, 'xgb-binary-logistic.model'));
    expect(() => loadTreeModel([write('cut', bytes.subarray(0, Math.floor(bytes.length / 2)))])).toThrow(/cut: XGBoost binary model that cannot be served: .*(truncated|more than the file holds)/);
  });

  test("XGBoost's bare NaN in JSON is read as a missing number, strings left alone", () => {
    expect(JSON.parse(replaceNonFinite('{"a": [NaN, 1, -Infinity, Infinity], "b": "NaN Infinity"}'))).toEqual({ a: [null, 1, null, null], b: 'NaN Infinity' });
  });

  test('UBJSON typed arrays and objects read as JSON values', () => {
    // {"k": [$d#U2 1.5 -2], "s": "x"} in big-endian UBJSON.
    const bytes = Buffer.from([0x7b, 0x55, 1, 0x6b, 0x5b, 0x24, 0x64, 0x23, 0x55, 2, 0x3f, 0xc0, 0, 0, 0xc0, 0, 0, 0, 0x55, 1, 0x73, 0x53, 0x55, 1, 0x78, 0x7d]);
    expect(parseUbjson(bytes)).toEqual({ k: [1.5, -2], s: 'x' });
  });

  test('a 1,000-tree model is converted and warmed in under 2 s', async () => {
    const file = gunzipModel(index['load-1000'].file, dir, 'xgboost-model');
    const started = performance.now();
    const { model, onnx } = loadTreeModel([file]);
    const session = await ort.InferenceSession.create(onnx, { intraOpNumThreads: 1 });
    await session.run({ input: new ort.Tensor('float32', new Float32Array(30), [1, 30]) });
    const ms = performance.now() - started;
    console.log(`1,000 trees of depth 5: converted, loaded and warmed in ${ms.toFixed(0)} ms`);
    expect(model.iterations).toBe(1000);
    expect(ms).toBeLessThan(2000);
  });
});
