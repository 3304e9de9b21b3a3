// Proxy mode with a real Java scorer that serve starts and supervises: the data path (bodies both ways,
// streaming, limits, timeout, headers, redirects, the scorer's own errors, the request log), /ping's truth,
// and the scorer's temporary directory. proxy-supervision.test.ts covers exits, signals and leftovers.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { raw } from '../helpers/raw-http';
import { descendants, javaScorer, requireJava, scorerPid, startProxy } from '../helpers/scorers';
import { alive, request, requireNginx, sleep, until, type LogLine, type Server } from '../helpers/server';

const RANGE = { from: 21300, to: 21399 };
const LIMIT_MB = 1;

let server: Server;
let scorer: number;

/** A request straight to the scorer (not through the product). */
const direct = (method: string, urlPath: string) => request(scorer, method, urlPath);

const invoke = (body: string | Buffer, headers: Record<string, string> = {}) =>
  request(server.port, 'POST', '/invocations', { body, headers: { 'Content-Type': 'text/csv', ...headers } });

/** The request log lines nginx wrote, by request id. */
const requestLine = (id: string) => server.waitForLog((l) => l.reqId === id && l.role === 'nginx', 5000);

beforeAll(async () => {
  requireNginx();
  requireJava();
  server = await startProxy(
    {
      MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:0',
      MODEL_SERVER_UPSTREAM_COMMAND: javaScorer(),
      MODEL_SERVER_UPSTREAM_INVOCATIONS_PATH: '/score',
      MODEL_SERVER_UPSTREAM_HEALTH_PATH: '/health',
      SCORER_INVOCATIONS_PATH: '/score',
      SCORER_HEALTH_PATH: '/health',
      // The scorer listens at once but calls itself healthy only after this long.
      SCORER_HEALTHY_AFTER_MS: '4000',
      SAGEMAKER_SAFE_PORT_RANGE: `${RANGE.from}-${RANGE.to}`,
      SAGEMAKER_MAX_PAYLOAD_IN_MB: String(LIMIT_MB),
      MODEL_SERVER_TIMEOUT: '2',
    },
    false,
  );
}, 60_000);

afterAll(() => server?.stop());

describe('start-up', () => {
  test('/ping answers 503 until the scorer\'s health path answers 2xx (UPSTREAM_UNHEALTHY once the workers listen), then 200', async () => {
    const answers: { status: number; code?: string; message?: string }[] = [];
    const deadline = Date.now() + 30_000;
    while (answers.at(-1)?.status !== 200 && Date.now() < deadline) {
      const ping = await request(server.port, 'GET', '/ping', { timeoutMs: 2000 }).catch(() => undefined);
      if (ping) answers.push({ status: ping.status, ...(ping.status === 200 ? {} : ping.json().error) });
      await sleep(50);
    }
    expect(answers.at(-1)?.status).toBe(200);
    // Before: nginx's own NOT_READY while no worker listens yet, then the workers' word on the scorer.
    expect(answers.slice(0, -1).every((a) => a.status === 503 && (a.code === 'NOT_READY' || a.code === 'UPSTREAM_UNHEALTHY'))).toBe(true);
    const unhealthy = answers.filter((a) => a.code === 'UPSTREAM_UNHEALTHY');
    expect(unhealthy.length).toBeGreaterThan(0);
    expect(unhealthy.at(-1)!.message).toMatch(/^the scorer is not healthy: GET http:\/\/127\.0\.0\.1:\d+\/health answered 503: unhealthy$/);
    const ready = await server.waitForLog((l) => /^ready: proxying/.test(l.msg));
    expect(ready).toMatchObject({ invocations: '/score', health: '/health' });
    scorer = Number(/:(\d+)$/.exec(ready.upstream as string)![1]);
  }, 40_000);

  test('the scorer\'s port comes from SAGEMAKER_SAFE_PORT_RANGE and reaches its command as $MODEL_SERVER_UPSTREAM_PORT', async () => {
    expect(scorer).toBeGreaterThanOrEqual(RANGE.from);
    expect(scorer).toBeLessThanOrEqual(RANGE.to);
    const started = server.logs.find((l) => l.msg === 'started the scorer (MODEL_SERVER_UPSTREAM_COMMAND)')!;
    expect(started.port).toBe(scorer);
    // The scorer's own output, as JSON lines in the log: it listens where serve said.
    expect(server.logs.some((l) => l.source === 'upstream' && l.stream === 'stdout' && l.msg.startsWith(`scorer: listening on 127.0.0.1:${scorer}`))).toBe(true);
  });

  test('the scorer\'s temporary directory is MODEL_SERVER_RUN_DIR/upstream-tmp: TMPDIR and java.io.tmpdir, and Java writes there', async () => {
    const reply = await invoke('x', { 'X-Scorer-Behaviour': 'tmpdir' });
    expect(reply.status).toBe(200);
    const dir = path.join(server.runDir, 'upstream-tmp');
    expect(reply.json()).toMatchObject({ javaIoTmpdir: dir, TMPDIR: dir });
    const file = reply.json().tempFile as string;
    expect(path.dirname(file)).toBe(dir);
    expect(fs.existsSync(file)).toBe(true);
  });

  test('the workers hold no model: the base directory has none, and the ready line names the scorer', () => {
    expect(fs.readdirSync(server.baseDir)).toEqual([]);
    expect(server.logs.some((l) => l.msg.startsWith('ready: serving'))).toBe(false);
  });
});

