// Proxy mode's processes: the scorer serve starts is supervised (its exit stops serve, non-zero), stopped
// after in-flight requests on SIGTERM and killed if it will not stop, and no process of it (its own
// children included) outlives serve on any path; a scorer serve does not start is fronted as it comes and goes.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { descendants, javaScorer, nodeScorer, requireJava, scorerPid, startProxy } from '../helpers/scorers';
import { alive, freePort, processesMentioning, request, requireNginx, sleep, until, type Server } from '../helpers/server';

beforeAll(() => {
  requireNginx();
  requireJava();
});

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ms-proxy-'));
const invoke = (server: Server, headers: Record<string, string> = {}) =>
  request(server.port, 'POST', '/invocations', { body: '1,2', headers: { 'Content-Type': 'text/csv', ...headers } });

/** Nothing of this server is running any more: primary, workers, nginx, the scorer and its children. */
async function nothingLeft(server: Server, extra: number[] = []): Promise<void> {
  expect(await until(() => processesMentioning(server.runDir).length === 0 && extra.every((pid) => !alive(pid)), 8000)).toBe(true);
}

async function exitsWith(server: Server, timeoutMs: number): Promise<number | null> {
  const timer = setTimeout(() => server.proc.kill('SIGKILL'), timeoutMs);
  const { code } = await server.exited;
  clearTimeout(timer);
  return code;
}

