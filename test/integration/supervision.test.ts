// Timeouts, crashed workers, nginx dying and SIGTERM, on the real stack with a model whose run time each
// request controls (see slowModel: the second column is how many loop iterations to spin, ~0.7 us each).
import * as http from 'node:http';
import * as path from 'node:path';
import { baseDir, slowModel } from '../helpers/models';
import { alive, csv, request, requireNginx, sleep, startServer, until } from '../helpers/server';

const FAST = '1.5,0';
// Several seconds of spinning on this machine; the tests set timeouts well below or above it.
const SLOW = '2.5,6000000';

function requestSocket(socketPath: string, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath, path: urlPath }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    }).on('error', reject);
  });
}

function allGone(pids: number[]): boolean {
  return pids.every((pid) => !alive(pid));
}

function waitGone(pids: number[], timeoutMs = 5000): Promise<boolean> {
  return until(() => allGone(pids), timeoutMs);
}

beforeAll(() => requireNginx());

describe('MODEL_SERVER_TIMEOUT', () => {
  test('answers 504 at the deadline and a fresh thread serves the rest while the stuck run finishes', async () => {
    // One worker with one thread: anything answered during the stuck run needs the replacement thread.
    const server = await startServer({ baseDir: baseDir({ 'model.onnx': slowModel() }), env: { MODEL_SERVER_TIMEOUT: '1', MODEL_SERVER_WORKERS: '1', MODEL_SERVER_THREADS: '1' } });
    try {
      const started = Date.now();
      const slow = csv(server.port, SLOW);
      // Queued shortly before the stuck run's deadline: it then has most of its own second for the
      // replacement thread to load (a loaded machine needs more than the 100 ms this once allowed).
      await sleep(800);
      const waiting = csv(server.port, FAST);
      const reply = await slow;
      expect(reply.status).toBe(504);
      expect(reply.json()).toEqual({ error: { code: 'TIMEOUT', message: 'the invocation took longer than MODEL_SERVER_TIMEOUT=1 s and was stopped' } });
      // The app's own answer at the deadline, not nginx's (which would come 5 s later).
      expect(Date.now() - started).toBeLessThan(4000);
      expect((await waiting).status).toBe(200);
      for (let i = 0; i < 5; i++) expect((await csv(server.port, FAST)).body).toBe('1.5\n');
      await server.waitForLog((l) => /replacement inference thread loaded/.test(l.msg));
      // The stuck run is still spinning: the worker process survived and nothing was restarted.
      expect(server.logs.some((l) => /died/.test(l.msg))).toBe(false);
      await server.waitForLog((l) => /timed-out invocation has finished/.test(l.msg), 15_000);
      expect((await request(server.port, 'GET', '/ping')).status).toBe(200);
      expect((await csv(server.port, FAST)).status).toBe(200);
    } finally {
      await server.stop();
    }
    expect(server.nonJsonOutput()).toEqual([]);
  });

  test('with two threads the other thread keeps answering while one is stuck, and /ping stays fast', async () => {
    const server = await startServer({ baseDir: baseDir({ 'model.onnx': slowModel() }), env: { MODEL_SERVER_TIMEOUT: '1', MODEL_SERVER_WORKERS: '1', MODEL_SERVER_THREADS: '2' } });
    try {
      const slow = csv(server.port, SLOW);
      await sleep(100);
      for (let i = 0; i < 5; i++) expect((await csv(server.port, FAST)).status).toBe(200);
      const busy = [slow, csv(server.port, SLOW)];
      await sleep(200);
      const t = Date.now();
      const ping = await request(server.port, 'GET', '/ping');
      const pingMs = Date.now() - t;
      expect(ping.status).toBe(200);
      // Not a benchmark: only proof that /ping does not queue behind inference (which takes seconds here).
      expect(pingMs).toBeLessThan(900);
      expect((await Promise.all(busy)).map((r) => r.status)).toEqual([504, 504]);
      expect(server.logs.some((l) => /died/.test(l.msg))).toBe(false);
    } finally {
      await server.stop();
    }
    expect(server.nonJsonOutput()).toEqual([]);
  });
});