describe('the data path', () => {
  test('bodies reach the scorer and come back byte for byte, with its Content-Type', async () => {
    const csv = await invoke('5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3');
    expect(csv.status).toBe(200);
    expect(csv.headers['content-type']).toBe('text/csv');
    expect(csv.body).toBe('5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3');
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const binary = await new Promise<Buffer>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/invocations', headers: { 'Content-Type': 'application/octet-stream' }, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks)));
      });
      req.on('error', reject);
      req.end(bytes);
    });
    expect(binary.equals(bytes)).toBe(true);
  });

  test('the payload limit is the same: at the limit the scorer gets it all, over it nginx answers 413 JSON (Content-Length or chunked)', async () => {
    const limit = LIMIT_MB * 1024 * 1024;
    const atLimit = await invoke(Buffer.alloc(limit, 'a'), { 'X-Scorer-Behaviour': 'count' });
    expect(atLimit.json()).toEqual({ bytes: limit });
    const over = await invoke(Buffer.alloc(limit + 1, 'a'), { 'X-Scorer-Behaviour': 'count' });
    expect(over.status).toBe(413);
    expect(over.json().error).toEqual({ code: 'PAYLOAD_TOO_LARGE', message: `the request body is larger than the ${LIMIT_MB} MB (${limit} bytes) limit; raise SAGEMAKER_MAX_PAYLOAD_IN_MB, or send smaller mini-batches` });
    const chunked = await invoke(Buffer.alloc(limit + 1, 'a'), { 'X-Scorer-Behaviour': 'count', 'Transfer-Encoding': 'chunked' });
    expect(chunked.status).toBe(413);
    expect(chunked.json().error.code).toBe('PAYLOAD_TOO_LARGE');
    const line = await requestLine(over.headers['x-request-id'] as string);
    expect(line).toMatchObject({ level: 'warn', res: { status: 413 }, error: 'PAYLOAD_TOO_LARGE' });
  });

  test('a request body streams to the scorer: it has the first part before the caller sends the rest', async () => {
    const part = Buffer.alloc(256 * 1024, 'b');
    let answer = '';
    const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/invocations', agent: false, headers: { 'Content-Type': 'text/csv', 'Transfer-Encoding': 'chunked', 'X-Scorer-Behaviour': 'count' } });
    const done = new Promise<number>((resolve, reject) => {
      req.on('response', (res) => {
        res.on('data', (c) => (answer += c));
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
    });
    req.write(part);
    let arrived = 0;
    for (let i = 0; i < 100 && arrived < part.length; i++) {
      await sleep(50);
      arrived = (await direct('GET', '/admin/received')).json().bytes;
    }
    expect(arrived).toBeGreaterThanOrEqual(part.length);
    req.end(part);
    expect(await done).toBe(200);
    expect(JSON.parse(answer)).toEqual({ bytes: 2 * part.length });
  });

  test('an answer streams to the caller: the first half arrives while the scorer still holds the second', async () => {
    const received: string[] = [];
    const finished = new Promise<void>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/invocations', agent: false, headers: { 'X-Scorer-Behaviour': 'hold' } }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (c: string) => received.push(c));
        res.on('end', () => resolve());
      });
      req.on('error', reject);
      req.end('x');
    });
    expect(await until(() => received.join('') === 'first half\n', 10_000)).toBe(true);
    expect((await direct('POST', '/admin/release')).status).toBe(200);
    await finished;
    expect(received.join('')).toBe('first half\nsecond half\n');
  });

  test('nginx keeps its connections to the scorer alive', async () => {
    const before = (await direct('GET', '/admin/connections')).json().connections as number;
    // Each request on a fresh client connection; nginx should need one scorer connection per nginx worker.
    for (let i = 0; i < 30; i++) expect((await invoke('1')).status).toBe(200);
    const after = (await direct('GET', '/admin/connections')).json().connections as number;
    expect(after - before).toBeLessThanOrEqual(4);
  });

  test('the data path does not cross Node: invocations are answered while every worker is stopped (SIGSTOP)', async () => {
    const workers = server.workerPids();
    expect(workers).toHaveLength(2);
    for (const pid of workers) process.kill(pid, 'SIGSTOP');
    try {
      const reply = await invoke('1,2', { 'X-Request-Id': 'while-workers-sleep' });
      expect(reply.status).toBe(200);
      expect(reply.body).toBe('1,2');
    } finally {
      for (const pid of workers) process.kill(pid, 'SIGCONT');
    }
    await requestLine('while-workers-sleep');
    expect(server.logs.filter((l) => l.role === 'worker' && (l.req as { path?: string } | undefined)?.path === '/invocations')).toEqual([]);
  });
});