describe('the scorer exits', () => {
  test('serve logs how, stops with a non-zero exit code, and leaves nothing behind', async () => {
    const server = await startProxy({ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:0', MODEL_SERVER_UPSTREAM_COMMAND: javaScorer() });
    const pids = [...server.treePids(), ...descendants(scorerPid(server)!)];
    expect((await invoke(server, { 'X-Scorer-Behaviour': 'exit:3' })).status).toBe(200);
    expect(await exitsWith(server, 20_000)).toBe(1);
    const fatal = server.logs.filter((l) => l.level === 'fatal');
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toMatchObject({ code: 'UPSTREAM_FAILED', msg: 'the scorer (MODEL_SERVER_UPSTREAM_COMMAND) exited with code 3; stopping the server so the platform replaces it' });
    expect(server.nonJsonOutput()).toEqual([]);
    await nothingLeft(server, pids);
  }, 40_000);

  test('a command that cannot run stops start-up with its exit code, naming the setting', async () => {
    const server = await startProxy({ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:0', MODEL_SERVER_UPSTREAM_COMMAND: 'no-such-scorer --port "$MODEL_SERVER_UPSTREAM_PORT"' }, false);
    expect(await exitsWith(server, 20_000)).toBe(1);
    const fatal = server.logs.filter((l) => l.level === 'fatal');
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toMatchObject({ code: 'UPSTREAM_FAILED', msg: 'the scorer (MODEL_SERVER_UPSTREAM_COMMAND) exited with code 127; stopping the server so the platform replaces it' });
    // The shell's own complaint is in the log, as a JSON line of the scorer's output.
    expect(server.logs.some((l) => l.source === 'upstream' && l.stream === 'stderr' && /no-such-scorer: not found/.test(l.msg))).toBe(true);
    await nothingLeft(server);
  }, 30_000);
});

describe('stopping', () => {
  test('a scorer that ignores SIGTERM is killed with its own children before the grace period ends; serve exits 0', async () => {
    const childPidFile = path.join(tmp(), 'child.pid');
    const server = await startProxy({
      MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:0',
      MODEL_SERVER_UPSTREAM_COMMAND: nodeScorer(),
      SCORER_IGNORE_SIGTERM: '1',
      SCORER_CHILD_PID_FILE: childPidFile,
      MODEL_SERVER_GRACE_PERIOD: '4',
    });
    const grandchild = Number(fs.readFileSync(childPidFile, 'utf8'));
    const pids = [...server.treePids(), ...descendants(scorerPid(server)!)];
    expect(pids).toContain(grandchild);
    const started = Date.now();
    process.kill(server.pid, 'SIGTERM');
    expect(await exitsWith(server, 15_000)).toBe(0);
    // SIGKILL a second before the 4 s grace period ends: well before SageMaker's 30 s.
    expect(Date.now() - started).toBeLessThan(6000);
    expect(server.logs.some((l) => l.source === 'upstream' && l.msg === 'scorer: SIGTERM ignored')).toBe(true);
    expect(server.logs.some((l) => l.level === 'warn' && /did not stop after SIGTERM: killing its process group \(SIGKILL\)/.test(l.msg))).toBe(true);
    await nothingLeft(server, pids);
  }, 40_000);

  test('SIGTERM before the scorer was ever healthy stops everything at once', async () => {
    const server = await startProxy({ MODEL_SERVER_UPSTREAM: 'http://127.0.0.1:0', MODEL_SERVER_UPSTREAM_COMMAND: javaScorer(), SCORER_HEALTHY_AFTER_MS: '60000' }, false);
    await server.waitForLog((l) => l.source === 'upstream' && /^scorer: listening/.test(l.msg), 20_000);
    const pids = [...server.treePids(), ...descendants(scorerPid(server)!)];
    expect((await request(server.port, 'GET', '/ping')).status).toBe(503);
    process.kill(server.pid, 'SIGTERM');
    expect(await exitsWith(server, 15_000)).toBe(0);
    await nothingLeft(server, pids);
  }, 40_000);

  test('the primary killed outright: the workers stop nginx and the scorer with its children (unix socket scorer)', async () => {
    const dir = tmp();
    fs.chmodSync(dir, 0o755);
    const socket = path.join(dir, 'scorer.sock');
    const childPidFile = path.join(dir, 'child.pid');
    const server = await startProxy({
      MODEL_SERVER_UPSTREAM: `unix:${socket}`,
      MODEL_SERVER_UPSTREAM_COMMAND: nodeScorer(),
      SCORER_SOCKET: socket,
      SCORER_CHILD_PID_FILE: childPidFile,
    });
    // nginx's workers (user nobody when run as root) reach a socket the scorer made as root.
    const echo = await invoke(server);
    expect(echo.status).toBe(200);
    expect(echo.headers['x-scorer']).toBe('node');
    expect(echo.body).toBe('1,2');
    const reset = await invoke(server, { 'X-Scorer-Behaviour': 'reset' });
    expect(reset.status).toBe(502);
    expect(reset.json().error).toEqual({
      code: 'UPSTREAM_CONNECTION_FAILED',
      message: `the scorer at unix:${socket} closed or reset the connection before it answered (it may have crashed); the request was not retried because it may have run. The log has the reason nginx saw`,
    });
    const grandchild = Number(fs.readFileSync(childPidFile, 'utf8'));
    const pids = [...server.treePids(), ...descendants(scorerPid(server)!)];
    expect(pids).toContain(grandchild);
    process.kill(server.pid, 'SIGKILL');
    await nothingLeft(server, pids);
  }, 40_000);
});

describe('a scorer serve does not start (no MODEL_SERVER_UPSTREAM_COMMAND)', () => {
  let external: ChildProcess | undefined;
  afterEach(() => external?.kill('SIGKILL'));

  test('refused while it is down (502, /ping 503), served while it is up, and serve never stops for it', async () => {
    const port = await freePort();
    const server = await startProxy({ MODEL_SERVER_UPSTREAM: `http://localhost:${port}`, MODEL_SERVER_WORKERS: '1' }, false);
    try {
      // Once the worker listens, /ping is its word on the scorer.
      let ping = await request(server.port, 'GET', '/ping').catch(() => undefined);
      for (let i = 0; i < 200 && ping?.json().error.code !== 'UPSTREAM_UNHEALTHY'; i++) {
        await sleep(50);
        ping = await request(server.port, 'GET', '/ping').catch(() => undefined);
      }
      expect(ping!.status).toBe(503);
      expect(ping!.json().error.message).toBe(`the scorer is not healthy: GET http://127.0.0.1:${port}/ping: connection refused (nothing listens there yet)`);
      const refused = await invoke(server);
      expect(refused.status).toBe(502);
      expect(refused.json().error).toEqual({ code: 'UPSTREAM_CONNECTION_FAILED', message: `the scorer at http://127.0.0.1:${port} refused the connection: it is not running or not listening there (MODEL_SERVER_UPSTREAM)` });
      expect((await server.waitForLog((l) => l.reqId === refused.headers['x-request-id'])).error).toBe('UPSTREAM_CONNECTION_FAILED');

      const [java, ...args] = javaScorer().split(' ');
      external = spawn(java, args, { env: { ...process.env, SCORER_PORT: String(port) }, stdio: 'ignore' });
      await server.waitReady(20_000);
      expect((await invoke(server)).body).toBe('1,2');
      await server.waitForLog((l) => /^ready: proxying POST \/invocations/.test(l.msg));
      // No command: nothing started by serve, so nothing in the log about it.
      expect(server.logs.some((l) => l.source === 'upstream')).toBe(false);

      external.kill('SIGKILL');
      expect(await until(() => !alive(external!.pid!), 5000)).toBe(true);
      let down = await request(server.port, 'GET', '/ping');
      for (let i = 0; i < 50 && down.status === 200; i++) {
        await sleep(100);
        down = await request(server.port, 'GET', '/ping');
      }
      expect(down.status).toBe(503);
      expect((await invoke(server)).status).toBe(502);
      expect(server.proc.exitCode).toBeNull();
    } finally {
      await server.stop();
    }
    expect((await server.exited).code).toBe(0);
  }, 60_000);
});

describe('start-up checks', () => {
  test('a fixed scorer port already in use stops start-up before anything starts, saying how to let serve choose', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const server = await startProxy({ MODEL_SERVER_UPSTREAM: `http://127.0.0.1:${port}`, MODEL_SERVER_UPSTREAM_COMMAND: javaScorer() }, false);
      expect(await exitsWith(server, 20_000)).toBe(1);
      const fatal = server.logs.filter((l) => l.level === 'fatal');
      expect(fatal).toHaveLength(1);
      expect(fatal[0].code).toBe('UPSTREAM_FAILED');
      expect(fatal[0].msg).toBe(`the scorer's port 127.0.0.1:${port} (MODEL_SERVER_UPSTREAM) is already in use by another process, so MODEL_SERVER_UPSTREAM_COMMAND could not listen on it; let serve choose a free port with MODEL_SERVER_UPSTREAM=http://127.0.0.1:0 (the command gets it as $MODEL_SERVER_UPSTREAM_PORT)`);
      expect(server.logs.some((l) => l.source === 'upstream')).toBe(false);
      await nothingLeft(server);
    } finally {
      holder.close();
    }
  }, 30_000);

  test('a bad setting stops start-up with a message naming the variable', async () => {
    const server = await startProxy({ MODEL_SERVER_UPSTREAM: 'http://10.0.0.5:9090' }, false);
    expect(await exitsWith(server, 20_000)).toBe(2);
    const fatal = server.logs.filter((l) => l.level === 'fatal');
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toMatchObject({ code: 'CONFIG_INVALID' });
    expect(fatal[0].msg).toMatch(/^MODEL_SERVER_UPSTREAM="http:\/\/10\.0\.0\.5:9090" is invalid: expected a loopback address/);
  }, 30_000);

  test('a fixed port outside SAGEMAKER_SAFE_PORT_RANGE is served, with a warning', async () => {
    const port = await freePort();
    const server = await startProxy({ MODEL_SERVER_UPSTREAM: `http://127.0.0.1:${port}`, SAGEMAKER_SAFE_PORT_RANGE: '1-2', MODEL_SERVER_WORKERS: '1' }, false);
    try {
      const warning = await server.waitForLog((l) => l.level === 'warn', 15_000);
      expect(warning.msg).toBe(`the scorer's port ${port} (MODEL_SERVER_UPSTREAM) is outside SAGEMAKER_SAFE_PORT_RANGE=1-2, the ports SageMaker keeps free for this container; another container may need it. Use port 0 to let serve choose one in the range`);
    } finally {
      await server.stop();
    }
  }, 30_000);
});
