// The real stack (nginx + cluster workers + inference threads) serving the bundled iris model.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { exampleBase, EXAMPLE_DIR } from '../helpers/models';
import { csv, request, requireNginx, startServer, type Server } from '../helpers/server';

const ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.4, 3.2, 4.5, 1.5],
  [6.7, 3.0, 5.2, 2.3],
  [5.9, 3.0, 5.1, 1.8],
];
const CLASSES = ['setosa', 'versicolor', 'virginica'];

/** What onnxruntime itself says for ROWS: the answers the server must reproduce. */
async function expected(): Promise<{ labels: string[]; probabilities: number[][] }> {
  const session = await ort.InferenceSession.create(path.join(EXAMPLE_DIR, 'model/model.onnx'));
  const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(ROWS.flat()), [ROWS.length, 4]) });
  const p = Array.from(out.probabilities.data as Float32Array);
  return { labels: Array.from(out.label.data as string[]), probabilities: ROWS.map((_, r) => p.slice(r * 3, r * 3 + 3)) };
}

describe('serving the example model through nginx, workers and threads', () => {
  let server: Server;
  let truth: Awaited<ReturnType<typeof expected>>;

  beforeAll(async () => {
    requireNginx();
    truth = await expected();
    server = await startServer({ baseDir: exampleBase(), env: { MODEL_SERVER_WORKERS: '3', MODEL_SERVER_THREADS: '2', SAGEMAKER_INFERENCE_OUTPUT: 'predicted_label,probability,probabilities,labels' } });
  });
  afterAll(() => server?.stop());

  test('GET /ping answers 200 with an empty body once ready', async () => {
    const reply = await request(server.port, 'GET', '/ping');
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('');
  });

  test('runs the configured number of worker processes, each with its own socket', () => {
    expect(server.workerPids()).toHaveLength(3);
    for (const slot of [0, 1, 2]) expect(fs.existsSync(path.join(server.runDir, `worker-${slot}.sock`))).toBe(true);
  });

  test('CSV in, CSV out: one line per row, in order, equal to onnxruntime', async () => {
    const reply = await csv(server.port, ROWS.map((r) => r.join(',')).join('\n'), 'text/csv');
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^text\/csv/);
    const lines = reply.body.trimEnd().split('\n');
    expect(lines).toHaveLength(ROWS.length);
    lines.forEach((line, r) => {
      const [label, probability, probabilities, labels] = line.match(/("[^"]*(?:""[^"]*)*"|[^,]+)/g)!.map((c) => c.replace(/^"|"$/g, '').replace(/""/g, '"'));
      expect(label).toBe(truth.labels[r]);
      expect(Number(probability)).toBeCloseTo(Math.max(...truth.probabilities[r]), 6);
      JSON.parse(probabilities).forEach((p: number, j: number) => expect(p).toBeCloseTo(truth.probabilities[r][j], 6));
      expect(JSON.parse(labels)).toEqual(CLASSES);
    });
    expect(truth.labels).toEqual(['setosa', 'versicolor', 'virginica', 'virginica']);
  });

  test('JSON instances in, JSON out, with rows as arrays or objects keyed by feature name', async () => {
    const names = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];
    const instances = ROWS.map((r, i) => (i % 2 ? Object.fromEntries(names.map((n, j) => [n, r[j]])) : r));
    const reply = await request(server.port, 'POST', '/invocations', { body: JSON.stringify({ instances }), headers: { 'Content-Type': 'application/json', Accept: 'application/json' } });
    expect(reply.status).toBe(200);
    const { predictions } = reply.json();
    expect(predictions).toHaveLength(ROWS.length);
    predictions.forEach((p: any, r: number) => {
      expect(Object.keys(p)).toEqual(['predicted_label', 'probability', 'probabilities', 'labels']);
      expect(p.predicted_label).toBe(truth.labels[r]);
      p.probabilities.forEach((v: number, j: number) => expect(v).toBeCloseTo(truth.probabilities[r][j], 6));
    });
  });

  test('CSV in with Accept application/json, and a header line matched by name in any column order', async () => {
    const body = `petal_width,petal_length,sepal_width,sepal_length\n${ROWS.map((r) => [r[3], r[2], r[1], r[0]].join(',')).join('\n')}\n`;
    const reply = await csv(server.port, body, 'application/json');
    expect(reply.status).toBe(200);
    expect(reply.json().predictions.map((p: any) => p.predicted_label)).toEqual(truth.labels);
  });

  test('a bad row gets 400 naming line and column, and the server keeps serving', async () => {
    const bad = await csv(server.port, '5.1,3.5,1.4,0.2\n6.4,x,4.5,1.5\n');
    expect(bad.status).toBe(400);
    expect(bad.json()).toEqual({ error: { code: 'INVALID_VALUE', message: 'line 2, column 2: "x" is not a number' } });
    const short = await csv(server.port, '5.1,3.5,1.4\n');
    expect(short.status).toBe(400);
    expect(short.json().error.code).toBe('WRONG_FEATURE_COUNT');
    expect(short.json().error.message).toMatch(/line 1: 3 value\(s\), but the model has 4 feature\(s\)/);
    expect((await csv(server.port, '5.1,3.5,1.4,0.2')).status).toBe(200);
  });

  test('unsupported Content-Type is 415 and an unsatisfiable Accept is 406, both naming the supported types', async () => {
    const r415 = await request(server.port, 'POST', '/invocations', { body: '<x/>', headers: { 'Content-Type': 'text/xml' } });
    expect(r415.status).toBe(415);
    expect(r415.json().error.message).toMatch(/text\/csv.*application\/json/);
    const r406 = await csv(server.port, '5.1,3.5,1.4,0.2', 'image/png');
    expect(r406.status).toBe(406);
    expect(r406.json().error.message).toMatch(/text\/csv.*application\/json/);
  });

  test('unknown paths are 404 and wrong methods 405, as JSON', async () => {
    const r404 = await request(server.port, 'GET', '/nope');
    expect(r404.status).toBe(404);
    expect(r404.json().error.code).toBe('NOT_FOUND');
    const r405 = await request(server.port, 'GET', '/invocations');
    expect(r405.status).toBe(405);
    expect(r405.headers.allow).toBe('POST');
  });

  test("requests nginx itself cannot read get the same JSON errors (malformed path, huge URL or header)", async () => {
    const answers = [
      await request(server.port, 'GET', '/%zz'),
      await request(server.port, 'GET', `/${'a'.repeat(20_000)}`),
      await request(server.port, 'GET', '/ping', { headers: { 'X-Big': 'a'.repeat(20_000) } }),
    ];
    expect(answers.map((r) => [r.status, r.json().error.code])).toEqual([
      [400, 'INVALID_PARAMETER'],
      [414, 'URI_TOO_LONG'],
      [431, 'HEADERS_TOO_LARGE'],
    ]);
    expect((await request(server.port, 'GET', '/ping')).status).toBe(200);
  });

  test('a body over SAGEMAKER_MAX_PAYLOAD_IN_MB is refused by nginx with the JSON 413 naming the limit', async () => {
    const big = '5.1,3.5,1.4,0.2\n'.repeat(Math.ceil((6 * 1024 * 1024) / 16) + 10);
    const reply = await csv(server.port, big);
    expect(reply.status).toBe(413);
    expect(reply.json().error.code).toBe('PAYLOAD_TOO_LARGE');
    expect(reply.json().error.message).toMatch(/6 MB \(6291456 bytes\).*SAGEMAKER_MAX_PAYLOAD_IN_MB/);
  });

  test('GET /execution-parameters reports what this server can run at once and its payload limit', async () => {
    const reply = await request(server.port, 'GET', '/execution-parameters');
    expect(reply.json()).toEqual({ MaxConcurrentTransforms: 6, BatchStrategy: 'MULTI_RECORD', MaxPayloadInMB: 6 });
  });

  test('logs one JSON line per request with id, method, path, status, duration and rows; /ping only at debug', async () => {
    const reply = await csv(server.port, '5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3');
    const sagemakerId = await request(server.port, 'POST', '/invocations', {
      body: '5.1,3.5,1.4,0.2',
      headers: { 'Content-Type': 'text/csv', 'X-Amzn-SageMaker-Inference-Id': 'sm-inference-42' },
    });
    const callerId = await request(server.port, 'POST', '/invocations', { body: '5.1,3.5,1.4,0.2', headers: { 'Content-Type': 'text/csv', 'X-Request-Id': 'caller-7' } });
    expect(sagemakerId.headers).toMatchObject({ 'x-request-id': 'sm-inference-42' });
    expect(callerId.headers).toMatchObject({ 'x-request-id': 'caller-7' });
    const generated = reply.headers['x-request-id'] as string;
    expect(generated).toMatch(/^[0-9a-f-]{36}$/);

    const line = await server.waitForLog((l) => l.reqId === generated);
    expect(line).toMatchObject({ level: 'info', req: { method: 'POST', path: '/invocations' }, res: { status: 200 }, rows: 2 });
    expect(typeof line.durationMs).toBe('number');
    await server.waitForLog((l) => l.reqId === 'sm-inference-42');
    await server.waitForLog((l) => l.reqId === 'caller-7');
    expect(server.logs.filter((l) => (l.req as any)?.path === '/ping')).toHaveLength(0);
    // Everything the stack printed, nginx included, is a JSON line.
    expect(server.nonJsonOutput()).toEqual([]);
  });

  test('the start-up line names the model, its inputs and outputs, workers, threads and time to ready', () => {
    const ready = server.logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('ready:'))!;
    expect(ready).toMatchObject({
      kind: 'classifier',
      workers: 3,
      threadsPerWorker: 2,
      inputs: [{ name: 'input', type: 'float32', shape: ['N', 4] }],
      outputs: [{ name: 'label', type: 'string' }, { name: 'probabilities', type: 'float32' }],
      // The example's label is ArgMax -> Gather in the graph: looked up from the probabilities.
      labelsFromProbabilities: true,
    });
    expect(ready.model).toMatch(/model\.onnx$/);
    expect(typeof ready.readyMs).toBe('number');
  });
});