describe('headers and the request log', () => {
  test('X-Amzn-SageMaker-Custom-Attributes goes to the scorer and its answer comes back', async () => {
    const reply = await invoke('1', { 'X-Amzn-SageMaker-Custom-Attributes': 'trace=on,k=v' });
    expect(reply.headers['x-amzn-sagemaker-custom-attributes']).toBe('echo:trace=on,k=v');
  });

  test("SageMaker's inference id is the request id: the scorer gets it as X-Request-Id and the caller gets it back", async () => {
    const reply = await invoke('1', { 'X-Amzn-SageMaker-Inference-Id': 'sm-inference-42' });
    expect(reply.headers['x-scorer-saw-inference-id']).toBe('sm-inference-42');
    expect(reply.headers['x-scorer-saw-request-id']).toBe('sm-inference-42');
    expect(reply.headers['x-request-id']).toBe('sm-inference-42');
    const given = await invoke('1', { 'X-Request-Id': 'caller-7' });
    expect([given.headers['x-scorer-saw-request-id'], given.headers['x-request-id']]).toEqual(['caller-7', 'caller-7']);
    // None given: one is made, the same on both sides, and there is exactly one on the answer.
    const made = await invoke('1');
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
    expect(made.headers['x-scorer-saw-request-id']).toBe(made.headers['x-request-id']);
  });

  test('every invocation is one JSON log line in the workers\' shape, written by nginx', async () => {
    const reply = await invoke('1', { 'X-Request-Id': 'logged-once' });
    expect(reply.status).toBe(200);
    const line = await requestLine('logged-once');
    expect(line).toMatchObject({ level: 'info', role: 'nginx', req: { method: 'POST', path: '/invocations' }, res: { status: 200 }, msg: 'POST /invocations 200' });
    expect(typeof line.durationMs).toBe('number');
    expect(typeof line.time).toBe('string');
    await sleep(300);
    expect(server.logs.filter((l) => l.reqId === 'logged-once')).toHaveLength(1);
    // /ping is the workers' and stays at debug.
    expect(server.logs.some((l: LogLine) => (l.req as { path?: string } | undefined)?.path === '/ping')).toBe(false);
  });
});

