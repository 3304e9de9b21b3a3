// Drills under load on the real stack: workers killed (SIGKILL) while requests stream in, and SIGTERM
// while they do. Answers are counted by status; every one that is not a 200 must be JSON in the product's shape.
import * as fs from 'node:fs';
import * as http from 'node:http';
import { exampleBase } from '../helpers/models';
import { requireNginx, sleep, startServer, until, type Server } from '../helpers/server';

const ROW = '5.1,3.5,1.4,0.2';

interface Outcome {
  /** When the request was sent, ms since the load started. */
  sentAt: number;
  status: number;
  body: string;
  /** Transport error code (ECONNREFUSED, ECONNRESET, ...) when there was no answer. */
  error?: string;
}

/** `connections` loops sending single-row CSV requests back to back until stop() is called. */
function load(port: number, connections: number, agent: http.Agent | false) {
  const outcomes: Outcome[] = [];
  const started = performance.now();
  let running = true;
  const one = () =>
    new Promise<Outcome>((resolve) => {
      const sentAt = performance.now() - started;
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/invocations', agent, headers: { 'Content-Type': 'text/csv', 'Content-Length': ROW.length } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ sentAt, status: res.statusCode ?? 0, body }));
        res.on('error', (err: NodeJS.ErrnoException) => resolve({ sentAt, status: 0, body, error: err.code ?? err.message }));
      });
      req.setTimeout(20_000, () => req.destroy(new Error('timeout')));
      req.on('error', (err: NodeJS.ErrnoException) => resolve({ sentAt, status: 0, body: '', error: err.code ?? err.message }));
      req.end(ROW);
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
    elapsed: () => performance.now() - started,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return outcomes;
    },
  };
}

/** An error answer in the product's shape, or what is wrong with it. */
function jsonError(o: Outcome): string | undefined {
  try {
    const doc = JSON.parse(o.body);
    if (typeof doc.error?.code === 'string' && typeof doc.error?.message === 'string') return undefined;
  } catch {
    // below
  }
  return `status ${o.status}${o.error ? ` (${o.error})` : ''}: ${o.body.slice(0, 120)}`;
}

const tally = (outcomes: Outcome[]) => outcomes.reduce<Record<string, number>>((t, o) => ({ ...t, [o.error ?? o.status]: (t[o.error ?? o.status] ?? 0) + 1 }), {});

beforeAll(() => requireNginx());

test('three workers killed under load: at least 99% of requests are answered 200, every other one a JSON 5xx', async () => {
  const server: Server = await startServer({ baseDir: exampleBase(), env: { MODEL_SERVER_WORKERS: '2' } });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  try {
    const running = load(server.port, 8, agent);
    const count = (pattern: RegExp) => server.logs.filter((l) => pattern.test(l.msg)).length;
    for (let kill = 1; kill <= 3; kill++) {
      await sleep(1000);
      const [victim] = server.workerPids();
      process.kill(victim, 'SIGKILL');
      expect(await until(() => count(/died/) === kill, 5000)).toBe(true);
      // Spaced: the next kill only once the replacement serves, so one worker is always there.
      expect(await until(() => count(/replacement worker ready/) === kill, 15_000)).toBe(true);
    }
    await sleep(1000);
    const outcomes = await running.stop();
    const ok = outcomes.filter((o) => o.status === 200).length;
    console.log(`kill drill: ${outcomes.length} requests in ${Math.round(running.elapsed() / 1000)} s, ${JSON.stringify(tally(outcomes))}`);
    expect(outcomes.length).toBeGreaterThan(500);
    expect(ok / outcomes.length).toBeGreaterThanOrEqual(0.99);
    const others = outcomes.filter((o) => o.status !== 200);
    expect(others.filter((o) => o.status < 500 || o.status > 599).map((o) => `${o.status} ${o.error ?? ''} ${o.body.slice(0, 100)}`)).toEqual([]);
    expect(others.map(jsonError).filter(Boolean)).toEqual([]);
  } finally {
    agent.destroy();
    await server.stop();
  }
  expect(server.nonJsonOutput()).toEqual([]);
}, 60_000);

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
