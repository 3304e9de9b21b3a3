// Drills under load on the real stack: a worker killed (SIGKILL) every 3 s while 16 clients send requests
// back to back, on a single-model and on a multi-model endpoint (SageMaker's paths and the Open Inference
// Protocol's infer path), and SIGTERM while they do. Answers are counted by status; every one that is not a
// 200 must be JSON in the product's shape (the protocol's on its path).
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { EXAMPLE_DIR, exampleBase } from '../helpers/models';
import { WORKER_FAILED_MESSAGE } from '../../container/src/errors';
import { request, requireNginx, sleep, startServer, until, type Server } from '../helpers/server';

const ROW = '5.1,3.5,1.4,0.2';
/** The same row on the Open Inference Protocol's infer path. */
const V2 = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] });
const isV2 = (urlPath: string) => urlPath.startsWith('/v2/');

interface Outcome {
  /** When the request was sent and answered, ms since the load started. */
  sentAt: number;
  doneAt: number;
  status: number;
  body: string;
  /** Sent on the Open Inference Protocol's infer path (its errors are {"error": "<message>"}). */
  v2: boolean;
  retryAfter?: string;
  /** Transport error code (ECONNREFUSED, ECONNRESET, ...) when there was no answer. */
  error?: string;
}

/** `connections` loops sending one-row requests back to back (to `paths` in turn: CSV, or V2 JSON on /v2/) until stop() is called. */
function load(port: number, connections: number, agent: http.Agent | false, paths: readonly string[] = ['/invocations']) {
  const outcomes: Outcome[] = [];
  const started = performance.now();
  const now = () => performance.now() - started;
  let running = true;
  let next = 0;
  const one = () =>
    new Promise<Outcome>((resolve) => {
      const sentAt = now();
      const urlPath = paths[next++ % paths.length];
      const v2 = isV2(urlPath);
      const body = v2 ? V2 : ROW;
      const done = (o: Omit<Outcome, 'sentAt' | 'doneAt' | 'v2'>) => resolve({ sentAt, doneAt: now(), v2, ...o });
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: urlPath, agent, headers: { 'Content-Type': v2 ? 'application/json' : 'text/csv', 'Content-Length': body.length } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => done({ status: res.statusCode ?? 0, body, retryAfter: res.headers['retry-after'] }));
        res.on('error', (err: NodeJS.ErrnoException) => done({ status: 0, body, error: err.code ?? err.message }));
      });
      req.setTimeout(60_000, () => req.destroy(new Error('timeout')));
      req.on('error', (err: NodeJS.ErrnoException) => done({ status: 0, body: '', error: err.code ?? err.message }));
      req.end(body);
    });
  const loops = Array.from({ length: connections }, async () => {
    while (running) {
      const outcome = await one();
      outcomes.push(outcome);
      // Once nothing listens any more, stop this loop.
      if (outcome.error === 'ECONNREFUSED') break;
    }
  });
  return {
    outcomes,
    elapsed: now,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return outcomes;
    },
  };
}

/** An error answer in the product's shape (the protocol's on its path), or what is wrong with it. */
function jsonError(o: Outcome): string | undefined {
  try {
    const doc = JSON.parse(o.body);
    if (o.v2 ? typeof doc.error === 'string' : typeof doc.error?.code === 'string' && typeof doc.error?.message === 'string') return undefined;
  } catch {
    // below
  }
  return `status ${o.status}${o.error ? ` (${o.error})` : ''}: ${o.body.slice(0, 120)}`;
}

/** The catalogue code of an error answer (the protocol's answers carry only the message: WORKER_FAILED's is known). */
const errorCode = (o: Outcome): string => {
  const { error } = JSON.parse(o.body);
  return !o.v2 ? error.code : error === WORKER_FAILED_MESSAGE ? 'WORKER_FAILED' : `v2: ${error}`;
};
const codeOf = (o: Outcome) => (o.status === 200 ? '200' : `${o.status}${o.error ? ` ${o.error}` : ''} ${jsonError(o) ? '(not JSON)' : errorCode(o)}${o.v2 ? ' (v2)' : ''}`);
const tally = (outcomes: Outcome[]) => outcomes.reduce<Record<string, number>>((t, o) => ({ ...t, [codeOf(o)]: (t[codeOf(o)] ?? 0) + 1 }), {});

