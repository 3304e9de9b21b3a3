// XGBoost and LightGBM model files served through the real stack (nginx, workers, threads): SageMaker
// XGBoost's contract for an XGBoost model (text/csv by default, its keys, libsvm and RecordIO-protobuf),
// k-fold folders, the server's own style for LightGBM, multi-model endpoints; every answer checked against
// what the libraries predicted (test/fixtures/trees).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { readNpy } from '../../container/src/codecs/npy';
import { csvLines, readFloats, TREES, treeIndex } from '../helpers/trees';
import { request, requireNginx, startServer, type Server } from '../helpers/server';

const index = treeIndex();
const caseOf = (name: string) => index.cases.find((c) => c.name === name)!;

/** A base dir whose model/ holds the given fixture files (a folder's files keep their own names). */
function base(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-trees-'));
  fs.mkdirSync(path.join(dir, 'model'));
  for (const [name, fixture] of Object.entries(files)) fs.copyFileSync(path.join(TREES, fixture), path.join(dir, 'model', name));
  return dir;
}

const post = (port: number, body: string | Buffer, type: string, accept?: string) => request(port, 'POST', '/invocations', { body, headers: { 'Content-Type': type, ...(accept ? { Accept: accept } : {}) } });

/** A binary answer's bytes as they came (request() reads answers as text). */
function postForBytes(port: number, body: string | Buffer, type: string, accept: string): Promise<{ status: number; type: string; bytes: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/invocations', headers: { 'Content-Type': type, Accept: accept } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), bytes: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Every value within 1e-6 relative of the library's (the first few that are not, when some are not). */
function expectClose(got: number[], want: ArrayLike<number>) {
  expect(got.length).toBe(want.length);
  const far: string[] = [];
  for (let i = 0; i < want.length && far.length < 5; i++) if (!(Math.abs(got[i] - want[i]) <= 1e-6 * Math.abs(want[i]))) far.push(`[${i}] ${got[i]}, the library ${want[i]}`);
  expect(far).toEqual([]);
}

/**
 * Lines of XGBoost predictions as the container writes them: each a Python float (0.95…, 1.0, 1.5e-05) of
 * a float32's value, within 1e-6 of what the library predicted.
 */
function expectPredictionLines(text: string, want: ArrayLike<number>) {
  expect(text.endsWith('\n')).toBe(true);
  const lines = text.slice(0, -1).split('\n');
  const python = /^-?(\d+\.\d+|\d(\.\d+)?e[-+]\d\d+)$/;
  expect(lines.filter((line) => !python.test(line) || Math.fround(Number(line)) !== Number(line)).slice(0, 5)).toEqual([]);
  expectClose(lines.map(Number), want);
}

const ROWS = 300;

// SageMaker's Record protobuf (the fields these tests use) in its RecordIO framing, as the SDK writes it.
const Record = protobuf.parse(`syntax = "proto2"; package aialgs.data;
  message Float32Tensor { repeated float values = 1 [packed = true]; repeated uint64 keys = 2 [packed = true]; repeated uint64 shape = 3 [packed = true]; }
  message Value { optional Float32Tensor float32_tensor = 2; }
  message Record { map<string, Value> features = 1; map<string, Value> label = 2; }`, { keepCase: true }).root.lookupType('aialgs.data.Record');

/** Rows [from, to) as RecordIO-protobuf records: dense (NaN as it is), or sparse where `sparse(r)` (NaN left out: absent is missing). */
function recordio(values: Float32Array | Float64Array, features: number, from: number, to: number, sparse: (r: number) => boolean = () => false): Buffer {
  const records: Buffer[] = [];
  for (let r = from; r < to; r++) {
    const row = Array.from(values.subarray(r * features, r * features + features));
    const keys = row.map((v, i) => (Number.isNaN(v) ? -1 : i)).filter((i) => i >= 0);
    const tensor = sparse(r) ? { values: keys.map((k) => row[k]), keys, shape: [features] } : { values: row };
    const msg = Record.encode(Record.fromObject({ features: { values: { float32_tensor: tensor } } })).finish();
    const out = Buffer.alloc(8 + ((msg.length + 3) & ~3));
    out.writeUInt32LE(0xced7230a, 0);
    out.writeUInt32LE(msg.length, 4);
    Buffer.from(msg).copy(out, 8);
    records.push(out);
  }
  return Buffer.concat(records);
}

/** The "score" label of every record of a RecordIO-protobuf answer, in order. */
function scoresOf(answer: Buffer): number[] {
  const scores: number[] = [];
  for (let at = 0; at < answer.length; ) {
    expect(answer.readUInt32LE(at)).toBe(0xced7230a);
    const length = answer.readUInt32LE(at + 4);
    const record = Record.toObject(Record.decode(answer.subarray(at + 8, at + 8 + length)), { arrays: true }) as { label: { score: { float32_tensor: { values: number[] } } } };
    scores.push(...record.label.score.float32_tensor.values);
    at += 8 + ((length + 3) & ~3);
  }
  return scores;
}

describe('an XGBoost model in SageMaker XGBoost\'s contract', () => {
  let server: Server;
  const c = caseOf('xgb-binary-logistic:model');
  const rows = readFloats(index.inputs[c.rows].file);
  const want = readFloats(c.expected).subarray(0, ROWS);
  const body = csvLines(rows, 6, 0, ROWS);
  beforeAll(async () => {
    requireNginx();
    server = await startServer({ baseDir: base({ 'xgboost-model': 'xgb-binary-logistic.model' }) });
  });
  afterAll(() => server?.stop());

  test('the start-up log describes the model: library, format, objective, trees, best iteration', async () => {
    const ready = await server.waitForLog((l) => l.msg.startsWith('ready:'));
    expect(ready.tree).toMatchObject({ library: 'xgboost', format: expect.stringMatching(/^XGBoost binary/), objective: 'binary:logistic', booster: 'gbtree', features: 6, classes: 2, iterations: c.bestNtreeLimit });
    expect(ready.outputStyle).toBe('xgboost');
  });

  test('CSV without Accept answers text/csv, one prediction per line, as the library predicts and Python prints', async () => {
    const reply = await post(server.port, body, 'text/csv');
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^text\/csv/);
    const lines = reply.body.trimEnd().split('\n');
    expectClose(lines.map(Number), want);
    // repr() of the float32 value as a double: 17 significant digits at most, never the float32's short form.
    expect(lines[0]).toBe(String(want[0]));
  });

  test('JSON answers {"predictions": [{"score": ...}]} as json.dumps writes it', async () => {
    const reply = await post(server.port, csvLines(rows, 6, 0, 2), 'text/csv', 'application/json');
    expect(reply.body).toBe(`{"predictions": [{"score": ${want[0]}}, {"score": ${want[1]}}]}`);
  });

  test('libsvm: 0-based indices as written, absent features missing', async () => {
    const payload = fs.readFileSync(path.join(TREES, index.libsvm.payload), 'utf8');
    const expected = readFloats(index.libsvm.expected);
    for (const type of ['text/libsvm', 'text/x-libsvm']) {
      const reply = await post(server.port, payload, type);
      expect(reply.status).toBe(200);
      expectClose(reply.body.trimEnd().split('\n').map(Number), expected);
    }
  });

  test('RecordIO-protobuf: dense and sparse records in, label records out', async () => {
    const body = recordio(rows, 6, 0, 20, (r) => r % 2 === 1);
    const csv = await post(server.port, body, 'application/x-recordio-protobuf', 'text/csv');
    expect(csv.status).toBe(200);
    expectClose(csv.body.trimEnd().split('\n').map(Number), want.subarray(0, 20));
    // The answer as RecordIO-protobuf: one record per row, its label "score" a float32 tensor.
    const answer = await postForBytes(server.port, body, 'application/x-recordio-protobuf', 'application/x-recordio-protobuf');
    expectClose(scoresOf(answer.bytes), want.subarray(0, 20));
  });

  test("application/x-npy answers the library's raw output as numpy.save writes it: float32, one value per row", async () => {
    const answer = await postForBytes(server.port, csvLines(rows, 6, 0, 20), 'text/csv', 'application/x-npy');
    expect(answer.status).toBe(200);
    expect(answer.type).toBe('application/x-npy');
    const { values, shape, dtype } = readNpy(answer.bytes);
    expect({ shape, type: dtype.type }).toEqual({ shape: [20], type: 'float32' });
    expectClose(Array.from(values as Float32Array), want.subarray(0, 20));
  });

  test("the Open Inference Protocol: metadata lists margin and prediction; infer answers the library's predict output as prediction", async () => {
    const meta = await request(server.port, 'GET', '/v2/models/model');
    expect(meta.status).toBe(200);
    expect(meta.json().outputs).toEqual([
      { name: 'margin', datatype: 'FP32', shape: [-1, 1] },
      { name: 'prediction', datatype: 'FP32', shape: [-1, 1] },
    ]);
    // Rows without a missing value (kept simple: JSON data would carry one as the string "NaN").
    const picked = Array.from({ length: ROWS }, (_, r) => r).filter((r) => !rows.subarray(r * 6, r * 6 + 6).some(Number.isNaN)).slice(0, 10);
    const data = picked.flatMap((r) => Array.from(rows.subarray(r * 6, r * 6 + 6)));
    const infer = (outputs?: string[]) => request(server.port, 'POST', '/v2/models/model/infer', {
      body: JSON.stringify({ inputs: [{ name: 'input', shape: [picked.length, 6], datatype: 'FP32', data }], ...(outputs ? { outputs: outputs.map((name) => ({ name })) } : {}) }),
      headers: { 'Content-Type': 'application/json' },
    });
    const all = await infer();
    expect(all.status).toBe(200);
    const byName = Object.fromEntries(all.json().outputs.map((o: { name: string }) => [o.name, o]));
    expect(byName.prediction).toMatchObject({ datatype: 'FP32', shape: [picked.length, 1] });
    expectClose(byName.prediction.data, picked.map((r) => want[r]));
    // The margin is the prediction before the logistic transform.
    expectClose(byName.margin.data.map((m: number) => Math.fround(1 / (1 + Math.exp(-m)))), picked.map((r) => want[r]));
    const one = await infer(['prediction']);
    expect(one.json().outputs.map((o: { name: string }) => o.name)).toEqual(['prediction']);
  });

  test('a wrong feature count is a 400 naming the expected count, never a silent pad', async () => {
    const reply = await post(server.port, '1,2,3\n', 'text/csv');
    expect(reply.status).toBe(400);
    expect(reply.json().error).toMatchObject({ code: 'WRONG_FEATURE_COUNT', message: 'line 1: 3 value(s), but the model has 6 feature(s)' });
    const libsvm = await post(server.port, '1 0:1 6:2\n', 'text/libsvm');
    expect(libsvm.json().error.message).toMatch(/feature index 6, but the model has 6 feature\(s\)/);
  });
});

