// GET /metrics on the real stack: the counters agree exactly with the requests a test sends, on every route
// that invokes a model; they never go down, not even when a worker is SIGKILLed under load; multi-model
// loads and unloads are counted; MODEL_SERVER_METRICS=false turns the route off.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EXAMPLE_DIR, baseDir, exampleBase } from '../helpers/models';
import { parsePrometheus, sumOf, valueOf, type Sample } from '../helpers/prometheus';
import { alive, csv, request, requireNginx, sleep, startServer, until, type Server } from '../helpers/server';

const ROW = '5.1,3.5,1.4,0.2';
const V2 = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] });

/** Names whose samples may never go down: counters, and histograms' buckets, sums and counts (from the # TYPE lines). */
const monotonicNames = new Set<string>();

async function scrape(server: Server): Promise<Sample[]> {
  const reply = await request(server.port, 'GET', '/metrics');
  expect(reply.status).toBe(200);
  expect(reply.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  for (const [, name, type] of reply.body.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    if (type === 'counter') monotonicNames.add(name);
    if (type === 'histogram') for (const part of ['_bucket', '_count', '_sum']) monotonicNames.add(`${name}${part}`);
  }
  return parsePrometheus(reply.body);
}

beforeAll(() => requireNginx());

describe('a single-model endpoint', () => {
  let server: Server;
  beforeAll(async () => {
    server = await startServer({ baseDir: exampleBase(), env: { MODEL_SERVER_MODEL_NAME: 'iris' } });
  });
  afterAll(() => server.stop());

  test('counts every inference request by model, route and status, and times each one exactly once', async () => {
    for (let i = 0; i < 7; i++) expect((await csv(server.port, ROW)).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await csv(server.port, '5.1,oops,1.4,0.2')).status).toBe(400);
    for (let i = 0; i < 4; i++) expect((await request(server.port, 'POST', '/v2/models/iris/infer', { body: V2 })).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await request(server.port, 'GET', '/predict_parameters?sepal_length=5.1&sepal_width=3.5&petal_length=1.4&petal_width=0.2')).status).toBe(200);
    expect((await request(server.port, 'POST', '/invocations', { body: ROW, headers: { 'Content-Type': 'text/xml' } })).status).toBe(415);
    // Not inference requests: not counted.
    await request(server.port, 'GET', '/ping');
    await request(server.port, 'GET', '/v2/models/iris');
    await request(server.port, 'GET', '/nowhere');

    const s = await scrape(server);
    const requests = (route: string, status: string) => valueOf(s, 'model_server_requests_total', { model: 'iris', route, status });
    expect(requests('invocations', '200')).toBe(7);
    expect(requests('invocations', '400')).toBe(3);
    expect(requests('invocations', '415')).toBe(1);
    expect(requests('v2-infer', '200')).toBe(4);
    expect(requests('predict-parameters', '200')).toBe(2);
    expect(sumOf(s, 'model_server_requests_total')).toBe(17);
    expect(valueOf(s, 'model_server_request_duration_seconds_count', { model: 'iris', route: 'invocations' })).toBe(11);
    expect(valueOf(s, 'model_server_request_duration_seconds_bucket', { model: 'iris', route: 'invocations', le: '+Inf' })).toBe(11);
    // Queue wait, run time and batch size for the requests that reached a thread (the 415 did not).
    expect(valueOf(s, 'model_server_queue_wait_seconds_count', { model: 'iris' })).toBe(16);
    expect(valueOf(s, 'model_server_inference_duration_seconds_count', { model: 'iris' })).toBe(16);
    expect(valueOf(s, 'model_server_batch_size_count', { model: 'iris' })).toBe(16);
    expect(valueOf(s, 'model_server_batch_size_sum', { model: 'iris' })).toBe(16);
    expect(valueOf(s, 'model_server_requests_in_flight', { model: 'iris' })).toBe(0);
    expect(valueOf(s, 'model_server_models_loaded')).toBe(1);
    expect(valueOf(s, 'model_server_worker_restarts_total')).toBe(0);
    // Process metrics, summed over the primary and both workers by prom-client's aggregation.
    expect(valueOf(s, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(valueOf(s, 'process_resident_memory_bytes')).toBeGreaterThan(3 * 20 * 2 ** 20);
    // Every name is Prometheus-shaped, counters end in _total, and durations are in seconds.
    for (const { name } of s) expect(name).toMatch(/^[a-z_][a-z0-9_]*$/);
    const text = (await request(server.port, 'GET', '/metrics')).body;
    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      if (type === 'counter') expect(name).toMatch(/_total$/);
      if (name.startsWith('model_server_') && type === 'histogram' && name !== 'model_server_batch_size') expect(name).toMatch(/_seconds$/);
    }
  });

  test('HEAD answers the headers; other methods 405', async () => {
    expect((await request(server.port, 'HEAD', '/metrics')).status).toBe(200);
    const post = await request(server.port, 'POST', '/metrics', { body: 'x' });
    expect({ status: post.status, allow: post.headers.allow, code: post.json().error.code }).toEqual({ status: 405, allow: 'GET, HEAD', code: 'METHOD_NOT_ALLOWED' });
  });
});