/** Start time of a process, in clock ticks since boot: the oldest worker is the one to kill. */
const startTicks = (pid: number) => Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[19]);

/**
 * Kills the oldest worker with SIGKILL every 3 s (and only once the worker killed before it has been
 * replaced and serves, so that one worker always does) while 16 clients send requests, for `ms`.
 * Returns every answer and when each kill was sent.
 */
async function killDrill(server: Server, paths: readonly string[], ms: number): Promise<{ outcomes: Outcome[]; kills: number[]; seconds: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const replaced = () => server.logs.filter((l) => /replacement worker ready/.test(l.msg)).length;
  try {
    const running = load(server.port, 16, agent, paths);
    const kills: number[] = [];
    while (running.elapsed() + 3000 < ms) {
      await sleep(3000 - ((running.elapsed() - (kills.at(-1) ?? 0)) % 3000));
      expect(await until(() => replaced() === kills.length, 20_000)).toBe(true);
      const [victim] = server.workerPids().sort((a, b) => startTicks(a) - startTicks(b));
      process.kill(victim, 'SIGKILL');
      kills.push(running.elapsed());
    }
    await sleep(Math.max(0, ms - running.elapsed()));
    const outcomes = await running.stop();
    return { outcomes, kills, seconds: Math.round(running.elapsed() / 1000) };
  } finally {
    agent.destroy();
  }
}

/** One worker's share of the 16 clients: at most this many requests can be in its hands when it is killed. */
const PER_WORKER = 8;

/**
 * What must hold after a drill: a 502 only for a request in flight when a worker was killed (sent before,
 * answered after), at most one worker's share of the clients per kill; every other answer a 200, or JSON
 * 503 with Retry-After, and at least 99.9% of them 200. Over all requests, the failures per kill are the
 * same however fast the machine is, so the 99.9% overall is asserted when it served the drill at full
 * speed (20,000 requests in 15 s); on a machine slowed by other work it is logged.
 */
function checkDrill(name: string, { outcomes, kills, seconds }: { outcomes: Outcome[]; kills: number[]; seconds: number }): void {
  const ok = outcomes.filter((o) => o.status === 200).length;
  const inFlightAtAKill = (o: Outcome) => kills.some((k) => o.sentAt <= k && k <= o.doneAt);
  const failed = outcomes.filter((o) => o.status === 502);
  const rest = outcomes.filter((o) => o.status !== 502);
  console.log(`SIGKILL drill (${name}): ${outcomes.length} requests in ${seconds} s, ${kills.length} workers killed, ${JSON.stringify(tally(outcomes))}; 200: ${((100 * ok) / outcomes.length).toFixed(3)}%; 502s in flight at a kill: ${failed.filter(inFlightAtAKill).length} of ${failed.length}`);
  expect(kills.length).toBeGreaterThanOrEqual(3);
  expect(outcomes.length).toBeGreaterThan(1000);
  const others = outcomes.filter((o) => o.status !== 200);
  expect(others.map(jsonError).filter(Boolean)).toEqual([]);
  expect(failed.filter((o) => !inFlightAtAKill(o) || errorCode(o) !== 'WORKER_FAILED').map((o) => `${codeOf(o)} sent ${Math.round(o.sentAt)} ms, answered ${Math.round(o.doneAt)} ms; kills at ${kills.map(Math.round).join(', ')} ms`)).toEqual([]);
  expect(failed.length).toBeLessThanOrEqual(kills.length * PER_WORKER);
  expect(others.filter((o) => o.status !== 502 && !(o.status === 503 && o.retryAfter === '1')).map(codeOf)).toEqual([]);
  expect(ok / rest.length).toBeGreaterThanOrEqual(0.999);
  if (outcomes.length >= 20_000) expect(ok / outcomes.length).toBeGreaterThanOrEqual(0.999);
}

beforeAll(() => requireNginx());