describe('SAGEMAKER_INFERENCE_OUTPUT on XGBoost models', () => {
  let server: Server;
  const c = caseOf('xgb-multi-softprob:model');
  const rows = readFloats(index.inputs[c.rows].file);
  const want = readFloats(c.expected);
  beforeAll(async () => {
    requireNginx();
    server = await startServer({ baseDir: base({ 'xgboost-model': 'xgb-multi-softprob.model' }), env: { SAGEMAKER_INFERENCE_OUTPUT: 'predicted_label,probabilities,raw_score,predicted_score', MODEL_SERVER_WORKERS: '1' } });
  });
  afterAll(() => server?.stop());

  test('CSV: the keys in the order asked, lists quoted as Python lists, a key the objective has not as nan', async () => {
    const reply = await post(server.port, csvLines(rows, 6, 0, 3), 'text/csv');
    const lines = reply.body.trimEnd().split('\n');
    for (let r = 0; r < 3; r++) {
      const p = Array.from(want.subarray(r * 3, r * 3 + 3));
      const label = p.indexOf(Math.max(...p));
      expect(lines[r]).toBe(`${label},"[${p.join(', ')}]",${Math.max(...p)},nan`);
    }
  });

  test('JSON and JSON Lines: the container\'s dict order, NaN as json.dumps writes it', async () => {
    const p = Array.from(want.subarray(0, 3));
    const record = `{"predicted_label": ${p.indexOf(Math.max(...p))}, "probabilities": [${p.join(', ')}], "raw_score": ${Math.max(...p)}, "predicted_score": NaN}`;
    expect((await post(server.port, csvLines(rows, 6, 0, 1), 'text/csv', 'application/json')).body).toBe(`{"predictions": [${record}]}`);
    expect((await post(server.port, csvLines(rows, 6, 0, 1), 'text/csv', 'application/jsonlines')).body).toBe(`${record}\n`);
  });

  test('application/x-npy: a structured array of the keys asked, float32 fields as its RecordIO-protobuf answer holds them', async () => {
    const answer = await postForBytes(server.port, csvLines(rows, 6, 0, 2), 'text/csv', 'application/x-npy');
    expect(answer.status).toBe(200);
    const headerLength = answer.bytes.readUInt16LE(8);
    const header = answer.bytes.subarray(10, 10 + headerLength).toString('latin1');
    expect(header.trimEnd()).toBe("{'descr': [('predicted_label', '<f4'), ('probabilities', '<f4', (3,)), ('raw_score', '<f4'), ('predicted_score', '<f4')], 'fortran_order': False, 'shape': (2,), }");
    const data = answer.bytes.subarray(10 + headerLength);
    expect(data.length).toBe(2 * 6 * 4);
    for (let r = 0; r < 2; r++) {
      const got = Array.from({ length: 6 }, (_, k) => data.readFloatLE(4 * (r * 6 + k)));
      const p = Array.from(want.subarray(r * 3, r * 3 + 3));
      expect(got.slice(0, 5)).toEqual([p.indexOf(Math.max(...p)), ...p, Math.max(...p)]);
      expect(got[5]).toBeNaN();
    }
  });
});

