// Mixed-type tabular models through the real stack: an skl2onnx-shaped pipeline (one input per column:
// float, string, double, int64; OneHotEncoder + LinearClassifier), a string [N, F] model, a number
// [N, F] input beside a string one, and one whose columns cannot be told apart. Every row format, answers
// equal to onnxruntime's on the same tensors, and errors naming line/record, column and type.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'csv-parse/sync';
import * as ort from 'onnxruntime-node';
import { ambiguousColumnsModel, baseDir, numbersAndStringModel, PIPELINE_CATEGORIES, sklearnPipelineModel, stringMatrixModel } from '../helpers/models';
import { request, requireNginx, startServer, type Reply, type Server } from '../helpers/server';

type Row = [number | null, string, string, number | null, number];
const NAMES = ['age', 'gender', 'category', 'amount', 'step'];
/** A known row, one with missing numbers, quoting and UTF-8, and one of categories the model never saw. */
const ROWS: Row[] = [
  [30, 'M', 'es_transportation', 4.55, 0],
  [null, 'Ü', PIPELINE_CATEGORIES[2], null, 7],
  [55, 'unseen', 'also unseen, 東京', 1000, -4],
];

const csvCell = (v: unknown) => (v === null ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
const csvLine = (r: readonly unknown[]) => r.map(csvCell).join(',');
const objectOf = (r: Row) => Object.fromEntries(NAMES.map((n, i) => [n, r[i]]));

let pipeline: Server;
let expected: { predicted_label: string; probabilities: number[] }[];

/** onnxruntime's answer for rows, from the tensors a caller would build by hand. */
async function onnxruntimeAnswer(file: string, rows: Row[]): Promise<{ predicted_label: string; probabilities: number[] }[]> {
  const session = await ort.InferenceSession.create(file);
  const n = rows.length;
  const column = (i: number) => rows.map((r) => r[i]);
  const out = await session.run({
    age: new ort.Tensor('float32', Float32Array.from(column(0), (v) => (v === null ? NaN : Number(v))), [n, 1]),
    gender: new ort.Tensor('string', column(1).map(String), [n, 1]),
    category: new ort.Tensor('string', column(2).map(String), [n, 1]),
    amount: new ort.Tensor('float64', Float64Array.from(column(3), (v) => (v === null ? NaN : Number(v))), [n, 1]),
    step: new ort.Tensor('int64', BigInt64Array.from(column(4), (v) => BigInt(v as number)), [n, 1]),
  });
  const p = Array.from(out.probabilities.data as Float32Array);
  await session.release();
  return rows.map((_, r) => ({ predicted_label: (out.label.data as string[])[r], probabilities: p.slice(r * 3, r * 3 + 3) }));
}

/** The answer as records, whatever its format. */
function records(reply: Reply): Record<string, unknown>[] {
  const type = String(reply.headers['content-type']).split(';')[0];
  if (type === 'application/json') return reply.json().predictions;
  if (type === 'application/jsonlines') return reply.body.trimEnd().split('\n').map((l) => JSON.parse(l));
  return (parse(reply.body) as string[][]).map(([label, probabilities]) => ({ predicted_label: label, probabilities: JSON.parse(probabilities) }));
}

/** float32 probabilities as the server prints them (shortest form) against onnxruntime's values. */
function expectAnswers(got: Record<string, unknown>[], want: typeof expected): void {
  expect(got.map((g) => g.predicted_label)).toEqual(want.map((w) => w.predicted_label));
  got.forEach((g, r) => (g.probabilities as number[]).forEach((p, j) => expect(Math.fround(p)).toBe(Math.fround(want[r].probabilities[j]))));
}

const post = (server: Server, body: string, type: string, accept?: string) =>
  request(server.port, 'POST', '/invocations', { body, headers: { 'Content-Type': type, ...(accept ? { Accept: accept } : {}) } });

beforeAll(async () => {
  requireNginx();
  const base = baseDir({ 'model.onnx': sklearnPipelineModel() });
  expected = await onnxruntimeAnswer(path.join(base, 'model/model.onnx'), ROWS);
  pipeline = await startServer({ baseDir: base, env: { MODEL_SERVER_WORKERS: '1', SAGEMAKER_INFERENCE_OUTPUT: 'predicted_label,probabilities' } });
});
afterAll(() => pipeline?.stop());

describe('an skl2onnx-shaped pipeline (one input per column, string and number columns)', () => {
  test('the start-up line gives each column\'s type; the feature names are the input names', async () => {
    expect(await pipeline.waitForLog((l) => /^ready:/.test(l.msg))).toMatchObject({ kind: 'classifier', features: NAMES, columnTypes: ['float32', 'string', 'string', 'float64', 'int64'], warmed: true });
  });

  const bodies: [string, string, string][] = [
    ['CSV without a header', 'text/csv', ROWS.map(csvLine).join('\n')],
    ['CSV with a header in another order, CRLF', 'text/csv; charset=utf-8', `step,amount,category,gender,age\r\n${ROWS.map((r) => csvLine([r[4], r[3], r[2], r[1], r[0]])).join('\r\n')}\r\n`],
    ['JSON instances as arrays', 'application/json', JSON.stringify({ instances: ROWS })],
    ['JSON rows as objects keyed by name', 'application/json', JSON.stringify(ROWS.map(objectOf))],
    ['JSON Lines of objects', 'application/jsonlines', ROWS.map((r) => JSON.stringify(objectOf(r))).join('\n')],
    ['JSON as application/octet-stream', 'application/octet-stream', JSON.stringify({ instances: ROWS.map(objectOf) })],
  ];
  test.each(bodies)('%s: one answer per row, equal to onnxruntime on the same tensors, in every response type', async (_what, type, body) => {
    for (const accept of ['text/csv', 'application/json', 'application/jsonlines']) {
      const reply = await post(pipeline, body, type, accept);
      expect(reply.status).toBe(200);
      expectAnswers(records(reply), expected);
    }
  });

  test('GET /predict_parameters: one row by name, strings as sent (percent-encoded UTF-8 included), empty = missing', async () => {
    const query = (r: Row) => NAMES.map((n, i) => `${n}=${encodeURIComponent(r[i] === null ? '' : String(r[i]))}`).join('&');
    for (const row of ROWS) {
      const reply = await request(pipeline.port, 'GET', `/predict_parameters?${query(row)}`);
      expect(reply.status).toBe(200);
      // onnxruntime's answer for this one row: a batch of one can differ in the last bit from a batch of three.
      expectAnswers([reply.json()], await onnxruntimeAnswer(path.join(pipeline.baseDir, 'model/model.onnx'), [row]));
    }
  });

  test('categories never seen in training are one-hot all zeros, as scikit-learn\'s handle_unknown="ignore"', async () => {
    // Row 3's categories are unknown to the encoder: its answer is the model's for all-zero one-hots,
    // the same as for any other unseen text.
    const file = path.join(pipeline.baseDir, 'model/model.onnx');
    const reply = await post(pipeline, csvLine(ROWS[2]), 'text/csv', 'application/json');
    expectAnswers(reply.json().predictions, await onnxruntimeAnswer(file, [ROWS[2]]));
    const other = await post(pipeline, csvLine([55, 'never', 'seen either', 1000, -4]), 'text/csv', 'application/json');
    expect(other.json()).toEqual(reply.json());
  });

  test.each([
    ['a word in a float column (CSV)', 'text/csv', '30,M,es_food,4.55,0\nthirty,M,es_food,4.55,0', 'line 2, column 1 ("age", float32): "thirty" is not a number'],
    ['a fraction in an int64 column, by header name', 'text/csv', 'step,age,gender,category,amount\n0.5,30,M,es_food,4.55', 'line 2, column 1 ("step", int64): "0.5" is not an integer'],
    ['a missing int64 (CSV)', 'text/csv', '30,M,es_food,4.55,', 'line 1, column 5 ("step", int64): a missing value, which the model\'s int64 column cannot take'],
    ['an object for a string field (JSON)', 'application/json', '[{"age": 30, "gender": {"v": "M"}, "category": "es_food", "amount": 4.55, "step": 0}]', 'record 1, field "gender" (string): an object is not text (a string or a number)'],
    ['a word in a float64 column (JSON Lines)', 'application/jsonlines', '[30, "M", "es_food", 4.55, 0]\n[30, "M", "es_food", "much", 0]', 'line 2, column 4 ("amount", float64): "much" is not a number'],
  ])('%s is a 400 naming the place, the column and its type', async (_what, type, body, message) => {
    const reply = await post(pipeline, body, type);
    expect(reply.status).toBe(400);
    expect(reply.json().error).toEqual({ code: 'INVALID_VALUE', message });
  });

  test('a wrong-typed query parameter is a 400 naming it and its type', async () => {
    const reply = await request(pipeline.port, 'GET', '/predict_parameters?age=30&gender=M&category=x&amount=1&step=two');
    expect(reply.status).toBe(400);
    expect(reply.json().error).toEqual({ code: 'INVALID_VALUE', message: 'parameter "step" (int64): "two" is not an integer' });
  });

  test.each([
    ['on its inference thread, where requests queue while it runs', 'false'],
    ["on the worker's own thread too (the default for this model)", 'true'],
  ])('queued requests share one run (opportunistic batching) and each gets its own answer: %s', async (_where, inline) => {
    const server = inline === 'true' ? pipeline : await startServer({ baseDir: pipeline.baseDir, env: { MODEL_SERVER_WORKERS: '1', SAGEMAKER_INFERENCE_OUTPUT: 'predicted_label,probabilities', MODEL_SERVER_INLINE: inline } });
    try {
      const replies = await Promise.all(Array.from({ length: 60 }, (_, k) => post(server, csvLine(ROWS[k % 3]), 'text/csv', 'application/json')));
      // A shared run holds other rows too, so onnxruntime may round the last bit otherwise than for these three.
      replies.forEach((reply, k) => {
        const [got] = reply.json().predictions;
        expect(got.predicted_label).toBe(expected[k % 3].predicted_label);
        got.probabilities.forEach((p: number, j: number) => expect(p).toBeCloseTo(expected[k % 3].probabilities[j], 6));
      });
      // Requests that arrive while a run goes on share the next one; on the worker's own thread a run is so
      // short that they seldom do when they arrive one by one.
      if (inline === 'false') await server.waitForLog((l) => typeof l.batch === 'number' && (l.batch as number) > 1);
    } finally {
      if (server !== pipeline) await server.stop();
    }
  });

  test('a batch transform of mixed rows (several mini-batches) gives one line per record, equal to the direct answer', async () => {
    const input = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-mixed-in-'));
    const output = fs.mkdtempSync(path.join(os.tmpdir(), 'tf-mixed-out-'));
    const lines = Array.from({ length: 80_000 }, (_, k) => csvLine(ROWS[k % 3].map((v, i) => (i === 0 && v !== null ? (v as number) + (k % 7) : v))));
    fs.writeFileSync(path.join(input, 'rows.csv'), `${lines.join('\n')}\n`);
    const run = spawnSync(path.resolve(__dirname, '../../local-test/transform-local.sh'), ['--input', path.join(input, 'rows.csv'), '--output', output, '--endpoint', `http://127.0.0.1:${pipeline.port}`, '--max-payload-mb', '1', '--accept', 'text/csv'], { encoding: 'utf8', timeout: 120_000 });
    expect(run.status).toBe(0);
    const out = fs.readFileSync(path.join(output, 'rows.csv.out'), 'utf8');
    const whole = await post(pipeline, `${lines.join('\n')}\n`, 'text/csv', 'text/csv');
    expect(out.split('\n').filter(Boolean)).toHaveLength(80_000);
    // Mini-batches may share runs with each other (batching), so the last bit of a probability may differ.
    const [got, want] = [out, whole.body].map((text) => (parse(text) as string[][]).map(([label, p]) => [label, ...JSON.parse(p)]));
    expect(got.map((r) => r[0])).toEqual(want.map((r) => r[0]));
    let worst = 0;
    got.forEach((r, k) => r.slice(1).forEach((p, j) => (worst = Math.max(worst, Math.abs(p - want[k][j + 1])))));
    expect(worst).toBeLessThan(1e-6);
  });
});

describe('other mixed-type shapes', () => {
  let strings: Server;
  let numbersAndString: Server;
  let ambiguous: Server;
  beforeAll(async () => {
    const env = { MODEL_SERVER_WORKERS: '1' };
    [strings, numbersAndString, ambiguous] = await Promise.all([
      startServer({ baseDir: baseDir({ 'model.onnx': stringMatrixModel() }), env }),
      startServer({ baseDir: baseDir({ 'model.onnx': numbersAndStringModel(), 'model.json': JSON.stringify({ features: ['x0', 'x1', 'color'] }) }), env }),
      startServer({ baseDir: baseDir({ 'model.onnx': ambiguousColumnsModel() }), env }),
    ]);
  });
  afterAll(() => Promise.all([strings?.stop(), numbersAndString?.stop(), ambiguous?.stop()]));

  test('one string [N, F] input: rows of text by position (a header only with header=present, having no names)', async () => {
    const direct = await ort.InferenceSession.create(path.join(strings.baseDir, 'model/model.onnx'));
    const cells = ['a', 'b', 'c', 'c', 'zz', 'a'];
    const want = Array.from((await direct.run({ codes: new ort.Tensor('string', cells, [2, 3]) })).score.data as Float32Array);
    const csvReply = await post(strings, 'a,b,c\nc,zz,a\n', 'text/csv', 'application/json');
    expect(csvReply.json().predictions.map((p: { score: number }) => p.score)).toEqual(want);
    const headed = await post(strings, 'p,q,r\na,b,c\nc,zz,a\n', 'text/csv; header=present', 'application/json');
    expect(headed.json().predictions.map((p: { score: number }) => p.score)).toEqual(want);
    const jsonReply = await post(strings, '[["a", "b", "c"], ["c", "zz", "a"]]', 'application/json');
    expect(jsonReply.json().predictions.map((p: { score: number }) => p.score)).toEqual(want);
  });

  test('a number [N, 2] input beside a string [N, 1] one, named by model.json: every format, by name and by position', async () => {
    const direct = await ort.InferenceSession.create(path.join(numbersAndString.baseDir, 'model/model.onnx'));
    const out = await direct.run({ numbers: new ort.Tensor('float32', Float32Array.from([1.5, 2, -1, 0.25]), [2, 2]), color: new ort.Tensor('string', ['red', 'blue'], [2, 1]) });
    const want = Array.from(out.score.data as Float32Array);
    const scores = (reply: Reply) => records(reply).map((p) => Number(p.score ?? p.predicted_label));
    expect(scores(await post(numbersAndString, '1.5,2,red\n-1,0.25,blue', 'text/csv', 'application/json'))).toEqual(want);
    expect(scores(await post(numbersAndString, 'color,x1,x0\nred,2,1.5\nblue,0.25,-1', 'text/csv', 'application/json'))).toEqual(want);
    expect(scores(await post(numbersAndString, '{"x0": 1.5, "x1": 2, "color": "red"}\n{"x0": -1, "x1": 0.25, "color": "blue"}', 'application/jsonlines', 'application/json'))).toEqual(want);
    const one = await request(numbersAndString.port, 'GET', '/predict_parameters?x0=1.5&x1=2&color=red');
    expect(one.json()).toEqual({ score: want[0] });
  });

  test('inputs whose columns cannot be told apart: the start-up line says why, rows get a 415 saying it, V2 still serves', async () => {
    // /ping may answer 200 a moment before the primary's ready line has come through its stdout.
    const ready = await ambiguous.waitForLog((l) => /^ready:/.test(l.msg));
    expect(ready).toMatchObject({ kind: 'tensor', rowsRefused: expect.stringContaining('inputs "numbers" and "codes" have no fixed number of columns') });
    const rows = await post(ambiguous, '1,2,a', 'text/csv');
    expect(rows.status).toBe(415);
    expect(rows.json().error.message).toMatch(/^rows cannot be mapped onto this model's inputs \(inputs "numbers" and "codes" have no fixed number of columns.*\): send KServe V2 tensors/);
    const v2 = await post(ambiguous, JSON.stringify({ inputs: [{ name: 'numbers', shape: [1, 2], datatype: 'FP32', data: [1, 2] }, { name: 'codes', shape: [1, 3], datatype: 'BYTES', data: ['a', 'b', 'c'] }] }), 'application/json');
    expect(v2.status).toBe(200);
    expect(v2.json().outputs[0].data).toEqual([6]);
  });
});