describe('a worker SIGKILLed under load', () => {
  test('no counter ever goes down, and the totals equal the answers the workers gave', async () => {
    const server = await startServer({ baseDir: exampleBase(), env: { MODEL_SERVER_WORKERS: '2' } });
    try {
      let answeredByWorkers = 0;
      let lost = 0;
      let stop = false;
      const client = async () => {
        while (!stop) {
          const reply = await csv(server.port, ROW).catch(() => undefined);
          // nginx's own answers (a request on the dying worker, none listening) carry no request id.
          if (reply && reply.headers['x-request-id']) answeredByWorkers += 1;
          else lost += 1;
        }
      };
      const clients = Array.from({ length: 4 }, client);
      const scrapes: Sample[][] = [];
      const scraper = (async () => {
        while (!stop) {
          scrapes.push(await scrape(server));
          await sleep(100);
        }
      })();
      await sleep(800);
      const [victim] = server.workerPids();
      process.kill(victim, 'SIGKILL');
      expect(await until(() => !alive(victim), 5000)).toBe(true);
      await server.waitReady();
      await sleep(800);
      stop = true;
      await Promise.all([...clients, scraper]);
      const final = await scrape(server);
      scrapes.push(final);
      const counted = sumOf(final, 'model_server_requests_total');
      console.log(`answered by workers: ${answeredByWorkers}; lost at the kill: ${lost}; counted: ${counted}; scrapes: ${scrapes.length}`);
      // The record is written before the answer, so every answer a client received is counted; a request
      // whose worker died between its record and its answer is counted too, though its client got nginx's
      // 502: at most one per request lost at the kill, and at most one per client.
      expect(counted).toBeGreaterThanOrEqual(answeredByWorkers);
      expect(counted - answeredByWorkers).toBeLessThanOrEqual(Math.min(lost, 4));
      expect(valueOf(final, 'model_server_worker_restarts_total')).toBe(1);
      // Every counter series and histogram count, scrape after scrape: never lower than before.
      const monotonic = (s: Sample) => monotonicNames.has(s.name);
      expect(monotonicNames).toContain('process_cpu_seconds_total');
      for (let i = 1; i < scrapes.length; i++) {
        const before = new Map(scrapes[i - 1].filter(monotonic).map((s) => [`${s.name}${JSON.stringify(s.labels)}`, s.value]));
        for (const s of scrapes[i].filter(monotonic)) {
          const was = before.get(`${s.name}${JSON.stringify(s.labels)}`);
          if (was !== undefined && s.value < was) throw new Error(`${s.name}${JSON.stringify(s.labels)} went down from ${was} to ${s.value} between scrapes ${i - 1} and ${i}`);
        }
      }
    } finally {
      await server.stop();
    }
  });
});

describe('a multi-model endpoint', () => {
  test('counts loads (success and failure), unloads, their durations and the loaded models, and requests per model', async () => {
    const base = baseDir();
    for (const name of ['a', 'b']) {
      fs.mkdirSync(path.join(base, 'models', name), { recursive: true });
      fs.copyFileSync(path.join(EXAMPLE_DIR, 'model/model.onnx'), path.join(base, 'models', name, 'model.onnx'));
    }
    const server = await startServer({ baseDir: base, env: { SAGEMAKER_MULTI_MODEL: 'true' } });
    try {
      const load = (name: string, url: string) => request(server.port, 'POST', '/models', { body: JSON.stringify({ model_name: name, url }), headers: { 'Content-Type': 'application/json' } });
      expect((await load('a', path.join(base, 'models/a'))).status).toBe(200);
      expect((await load('b', path.join(base, 'models/b'))).status).toBe(200);
      expect((await load('c', path.join(base, 'models/none'))).status).toBe(404);
      for (let i = 0; i < 3; i++) expect((await request(server.port, 'POST', '/models/a/invoke', { body: ROW, headers: { 'Content-Type': 'text/csv' } })).status).toBe(200);
      expect((await request(server.port, 'POST', '/v2/models/b/infer', { body: V2 })).status).toBe(200);
      expect((await request(server.port, 'POST', '/models/zzz/invoke', { body: ROW, headers: { 'Content-Type': 'text/csv' } })).status).toBe(404);
      expect((await request(server.port, 'DELETE', '/models/b')).status).toBe(200);
      const s = await scrape(server);
      expect(valueOf(s, 'model_server_model_loads_total', { result: 'success' })).toBe(2);
      expect(valueOf(s, 'model_server_model_loads_total', { result: 'failure' })).toBe(1);
      expect(valueOf(s, 'model_server_model_load_duration_seconds_count')).toBe(2);
      expect(valueOf(s, 'model_server_model_unloads_total')).toBe(1);
      expect(valueOf(s, 'model_server_model_unload_duration_seconds_count')).toBe(1);
      expect(valueOf(s, 'model_server_models_loaded')).toBe(1);
      expect(valueOf(s, 'model_server_requests_total', { model: 'a', route: 'invoke-model', status: '200' })).toBe(3);
      expect(valueOf(s, 'model_server_requests_total', { model: 'b', route: 'v2-infer', status: '200' })).toBe(1);
      // A name the server never held is one label, whatever the caller sends.
      expect(valueOf(s, 'model_server_requests_total', { model: '(unknown)', route: 'invoke-model', status: '404' })).toBe(1);
    } finally {
      await server.stop();
    }
  });
});

test('MODEL_SERVER_METRICS=false: no /metrics route', async () => {
  const server = await startServer({ baseDir: exampleBase(), env: { MODEL_SERVER_METRICS: 'false' } });
  try {
    const reply = await request(server.port, 'GET', '/metrics');
    expect({ status: reply.status, code: reply.json().error.code }).toEqual({ status: 404, code: 'NOT_FOUND' });
  } finally {
    await server.stop();
  }
});