describe('k-fold folders and LightGBM', () => {
  test('a folder of xgboost-model-0..2 answers the container\'s vote (multi:softmax)', async () => {
    requireNginx();
    const c = caseOf('xgb-kfold-softmax');
    const files = Object.fromEntries(c.files.map((f) => [path.basename(f), f]));
    const server = await startServer({ baseDir: base(files), env: { MODEL_SERVER_WORKERS: '1' } });
    try {
      const rows = readFloats(index.inputs[c.rows].file);
      const reply = await post(server.port, csvLines(rows, 6, 0, ROWS), 'text/csv');
      expect(reply.body.trimEnd().split('\n').map(Number)).toEqual(Array.from(readFloats(c.expected).subarray(0, ROWS)));
      expect((await server.waitForLog((l) => l.msg.startsWith('ready:'))).tree).toMatchObject({ files: 3, combined: 'vote' });
    } finally {
      await server.stop();
    }
  });

  test("a LightGBM model answers in the server's style: labels, and probabilities when asked", async () => {
    requireNginx();
    const c = caseOf('lgb-multiclass');
    const server = await startServer({ baseDir: base({ 'model.txt': 'lgb-multiclass.txt' }), env: { MODEL_SERVER_WORKERS: '1', SAGEMAKER_INFERENCE_OUTPUT: 'predicted_label,probabilities' } });
    try {
      const rows = readFloats(index.inputs[c.rows].file);
      const want = readFloats(c.expected);
      const reply = await post(server.port, csvLines(rows, 5, 0, 50), 'text/csv', 'application/jsonlines');
      const records = reply.body.trimEnd().split('\n').map((l) => JSON.parse(l));
      records.forEach((rec, r) => {
        const p = Array.from(want.subarray(r * 3, r * 3 + 3));
        expect(rec.predicted_label).toBe(p.indexOf(Math.max(...p)));
        expectClose(rec.probabilities, p);
      });
      // On the Open Inference Protocol, prediction is LightGBM's predict(): the class probabilities.
      const clean = Array.from({ length: 50 }, (_, r) => r).filter((r) => !rows.subarray(r * 5, r * 5 + 5).some(Number.isNaN)).slice(0, 5);
      const v2 = await request(server.port, 'POST', '/v2/models/model/infer', {
        body: JSON.stringify({ inputs: [{ name: 'input', shape: [clean.length, 5], datatype: 'FP64', data: clean.flatMap((r) => Array.from(rows.subarray(r * 5, r * 5 + 5))) }], outputs: [{ name: 'prediction' }] }),
        headers: { 'Content-Type': 'application/json' },
      });
      expect(v2.status).toBe(200);
      const [prediction] = v2.json().outputs;
      expect(prediction).toMatchObject({ name: 'prediction', datatype: 'FP64', shape: [clean.length, 3] });
      expectClose(prediction.data, clean.flatMap((r) => Array.from(want.subarray(r * 3, r * 3 + 3))));
      const refused = await startServer({ baseDir: base({ 'model.txt': 'lgb-multiclass.txt' }), env: { MODEL_SERVER_WORKERS: '1', SAGEMAKER_INFERENCE_OUTPUT: 'raw_score' }, ready: false });
      const exit = await refused.exited;
      expect(exit.code).not.toBe(0);
      expect(refused.logs.some((l) => /SAGEMAKER_INFERENCE_OUTPUT names raw_score.*MODEL_SERVER_OUTPUT_STYLE=xgboost/.test(String(l.msg)))).toBe(true);
    } finally {
      await server.stop();
    }
  });

  test('a multi-model endpoint loads a folder of XGBoost files with POST /models', async () => {
    requireNginx();
    const c = caseOf('xgb-kfold-logistic');
    const dir = base(Object.fromEntries(c.files.map((f) => [path.basename(f), f])));
    const server = await startServer({ baseDir: fs.mkdtempSync(path.join(os.tmpdir(), 'ms-mme-')), env: { SAGEMAKER_MULTI_MODEL: 'true', MODEL_SERVER_WORKERS: '1' } });
    try {
      const load = await request(server.port, 'POST', '/models', { body: JSON.stringify({ model_name: 'folds', url: path.join(dir, 'model') }), headers: { 'Content-Type': 'application/json' } });
      expect(load.status).toBe(200);
      const rows = readFloats(index.inputs[c.rows].file);
      const reply = await request(server.port, 'POST', '/models/folds/invoke', { body: csvLines(rows, 6, 0, 100), headers: { 'Content-Type': 'text/csv' } });
      expectClose(reply.body.trimEnd().split('\n').map(Number), readFloats(c.expected).subarray(0, 100));
      const pickle = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-pickle-'));
      fs.writeFileSync(path.join(pickle, 'xgboost-model'), Buffer.from('\x80\x04\x95\x10\x00\x00\x00', 'latin1'));
      const refused = await request(server.port, 'POST', '/models', { body: JSON.stringify({ model_name: 'pickled', url: pickle }), headers: { 'Content-Type': 'application/json' } });
      expect(refused.json().error.message).toMatch(/never unpickles/);
    } finally {
      await server.stop();
    }
  });
});

