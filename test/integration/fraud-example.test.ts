// The H2O scorer's own example, end to end: a synthetic BankSim-shaped dataset from the project's script,
// `container/train` on it, `serve` on what it wrote, and the scorer's exact GET line and the same row as
// JSON answered with a prediction and class probabilities, equal to onnxruntime's on the same tensors.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { FRAUD_FIELDS, SEED_ROW, writeFraudDataset } from '../../tools/src/make-fraud-data';
import { request, requireNginx, startServer, type Server } from '../helpers/server';

const TRAIN = path.resolve(__dirname, '../../container/train');
/** The line the H2O scorer documents, byte for byte. */
const SEED_GET = '/predict_parameters?step=0&customer=C1093826151&age=4&gender=M&zipcodeOri=28007&merchant=M348934600&zipMerchant=28007&category=es_transportation&amount=4.55';

let dir: string;
let server: Server;
let trainOutput: string;

beforeAll(async () => {
  requireNginx();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-fraud-'));
  writeFraudDataset(dir, { rows: 8000 });
  const run = spawnSync(TRAIN, [], { env: { PATH: process.env.PATH, SAGEMAKER_BASE_DIR: dir }, encoding: 'utf8', timeout: 120_000 });
  trainOutput = run.stdout;
  if (run.status !== 0) throw new Error(`train failed: ${run.stdout}${run.stderr}`);
  server = await startServer({ baseDir: dir, env: { MODEL_SERVER_WORKERS: '1', SAGEMAKER_INFERENCE_OUTPUT: 'predicted_label,probabilities' } });
});
afterAll(() => server?.stop());

/** onnxruntime's answer for the seed's row, from the tensors a caller would build by hand. */
async function seedAnswer(): Promise<{ predicted_label: number; probabilities: number[] }> {
  const session = await ort.InferenceSession.create(path.join(dir, 'model/model.onnx'));
  const feeds: Record<string, ort.Tensor> = {};
  for (const input of session.inputMetadata) {
    const value = SEED_ROW[input.name as keyof typeof SEED_ROW];
    feeds[input.name] = input.isTensor && input.type === 'float32' ? new ort.Tensor('float32', Float32Array.from([Number(value)]), [1, 1]) : new ort.Tensor('string', [value], [1, 1]);
  }
  const out = await session.run(feeds);
  return { predicted_label: Number((out.label.data as BigInt64Array)[0]), probabilities: Array.from(out.probabilities.data as Float32Array) };
}

test('the generated dataset has exactly the seed\'s fields, its row first, and trains with validation metrics', () => {
  const [header, first] = fs.readFileSync(path.join(dir, 'input/data/training/fraud.csv'), 'utf8').split('\n');
  expect(header).toBe(FRAUD_FIELDS.join(','));
  expect(first).toBe('0,C1093826151,4,M,28007,M348934600,28007,es_transportation,4.55,0');
  expect(trainOutput).toMatch(/^validation:accuracy=0\.9\d*$/m);
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model/model.json'), 'utf8'));
  expect(json.columns.map((c: { name: string; type: string }) => `${c.name}:${c.type}`)).toEqual([
    'step:float32', 'customer:string', 'age:string', 'gender:string', 'zipcodeOri:string', 'merchant:string', 'zipMerchant:string', 'category:string', 'amount:float32',
  ]);
  expect(json.labels).toEqual([0, 1]);
});

test('the H2O scorer\'s exact GET line is answered with a prediction and class probabilities', async () => {
  const reply = await request(server.port, 'GET', SEED_GET);
  expect(reply.status).toBe(200);
  const want = await seedAnswer();
  expect(reply.json()).toEqual({ predicted_label: want.predicted_label, probabilities: want.probabilities.map((p) => expect.closeTo(p, 7)) });
  expect(want.predicted_label).toBe(0);
  expect(want.probabilities[0]).toBeGreaterThan(0.9);
});

test.each(['application/json', 'application/octet-stream'])('the same row as %s JSON (strings, as H2O clients send them, or numbers) gets the same answer', async (type) => {
  const get = (await request(server.port, 'GET', SEED_GET)).json();
  for (const row of [SEED_ROW, { ...SEED_ROW, step: 0, age: 4, zipcodeOri: 28007, zipMerchant: 28007, amount: 4.55 }]) {
    const reply = await request(server.port, 'POST', '/invocations', { body: JSON.stringify(row), headers: { 'Content-Type': type } });
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^application\/json/);
    expect(reply.json()).toEqual({ predictions: [get] });
  }
});

test('the same row as CSV with the header line', async () => {
  const get = (await request(server.port, 'GET', SEED_GET)).json();
  const body = `${FRAUD_FIELDS.slice(0, -1).join(',')}\n${Object.values(SEED_ROW).join(',')}\n`;
  const reply = await request(server.port, 'POST', '/invocations', { body, headers: { 'Content-Type': 'text/csv', Accept: 'application/jsonlines' } });
  expect(reply.status).toBe(200);
  expect(JSON.parse(reply.body)).toEqual(get);
});