describe('supervision', () => {
  test('a killed worker is replaced within seconds and requests keep being answered meanwhile', async () => {
    const server = await startServer({ baseDir: baseDir({ 'model.onnx': slowModel() }), env: { MODEL_SERVER_WORKERS: '2' } });
    try {
      const [victim, survivor] = server.workerPids();
      process.kill(victim, 'SIGKILL');
      // A request nginx hands the victim in the instant it dies gets a 502 (worker-crashes.test.ts); once the
      // process is gone (the primary has reaped it), every request goes to the survivor.
      await server.waitForLog((l) => /died/.test(l.msg), 5000);
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) statuses.push((await csv(server.port, FAST)).status);
      expect(statuses.every((s) => s === 200)).toBe(true);
      await server.waitForLog((l) => /replacement worker ready/.test(l.msg), 10_000);
      const now = server.workerPids();
      expect(now).toHaveLength(2);
      expect(now).toContain(survivor);
      expect(now).not.toContain(victim);
      expect((await request(server.port, 'GET', '/ping')).status).toBe(200);
    } finally {
      await server.stop();
    }
    expect(server.nonJsonOutput()).toEqual([]);
  });

  test('SIGTERM: new connections are refused, the in-flight request completes, exit 0, nothing left behind', async () => {
    const server = await startServer({ baseDir: baseDir({ 'model.onnx': slowModel() }), env: { MODEL_SERVER_TIMEOUT: '30', MODEL_SERVER_WORKERS: '2' } });
    try {
      const pids = server.treePids();
      expect(pids.length).toBeGreaterThanOrEqual(4);
      const inFlight = csv(server.port, '7.5,2000000');
      await sleep(300);
      const t = Date.now();
      process.kill(server.pid, 'SIGTERM');
      await server.waitForLog((l) => /shutting down/.test(l.msg));
      await expect(request(server.port, 'GET', '/ping', { timeoutMs: 2000 })).rejects.toThrow(/ECONNREFUSED/);
      const reply = await inFlight;
      expect(reply.status).toBe(200);
      expect(reply.body).toBe('7.5\n');
      const { code } = await server.exited;
      expect(code).toBe(0);
      expect(Date.now() - t).toBeLessThan(15_000);
      expect(await waitGone(pids)).toBe(true);
    } finally {
      await server.stop();
    }
    expect(server.nonJsonOutput()).toEqual([]);
  });

  test('while draining, workers answer /ping with 503 and finish what they hold', async () => {
    const server = await startServer({ baseDir: baseDir({ 'model.onnx': slowModel() }), env: { MODEL_SERVER_TIMEOUT: '30', MODEL_SERVER_WORKERS: '1' } });
    try {
      const inFlight = csv(server.port, '1,3000000');
      await sleep(200);
      process.kill(server.pid, 'SIGTERM');
      await server.waitForLog((l) => /shutting down/.test(l.msg));
      await sleep(100);
      // nginx no longer accepts; ask the worker on its own socket, as nginx would for a kept-alive client.
      const ping = await requestSocket(path.join(server.runDir, 'worker-0.sock'), '/ping');
      expect(ping.status).toBe(503);
      expect(JSON.parse(ping.body)).toEqual({ error: { code: 'NOT_READY', message: 'the server is shutting down' } });
      expect((await inFlight).status).toBe(200);
      expect((await server.exited).code).toBe(0);
    } finally {
      await server.stop();
    }
    expect(server.nonJsonOutput()).toEqual([]);
  });

  test('SIGTERM to the whole process group (pkill, kill -- -PGID): clean exit 0, in-flight request answered', async () => {
    const server = await startServer({ baseDir: baseDir({ 'model.onnx': slowModel() }), env: { MODEL_SERVER_TIMEOUT: '30', MODEL_SERVER_WORKERS: '2' } });
    try {
      const pids = server.treePids();
      const inFlight = csv(server.port, '2.5,1500000');
      await sleep(200);
      for (const pid of [server.pid, ...server.workerPids()]) process.kill(pid, 'SIGTERM');
      expect((await inFlight).status).toBe(200);
      expect((await server.exited).code).toBe(0);
      expect(await waitGone(pids)).toBe(true);
      expect(server.logs.filter((l) => l.level === 'error' || l.level === 'fatal').map((l) => l.msg)).toEqual([]);
    } finally {
      await server.stop();
    }
    expect(server.nonJsonOutput()).toEqual([]);
  });

  test('nginx dying stops the whole server with a clear log line and leaves no process behind', async () => {
    const server = await startServer({ baseDir: baseDir({ 'model.onnx': slowModel() }) });
    try {
      const pids = server.treePids();
      process.kill(server.nginxMasterPid()!, 'SIGKILL');
      const { code } = await server.exited;
      expect(code).not.toBe(0);
      const line = server.logs.find((l) => l.level === 'fatal');
      expect(line?.msg).toMatch(/nginx exited unexpectedly/);
      expect(await waitGone(pids)).toBe(true);
    } finally {
      await server.stop();
    }
    expect(server.nonJsonOutput()).toEqual([]);
  });

  test('the primary being killed outright takes nginx and the workers with it', async () => {
    const server = await startServer({ baseDir: baseDir({ 'model.onnx': slowModel() }) });
    const pids = server.treePids();
    try {
      process.kill(server.pid, 'SIGKILL');
      await server.exited;
      expect(await waitGone(pids, 10_000)).toBe(true);
    } finally {
      for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});