describe('inference code on tree models (code/inference.mjs beside the model files)', () => {
  let server: Server;
  const load = (name: string, url: string) => request(server.port, 'POST', '/models', { body: JSON.stringify({ model_name: name, url }), headers: { 'Content-Type': 'application/json' } });
  const invoke = (name: string, body: string, type: string, accept?: string) => request(server.port, 'POST', `/models/${name}/invoke`, { body, headers: { 'Content-Type': type, ...(accept ? { Accept: accept } : {}) } });
  const xgb = caseOf('xgb-binary-logistic:model');
  const xgbRows = readFloats(index.inputs[xgb.rows].file);
  const xgbWant = readFloats(xgb.expected);
  const lgb = caseOf('lgb-regression');
  const lgbRows = readFloats(index.inputs[lgb.rows].file);
  const lgbWant = readFloats(lgb.expected);
  /** Rows as JSON number lists, null for a missing value (JSON has no NaN). */
  const jsonRows = (values: Float32Array | Float64Array, features: number, n: number) => JSON.stringify({ rows: Array.from({ length: n }, (_, r) => Array.from(values.subarray(r * features, r * features + features), (v) => (Number.isNaN(v) ? null : v))) });
  const ROWS_INPUT = `export const inputFn = (body, type) => {
    if (type !== 'application/vnd.rows+json') throw Object.assign(new Error('send application/vnd.rows+json'), { statusCode: 415 });
    return JSON.parse(body.toString('utf8')).rows.map((row) => row.map((v) => (v === null ? NaN : v)));
  };`;
  const MODULES: Record<string, [Record<string, string>, string]> = {
    'xgb-output': [{ 'xgboost-model': 'xgb-binary-logistic.model' }, `export const outputFn = (records, accept, context) => ({ body: JSON.stringify({ accept, model: context.modelName, keys: Object.keys(records[0]), records }), contentType: 'application/json' });`],
    'xgb-input': [{ 'xgboost-model': 'xgb-binary-logistic.model' }, ROWS_INPUT],
    'xgb-predict': [{ 'xgboost-model': 'xgb-binary-logistic.model' }, `export const predictFn = async (rows, model) => {
      const out = await model.run({ [model.inputNames[0]]: { type: 'float32', dims: [rows.rows, rows.width], data: rows.values } });
      return { inputs: model.inputNames, outputs: model.outputNames, margins: Array.from(out[model.outputNames[0]].data) };
    };`],
    'lgb-input': [{ 'model.txt': 'lgb-regression.txt' }, ROWS_INPUT],
  };

  beforeAll(async () => {
    requireNginx();
    server = await startServer({ baseDir: fs.mkdtempSync(path.join(os.tmpdir(), 'ms-tree-code-')), env: { SAGEMAKER_MULTI_MODEL: 'true', MODEL_SERVER_WORKERS: '1' } });
    for (const [name, [files, source]] of Object.entries(MODULES)) {
      const dir = base(files);
      fs.mkdirSync(path.join(dir, 'model/code'));
      fs.writeFileSync(path.join(dir, 'model/code/inference.mjs'), source);
      const r = await load(name, path.join(dir, 'model'));
      expect([name, r.status, r.body]).toEqual([name, 200, expect.any(String)]);
    }
  });
  afterAll(() => server?.stop());

  test("outputFn on an XGBoost model gets the server's records (label, probability, probabilities, labels) and text/csv, the container's default", async () => {
    const reply = await invoke('xgb-output', csvLines(xgbRows, 6, 0, 200), 'text/csv');
    expect([reply.status, reply.headers['content-type']]).toEqual([200, 'application/json']);
    const body = reply.json();
    expect(body).toMatchObject({ accept: 'text/csv', model: 'xgb-output', keys: ['predicted_label', 'probability', 'probabilities', 'labels'] });
    expect(body.records).toHaveLength(200);
    body.records.forEach((rec: { predicted_label: number; probability: number; probabilities: number[]; labels: number[] }, r: number) => {
      const p = xgbWant[r];
      expect(rec.labels).toEqual([0, 1]);
      expect(rec.predicted_label).toBe(p > 0.5 ? 1 : 0);
      expectClose(rec.probabilities, [1 - p, p]);
      expectClose([rec.probability], [Math.max(p, 1 - p)]);
    });
  });

  test("inputFn on an XGBoost model: its rows through the built-in predict, answered in the container's style", async () => {
    const n = 500;
    const reply = await invoke('xgb-input', jsonRows(xgbRows, 6, n), 'application/vnd.rows+json');
    expect([reply.status, reply.headers['content-type']]).toEqual([200, 'text/csv; charset=utf-8']);
    expectPredictionLines(reply.body, xgbWant.subarray(0, n));
    const json = await invoke('xgb-input', jsonRows(xgbRows, 6, 2), 'application/vnd.rows+json', 'application/json');
    expect(json.body).toMatch(/^\{"predictions": \[\{"score": [0-9.e-]+\}, \{"score": [0-9.e-]+\}\]\}$/);
    expectClose(json.json().predictions.map((p: { score: number }) => p.score), xgbWant.subarray(0, 2));
    const short = await invoke('xgb-input', JSON.stringify({ rows: [[1, 2, 3]] }), 'application/vnd.rows+json');
    expect([short.status, short.json().error.code]).toEqual([400, 'WRONG_FEATURE_COUNT']);
    expect(short.json().error.message).toMatch(/3 value\(s\).*6 feature\(s\)/);
    expect((await invoke('xgb-input', '1,2,3,4,5,6', 'text/csv')).status).toBe(415);
  });

  test("predictFn on an XGBoost model gets the decoded rows and the converted graph's session (input, margin)", async () => {
    const n = 100;
    const reply = await invoke('xgb-predict', csvLines(xgbRows, 6, 0, n), 'text/csv', 'application/json');
    expect(reply.status).toBe(200);
    const { inputs, outputs, margins } = reply.json() as { inputs: string[]; outputs: string[]; margins: number[] };
    expect([inputs, outputs, margins.length]).toEqual([['input'], ['margin'], n]);
    expectClose(margins.map((m) => 1 / (1 + Math.exp(-m))), xgbWant.subarray(0, n));
  });

  test("inputFn on a LightGBM model: double rows keep their precision (values on split thresholds included)", async () => {
    const n = 2000;
    const reply = await invoke('lgb-input', jsonRows(lgbRows, 5, n), 'application/vnd.rows+json', 'application/jsonlines');
    expect(reply.status).toBe(200);
    const scores = reply.body.trimEnd().split('\n').map((l) => JSON.parse(l).score as number);
    expectClose(scores, lgbWant.subarray(0, n));
  });
});