describe('timeouts and upstream failures', () => {
  test('an answer slower than MODEL_SERVER_TIMEOUT is a 504 JSON at the deadline, and the server stays healthy', async () => {
    const started = Date.now();
    const slow = await invoke('1', { 'X-Scorer-Behaviour': 'slow:3000' });
    expect(slow.status).toBe(504);
    expect(slow.json().error).toEqual({ code: 'TIMEOUT', message: `the scorer at http://127.0.0.1:${scorer} did not answer within MODEL_SERVER_TIMEOUT=2 s` });
    expect(Date.now() - started).toBeLessThan(4500);
    expect((await request(server.port, 'GET', '/ping')).status).toBe(200);
    expect((await invoke('after')).body).toBe('after');
    expect(await requestLine(slow.headers['x-request-id'] as string)).toMatchObject({ level: 'error', res: { status: 504 }, error: 'TIMEOUT' });
  });

  test('a redirect from the scorer is a 502 UPSTREAM_REDIRECT saying where it pointed (SageMaker does not follow)', async () => {
    for (const headers of [{}, { 'Transfer-Encoding': 'chunked' }] as Record<string, string>[]) {
      const reply = await invoke('1', { 'X-Scorer-Behaviour': 'redirect', ...headers });
      expect(reply.status).toBe(502);
      expect(reply.headers.location).toBeUndefined();
      expect(reply.json().error).toEqual({
        code: 'UPSTREAM_REDIRECT',
        message: 'the scorer answered 302, a redirect to /SASScoring/score, which SageMaker does not follow; point MODEL_SERVER_UPSTREAM_INVOCATIONS_PATH (now /score) at the path that answers',
      });
      expect(await requestLine(reply.headers['x-request-id'] as string)).toMatchObject({ req: { method: 'POST', path: '/invocations' }, res: { status: 502 }, error: 'UPSTREAM_REDIRECT' });
    }
  });

  test("an X-Accel-Redirect from the scorer moves nothing inside nginx: the caller gets the scorer's answer", async () => {
    // The product's own redirect target, an internal error page, and a worker route.
    for (const target of ['@after_wait', '/_model_server_errors/502', '/ping']) {
      for (const headers of [{}, { 'Transfer-Encoding': 'chunked' }] as Record<string, string>[]) {
        const reply = await invoke('1', { 'X-Scorer-Behaviour': `accel:${target}`, ...headers });
        expect({ target, status: reply.status, body: reply.json(), accel: reply.headers['x-accel-redirect'] }).toEqual({ target, status: 200, body: { scorer: 'its own answer' }, accel: undefined });
      }
    }
  });

  test.each([400, 404, 422, 500, 502, 503, 504])("the scorer's own %i passes through with its body", async (status) => {
    const reply = await invoke('1', { 'X-Scorer-Behaviour': `status:${status}` });
    expect(reply.status).toBe(status);
    expect(reply.headers['content-type']).toBe('application/json');
    expect(reply.json()).toEqual({ scorer: `its own ${status} answer` });
    const line = await requestLine(reply.headers['x-request-id'] as string);
    expect(line).toMatchObject({ level: status >= 500 ? 'error' : 'warn', res: { status } });
    expect(line.error).toBeUndefined();
  });

  test('a malformed chunked body is a 400 JSON, and other methods get the workers\' 405', async () => {
    const bad = await raw(server.port, 'POST /invocations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error.code).toBe('INVALID_PARAMETER');
    const get = await request(server.port, 'GET', '/invocations');
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    expect(get.json().error.code).toBe('METHOD_NOT_ALLOWED');
    expect(get.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
  });

  test('/execution-parameters answers from the workers; /predict_parameters needs an ONNX model', async () => {
    const params = (await request(server.port, 'GET', '/execution-parameters')).json();
    expect(params).toMatchObject({ BatchStrategy: 'MULTI_RECORD', MaxPayloadInMB: LIMIT_MB });
    expect(params.MaxConcurrentTransforms).toBeGreaterThanOrEqual(1);
    const predict = await request(server.port, 'GET', '/predict_parameters?a=1');
    expect(predict.status).toBe(404);
    expect(predict.json().error.message).toMatch(/proxy mode/);
  });
});

describe('/ping tells the truth', () => {
  test('503 while the scorer\'s health path fails, 200 again once it answers 2xx, each change logged once', async () => {
    expect((await request(server.port, 'GET', '/ping')).status).toBe(200);
    expect((await direct('POST', '/admin/health?state=down')).status).toBe(200);
    let ping = await request(server.port, 'GET', '/ping');
    for (let i = 0; i < 60 && ping.status === 200; i++) {
      await sleep(100);
      ping = await request(server.port, 'GET', '/ping');
    }
    expect(ping.status).toBe(503);
    expect(ping.headers['retry-after']).toBe('1');
    expect(ping.json().error).toEqual({ code: 'UPSTREAM_UNHEALTHY', message: `the scorer is not healthy: GET http://127.0.0.1:${scorer}/health answered 503: unhealthy` });
    await server.waitForLog((l) => l.level === 'warn' && /^the scorer is not healthy: .* \/ping answers 503$/.test(l.msg));
    // The scorer still scores: /ping reports health, it does not gate invocations.
    expect((await direct('POST', '/admin/health?state=up')).status).toBe(200);
    await server.waitReady(5000);
    await server.waitForLog((l) => /^the scorer is healthy again/.test(l.msg));
    expect(server.logs.filter((l) => /^the scorer is not healthy/.test(l.msg))).toHaveLength(1);
  });

  test('SIGTERM: /ping says 503 while draining, the in-flight request completes, then the scorer gets SIGTERM with nothing in flight, and nothing is left', async () => {
    const pids = [...server.treePids(), ...descendants(scorerPid(server)!)];
    // primary, 2 workers, nginx master and workers, the scorer's shell and its JVM
    expect(pids.length).toBeGreaterThanOrEqual(6);
    let answeredAt = 0;
    const inFlight = invoke('1', { 'X-Scorer-Behaviour': 'slow:1500' }).then((r) => {
      answeredAt = Date.now();
      return r;
    });
    await sleep(300);
    process.kill(server.pid, 'SIGTERM');
    await server.waitForLog((l) => /shutting down/.test(l.msg));
    const ping = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      http.get({ socketPath: path.join(server.runDir, 'worker-0.sock'), path: '/ping' }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      }).on('error', reject);
    });
    expect(ping.status).toBe(503);
    expect(JSON.parse(ping.body).error).toEqual({ code: 'NOT_READY', message: 'the server is shutting down' });
    const reply = await inFlight;
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('slow answer\n');
    expect((await server.exited).code).toBe(0);
    // Proxy mode too: the scorer's temporary directory goes with the rest of the run directory.
    expect(fs.existsSync(server.runDir)).toBe(false);
    const term = server.logs.find((l) => l.source === 'upstream' && /^scorer: SIGTERM at \d+/.test(l.msg))!;
    const [, at, inflight] = /^scorer: SIGTERM at (\d+) with (\d+) request/.exec(term.msg)!;
    expect(Number(at)).toBeGreaterThanOrEqual(answeredAt - 50);
    expect(Number(inflight)).toBe(0);
    expect(server.logs.some((l) => l.msg === 'the scorer has stopped')).toBe(true);
    expect(server.nonJsonOutput()).toEqual([]);
    expect(await until(() => pids.every((pid) => !alive(pid)), 3000)).toBe(true);
  });
});
