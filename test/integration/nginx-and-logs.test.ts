// What nginx does for the app (readiness while starting, upstream keep-alive, in-memory bodies) and logs
// that survive stdout being a file or a socket.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { baseDir, exampleBase, slowModel } from '../helpers/models';
import { csv, request, requireNginx, sleep, startServer, type LogLine } from '../helpers/server';

beforeAll(() => requireNginx());

test('/ping says 503 (JSON) while the model is loading and warming, then 200', async () => {
  // Warm-up spins ~2 s, so nginx is up well before any worker is ready.
  const server = await startServer({ baseDir: baseDir({ 'model.onnx': slowModel(3_000_000) }), ready: false, env: { MODEL_SERVER_TIMEOUT: '30' } });
  try {
    let first: Awaited<ReturnType<typeof request>> | undefined;
    const deadline = Date.now() + 10_000;
    while (!first && Date.now() < deadline) {
      first = await request(server.port, 'GET', '/ping').catch(() => undefined);
      if (!first) await sleep(20);
    }
    expect(first?.status).toBe(503);
    expect(first!.json().error.code).toBe('NOT_READY');
    const early = await csv(server.port, '1,0');
    expect(early.status).toBe(503);
    await server.waitReady();
    expect((await csv(server.port, '1,0')).status).toBe(200);
  } finally {
    await server.stop();
  }
});

test('nginx reuses its connections to the workers and keeps ordinary bodies in memory', async () => {
  const server = await startServer({ baseDir: exampleBase(), env: { LOG_LEVEL: 'debug', MODEL_SERVER_WORKERS: '2' } });
  try {
    const opened = () => server.logs.filter((l) => l.msg === 'nginx opened a connection to this worker').length;
    // Start-up pings that met a still-loading worker were retried elsewhere; nginx drops such connections.
    // Log lines are buffered (flushed every 100 ms): let them arrive before counting.
    await sleep(400);
    const before = opened();
    expect(before).toBeGreaterThan(0);
    for (let i = 0; i < 200; i++) expect((await csv(server.port, '5.1,3.5,1.4,0.2')).status).toBe(200);
    // 200 requests, each on a fresh client connection. Each nginx process (2 here) needs at most one
    // connection per worker (2) for sequential traffic; a socket per request would show 200.
    await sleep(400);
    expect(opened() - before).toBeLessThanOrEqual(2 * 2);
    // A 5 MB body: nginx would warn "a client request body is buffered to a temporary file".
    const big = '5.1,3.5,1.4,0.2\n'.repeat(5 * 65536);
    expect((await csv(server.port, big)).status).toBe(200);
    await sleep(200);
    expect(server.logs.filter((l) => /temporary file/.test(l.msg))).toEqual([]);
  } finally {
    await server.stop();
  }
});

/** Reads a file of JSON lines written by a server's stdout. */
const jsonLines = (text: string): LogLine[] =>
  text.split('\n').filter(Boolean).map((l) => JSON.parse(l));

async function exerciseAndStop(port: number, pid: number, workerPids: number[]): Promise<void> {
  expect((await csv(port, '5.1,3.5,1.4,0.2')).status).toBe(200);
  // Make nginx log something of its own: a body over the payload limit, which nginx refuses itself
  // ("client intended to send too large body"), and a worker killed, which nginx routes around.
  expect((await csv(port, '1,'.repeat(3_200_000))).status).toBe(413);
  process.kill(workerPids[0], 'SIGKILL');
  // Until nginx has seen the dead worker's connections close, a request it hands that worker is a 502.
  await sleep(300);
  for (let i = 0; i < 4; i++) expect((await csv(port, '5.1,3.5,1.4,0.2')).status).toBe(200);
  process.kill(pid, 'SIGTERM');
}

test('logs are JSON lines, nginx included, when stdout is a file', async () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ms-log-')), 'out.log');
  const fd = fs.openSync(file, 'w');
  const server = await startServer({ baseDir: exampleBase(), stdio: ['ignore', fd, fd] });
  try {
    await exerciseAndStop(server.port, server.pid, server.workerPids());
    expect((await server.exited).code).toBe(0);
  } finally {
    await server.stop();
    fs.closeSync(fd);
  }
  const lines = jsonLines(fs.readFileSync(file, 'utf8'));
  expect(lines.some((l) => /^ready:/.test(l.msg))).toBe(true);
  expect(lines.some((l) => l.source === 'nginx')).toBe(true);
  expect(lines.some((l) => l.msg === 'stopped')).toBe(true);
});

test('logs are JSON lines, nginx included, when stdout is a socket', async () => {
  const socketPath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ms-sock-')), 'log.sock');
  let received = '';
  const sink = net.createServer((conn) => conn.on('data', (d) => (received += d.toString('utf8'))));
  await new Promise<void>((resolve) => sink.listen(socketPath, resolve));
  const client = net.connect(socketPath);
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  const server = await startServer({ baseDir: exampleBase(), stdio: ['ignore', client, client] });
  try {
    await exerciseAndStop(server.port, server.pid, server.workerPids());
    expect((await server.exited).code).toBe(0);
  } finally {
    await server.stop();
    client.destroy();
  }
  await sleep(100);
  sink.close();
  const lines = jsonLines(received);
  expect(lines.some((l) => /^ready:/.test(l.msg))).toBe(true);
  expect(lines.some((l) => l.source === 'nginx')).toBe(true);
  expect(lines.some((l) => l.msg === 'stopped')).toBe(true);
});

test('serve writes nothing outside MODEL_SERVER_RUN_DIR: HOME stays empty (no onnxruntime telemetry files)', async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-home-'));
  const server = await startServer({ baseDir: exampleBase(), env: { HOME: home, MODEL_SERVER_WORKERS: '1' } });
  try {
    expect((await csv(server.port, '5.1,3.5,1.4,0.2')).status).toBe(200);
  } finally {
    await server.stop();
  }
  expect(fs.readdirSync(home)).toEqual([]);
});