describe('batch transform of an XGBoost model (local-test/transform-local.sh)', () => {
  const TRANSFORM = path.resolve(__dirname, '../../local-test/transform-local.sh');
  const tmp = (prefix: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    fs.chmodSync(dir, 0o755);
    return dir;
  };
  const transform = (args: string[], baseDir: string, env: Record<string, string> = {}) => {
    const r = spawnSync(TRANSFORM, [...args, '--base-dir', baseDir], { env: { PATH: process.env.PATH!, MODEL_SERVER_WORKERS: '1', ...env }, encoding: 'utf8', timeout: 180_000 });
    return { status: r.status, stderr: r.stderr };
  };
  const c = caseOf('xgb-binary-logistic:model');
  const rows = readFloats(index.inputs[c.rows].file);
  const want = readFloats(c.expected);
  beforeAll(() => requireNginx());

  test('CSV without Accept: text/csv, one prediction per line in input order over several mini-batches, as the library predicts', () => {
    const dir = base({ 'xgboost-model': 'xgb-binary-logistic.model' });
    const input = tmp('tf-xgb-in-');
    const output = tmp('tf-xgb-out-');
    const all = csvLines(rows, 6, 0, rows.length / 6);
    fs.writeFileSync(path.join(input, 'rows.csv'), all.repeat(4));
    const run = transform(['--input', input, '--output', output, '--max-payload-mb', '1', '--max-concurrent', '2'], dir);
    expect(run.status).toBe(0);
    const requests = Number(/40000 records, (\d+) requests, 0 retries/.exec(run.stderr)?.[1]);
    expect(requests).toBeGreaterThan(1);
    const out = fs.readFileSync(path.join(output, 'rows.csv.out'), 'utf8');
    expectPredictionLines(out, [...want, ...want, ...want, ...want]);
  });

  test('libsvm without Accept: text/csv, one line per record (blank lines between records are not records)', () => {
    const dir = base({ 'xgboost-model': 'xgb-binary-logistic.model' });
    const input = tmp('tf-xgb-in-');
    const output = tmp('tf-xgb-out-');
    const payload = fs.readFileSync(path.join(TREES, index.libsvm.payload), 'utf8').trimEnd().split('\n');
    const expected = readFloats(index.libsvm.expected);
    fs.writeFileSync(path.join(input, 'rows.libsvm'), `${payload.slice(0, 100).join('\n')}\n\n${payload.slice(100).join('\n')}\n`);
    const run = transform(['--input', input, '--output', output, '--content-type', 'text/libsvm', '--batch-strategy', 'SingleRecord', '--max-concurrent', '4'], dir);
    expect(run.status).toBe(0);
    expect(run.stderr).toMatch(/200 records, 200 requests/);
    expectPredictionLines(fs.readFileSync(path.join(output, 'rows.libsvm.out'), 'utf8'), expected);
  });

  test('RecordIO-protobuf split by record (SplitType RecordIO): CSV lines over several mini-batches, and RecordIO records assembled as they are', () => {
    const dir = base({ 'xgboost-model': 'xgb-binary-logistic.model' });
    const input = tmp('tf-xgb-in-');
    const output = tmp('tf-xgb-out-');
    const n = rows.length / 6;
    const body = recordio(rows, 6, 0, n, (r) => r % 3 === 0);
    fs.writeFileSync(path.join(input, 'rows.rec'), Buffer.concat([body, body, body]));
    const lines = transform(['--input', input, '--output', output, '--content-type', 'application/x-recordio-protobuf', '--split-type', 'RecordIO', '--accept', 'text/csv', '--max-payload-mb', '1', '--max-concurrent', '2'], dir);
    expect(lines.status).toBe(0);
    expect(Number(/30000 records, (\d+) requests, 0 retries/.exec(lines.stderr)?.[1])).toBeGreaterThan(1);
    expectPredictionLines(fs.readFileSync(path.join(output, 'rows.rec.out'), 'utf8'), [...want, ...want, ...want]);
    // One record per request (SageMaker then drops each record's padding), answers joined as they are.
    const few = tmp('tf-xgb-in-');
    const out = tmp('tf-xgb-out-');
    fs.writeFileSync(path.join(few, 'few.rec'), recordio(rows, 6, 0, 40, (r) => r % 2 === 0));
    const records = transform(['--input', few, '--output', out, '--content-type', 'application/x-recordio-protobuf', '--split-type', 'RecordIO', '--accept', 'application/x-recordio-protobuf', '--assemble-with', 'None', '--batch-strategy', 'SingleRecord', '--max-concurrent', '4'], dir);
    expect(records.status).toBe(0);
    expect(records.stderr).toMatch(/40 records, 40 requests/);
    expectClose(scoresOf(fs.readFileSync(path.join(out, 'few.rec.out'))), want.subarray(0, 40));
    const broken = transform(['--input', path.join(TREES, 'xgb-binary-logistic.libsvm'), '--output', out, '--split-type', 'RecordIO'], dir);
    expect([broken.status, broken.stderr]).toEqual([1, expect.stringMatching(/FAILED xgb-binary-logistic\.libsvm: xgb-binary-logistic\.libsvm, record 1 \(byte 0\): not a RecordIO record/)]);
  });

  test('SAGEMAKER_INFERENCE_OUTPUT with Accept application/jsonlines: one record of the keys per line', () => {
    const soft = caseOf('xgb-multi-softprob:model');
    const probabilities = readFloats(soft.expected);
    const dir = base({ 'xgboost-model': 'xgb-multi-softprob.model' });
    const input = tmp('tf-xgb-in-');
    const output = tmp('tf-xgb-out-');
    fs.writeFileSync(path.join(input, 'rows.csv'), csvLines(rows, 6, 0, 3000));
    const run = transform(['--input', input, '--output', output, '--accept', 'application/jsonlines'], dir, { SAGEMAKER_INFERENCE_OUTPUT: 'predicted_label,probabilities' });
    expect(run.status).toBe(0);
    const records = fs.readFileSync(path.join(output, 'rows.csv.out'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(records).toHaveLength(3000);
    records.forEach((rec, r) => {
      const p = Array.from(probabilities.subarray(r * 3, r * 3 + 3));
      expect(Object.keys(rec)).toEqual(['predicted_label', 'probabilities']);
      expect(rec.predicted_label).toBe(p.indexOf(Math.max(...p)));
      expectClose(rec.probabilities, p);
    });
  });
});