describe('a worker killed every 3 s under 16 concurrent clients: requests it had not taken are all answered', () => {
  test('single model: a 502 only for a request in flight on the killed worker, every other one answered (99.9% 200)', async () => {
    const server: Server = await startServer({ baseDir: exampleBase(), env: { MODEL_SERVER_WORKERS: '2' } });
    try {
      checkDrill('single model', await killDrill(server, ['/invocations', '/invocations', '/invocations', '/v2/models/model/infer'], 15_000));
      expect(server.logs.filter((l) => /died/.test(l.msg)).length).toBeGreaterThanOrEqual(3);
    } finally {
      await server.stop();
    }
    expect(server.nonJsonOutput()).toEqual([]);
  }, 90_000);

  test("multi-model, six models on two workers: the same, the dead worker's models answered once its replacement has reloaded them", async () => {
    const server: Server = await startServer({ baseDir: fs.mkdtempSync(path.join(os.tmpdir(), 'ms-drill-base-')), env: { SAGEMAKER_MULTI_MODEL: 'true', MODEL_SERVER_WORKERS: '2' } });
    const names = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'];
    try {
      for (const name of names) {
        const loaded = await request(server.port, 'POST', '/models', { body: JSON.stringify({ model_name: name, url: path.join(EXAMPLE_DIR, 'model') }), headers: { 'Content-Type': 'application/json' } });
        expect([name, loaded.status]).toEqual([name, 200]);
      }
      // Every worker holds some of them (one copy each): each kill takes models away until they are reloaded.
      const holders = new Set(server.logs.filter((l) => /^model m\d loaded$/.test(l.msg)).flatMap((l) => l.holders as number[]));
      expect([...holders].sort()).toEqual([0, 1]);
      checkDrill('multi-model', await killDrill(server, [...names.map((n) => `/models/${n}/invoke`), '/v2/models/m1/infer', '/v2/models/m4/infer'], 15_000));
      // The requests that waited for a holder were passed to it once it was back.
      const passed = server.logs.filter((l) => l.passedToHolder === true).length;
      console.log(`SIGKILL drill (multi-model): ${passed} invocations waited on the other worker for their model's holder and were passed to it`);
      // Such a request is in flight only until it is passed on (the holder counts it): with every answer
      // in, no worker has any in flight.
      const scrape = await request(server.port, 'GET', '/metrics');
      const inFlight = [...scrape.body.matchAll(/^model_server_requests_in_flight\{[^}]*\} (\S+)$/gm)].map((m) => Number(m[1]));
      expect(inFlight.length).toBeGreaterThan(0);
      expect(inFlight.reduce((a, b) => a + b, 0)).toBe(0);
    } finally {
      await server.stop();
    }
    expect(server.nonJsonOutput()).toEqual([]);
  }, 120_000);
});

test('SIGTERM under load: every request sent before it is answered 200, later ones 200 or a JSON 503 (or refused), and serve exits 0', async () => {
  const server: Server = await startServer({ baseDir: exampleBase(), env: { MODEL_SERVER_WORKERS: '2', LOG_LEVEL: 'warn' } });
  // A fresh connection per request: after SIGTERM nginx stops accepting, and a refused connection carried no request.
  const running = load(server.port, 8, false);
  await sleep(1500);
  const signalledAt = running.elapsed();
  server.proc.kill('SIGTERM');
  const exit = await server.exited;
  const outcomes = await running.stop();
  console.log(`SIGTERM drill: ${outcomes.length} requests, ${JSON.stringify(tally(outcomes))}, exit ${JSON.stringify(exit)}`);
  expect(exit).toEqual({ code: 0, signal: null });
  // A clean stop leaves nothing in MODEL_SERVER_RUN_DIR, and removes it.
  expect(fs.existsSync(server.runDir)).toBe(false);
  const before = outcomes.filter((o) => o.sentAt < signalledAt - 5);
  expect(before.length).toBeGreaterThan(100);
  expect(before.filter((o) => o.status !== 200).map((o) => `${o.status} ${o.error ?? ''} ${o.body}`)).toEqual([]);
  const after = outcomes.filter((o) => o.sentAt >= signalledAt - 5);
  // Answered (200, or 503 while draining), or refused before nginx read anything.
  expect(after.filter((o) => !(o.status === 200 || (o.status === 503 && !jsonError(o)) || o.error === 'ECONNREFUSED' || (o.error === 'ECONNRESET' && o.body === ''))).map((o) => `${o.status} ${o.error ?? ''} ${o.body}`)).toEqual([]);
  expect(server.nonJsonOutput()).toEqual([]);
}, 60_000);
