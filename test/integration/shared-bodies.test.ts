// Request bodies under 64 KiB travel to the inference threads in shared slots (shared-bodies.ts)
// and small answers come back as latin1 strings. Real pool, real threads, real models: the answers must
// be exactly those of bodies in their own buffers, and every slot must come back, whatever happens to
// the invocation (answered, refused, timed out while queued, timed out while running, failed reading).
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { readBody } from '../../container/src/http/invocation';
import { InferencePool } from '../../container/src/inference/pool';
import type { ThreadInit } from '../../container/src/inference/protocol';
import type { Answer, Invocation } from '../../container/src/models/model';
import { SharedBodies } from '../../container/src/shared-bodies';
import type { InferenceOutputKey } from '../../container/src/vocabulary';
import { createLogger } from '../../container/src/logger';
import { attr, GraphBuilder, serializeModel } from '../../container/src/onnx/writer';
import { baseDir, EXAMPLE_DIR, slowModel } from '../helpers/models';
import { until } from '../helpers/server';

const logger = createLogger('silent');
const EXAMPLE: ThreadInit = { name: 'model', dir: path.join(EXAMPLE_DIR, 'model'), modelFile: path.join(EXAMPLE_DIR, 'model/model.onnx'), modelJsonFile: path.join(EXAMPLE_DIR, 'model/model.json'), intraOpThreads: 1, outputStyle: 'auto', outputKeys: ['predicted_label'] };

/** A pool and the worker's shared body slots it gives back to. */
type TestPool = InferencePool & { bodies: SharedBodies };

/** A one-thread pool on the example model, or on what `init` says instead. */
function pool(init: Partial<ThreadInit> = {}, options: { timeoutMs?: number; maxQueue?: number; inline?: boolean } = {}): TestPool {
  const bodies = new SharedBodies(128, 64 * 1024);
  const p = new InferencePool({ init: { ...EXAMPLE, ...init }, threads: 1, maxQueue: options.maxQueue ?? 1024, maxBatch: 32, timeoutMs: options.timeoutMs ?? 30_000, bodies, inline: options.inline ?? false, logger });
  return Object.assign(p, { bodies });
}

/** The answer as text, whichever form it came in. */
function text(result: Answer): string {
  if (!result.ok) return `${result.error.code}: ${result.error.message}`;
  return typeof result.body === 'string' ? Buffer.from(result.body, 'latin1').toString('utf8') : Buffer.from(result.body).toString('utf8');
}

function task(body: Uint8Array, contentType: string, accept: string, keys: InferenceOutputKey[] = ['predicted_label', 'probabilities']): Invocation {
  const [mediaType, ...params] = contentType.split(';').map((s) => s.trim());
  return {
    requestId: 'test',
    model: 'model',
    input: { kind: 'body', mediaType, params: Object.fromEntries(params.map((p) => p.split('='))), body },
    output: { mediaType: accept, keys },
    tensorsAcceptable: true,
  };
}

/** A CSV invocation whose body sits in one of the pool's shared slots. */
function slottedCsv(p: TestPool, row: string): Invocation {
  const slot = p.bodies.take(row.length)!;
  slot.set(Buffer.from(row));
  return task(slot, 'text/csv', 'text/csv');
}

describe('shared body slots between a worker and its threads', () => {
  test('answers match bodies in their own buffers, batched or not, and every slot comes back', async () => {
    const p = pool();
    try {
      await p.ready();
      const rows = Array.from({ length: 500 }, (_, i) => `${(4 + (i % 40) / 10).toFixed(1)},${(2 + (i % 15) / 10).toFixed(1)},${(1 + (i % 60) / 10).toFixed(1)},${((i % 25) / 10).toFixed(1)}`);
      const cases: [string, string, string][] = [];
      for (let i = 0; i < 60; i++) {
        const some = rows.slice(i, i + 1 + (i % 9));
        if (i % 11 === 3) cases.push([`${some[0]}\n1,2,oops,4`, 'text/csv', 'text/csv']);
        else if (i % 4 === 1) cases.push([JSON.stringify({ instances: some.map((r) => r.split(',').map(Number)) }), 'application/json', 'application/json']);
        else if (i % 4 === 2) cases.push([some.join('\n'), 'text/csv; charset=utf-8', 'application/jsonlines']);
        else cases.push([some.join('\n'), 'text/csv', 'text/csv']);
      }
      // 2,000 rows: 40 KB of CSV, under 64 KiB, and an answer too large to come back as a string.
      cases.push([rows.concat(rows, rows, rows).join('\n'), 'text/csv', 'application/json']);
      // Exactly 64 KiB: the largest body a slot takes (a shared buffer must never be in a transfer list).
      const lines: string[] = [];
      for (let i = 0; lines.join('\n').length < 65_400; i++) lines.push(rows[i % rows.length]);
      const last = lines.pop()!.split(',');
      const short = 65_536 - (lines.join('\n').length + 1 + last.join(',').length);
      last[3] = `${last[3]}${last[3].includes('.') ? '' : '.'}${'0'.repeat(short - (last[3].includes('.') ? 0 : 1))}`;
      lines.push(last.join(','));
      const exact = lines.join('\n');
      expect(Buffer.byteLength(exact)).toBe(65_536);
      cases.push([exact, 'text/csv', 'text/csv']);
      const own = [];
      for (const [body, type, accept] of cases) own.push(text(await p.invoke(task(new Uint8Array(Buffer.from(body)), type, accept))));
      const shared = await Promise.all(cases.map(([body, type, accept]) => {
        const bytes = Buffer.from(body);
        const slot = p.bodies.take(bytes.length)!;
        expect(slot.buffer).toBeInstanceOf(SharedArrayBuffer);
        slot.set(bytes);
        return p.invoke(task(slot, type, accept));
      }));
      expect(shared.map(text)).toEqual(own);
      expect(shared.some((r) => r.ok && (r.batch ?? 1) > 1)).toBe(true);
      expect(own.filter((t) => t.startsWith('INVALID_VALUE'))).toHaveLength(6);
      expect(p.bodies.inUse).toBe(0);
    } finally {
      await p.close();
    }
  });

  test('non-ASCII answers survive the trip as latin1 strings, byte for byte', async () => {
    // probabilities = softmax(x) on [N, 3]; class names outside ASCII come from model.json.
    const g = new GraphBuilder('softmax');
    g.node('Softmax', [g.input('input', 'FLOAT', ['N', 3])], { axis: attr.int(1) }, { outputs: ['probabilities'] });
    g.output('probabilities', 'FLOAT', ['N', 3]);
    const dir = baseDir({ 'model.onnx': serializeModel(g), 'model.json': JSON.stringify({ labels: ['sétosa', 'vérsicolor', 'virginica ☃'], task: 'classification' }) });
    const p = pool({ modelFile: path.join(dir, 'model/model.onnx'), modelJsonFile: path.join(dir, 'model/model.json') });
    try {
      await p.ready();
      const body = Buffer.from('5,1,0\n0,0,9\n0,7,1');
      const slot = p.bodies.take(body.length)!;
      slot.set(body);
      const csv = await p.invoke(task(slot, 'text/csv', 'text/csv', ['predicted_label']));
      expect(csv.ok && typeof csv.body).toBe('string');
      expect(text(csv)).toBe('sétosa\nvirginica ☃\nvérsicolor\n');
      const json = await p.invoke(task(new Uint8Array(body), 'text/csv', 'application/json', ['predicted_label']));
      expect(JSON.parse(text(json))).toEqual({ predictions: [{ predicted_label: 'sétosa' }, { predicted_label: 'virginica ☃' }, { predicted_label: 'vérsicolor' }] });
      expect(p.bodies.inUse).toBe(0);
    } finally {
      await p.close();
    }
  });

  test('refused and timed-out invocations give their slots back, the timed-out ones once no thread reads them', async () => {
    const dir = baseDir({ 'model.onnx': slowModel() });
    const p = pool({ modelFile: path.join(dir, 'model/model.onnx'), modelJsonFile: undefined }, { timeoutMs: 400, maxQueue: 1 });
    const slotted = (row: string) => slottedCsv(p, row);
    try {
      await p.ready();
      // ~2 s of spinning (about 0.7 us per iteration): it runs past the 400 ms deadline.
      const running = p.invoke(slotted('2.5,3000000'));
      // The pool hands a free thread what arrived in one turn of the event loop: let the first go alone.
      await new Promise((resolve) => setImmediate(resolve));
      const queued = p.invoke(slotted('1.5,0'));
      const refused = await p.invoke(slotted('1.5,0'));
      expect(refused.ok ? 'ok' : refused.error.code).toBe('OVERLOADED');
      expect(p.bodies.inUse).toBe(2);
      const [a, b] = await Promise.all([running, queued]);
      expect([a, b].map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(['TIMEOUT', 'TIMEOUT']);
      // Answered 504, but a thread is still spinning on the first body: its slot stays taken until then.
      // (The second went to the fresh thread started beside the stuck one.)
      expect(p.bodies.inUse).toBeGreaterThanOrEqual(1);
      await until(() => p.bodies.inUse === 0, 15_000);
      expect(p.bodies.inUse).toBe(0);
    } finally {
      await p.close(15_000);
    }
  });

  test('a queued invocation whose caller leaves is dropped unrun (CLIENT_GONE) and gives its slot back', async () => {
    const dir = baseDir({ 'model.onnx': slowModel() });
    const p = pool({ modelFile: path.join(dir, 'model/model.onnx'), modelJsonFile: undefined }, { timeoutMs: 20_000 });
    const slotted = (row: string) => slottedCsv(p, row);
    try {
      await p.ready();
      // ~0.7 s of spinning holds the only thread while the second invocation waits.
      const running = p.invoke(slotted('2.5,1000000'));
      // The pool hands a free thread what arrived in one turn of the event loop: let the first go alone.
      await new Promise((resolve) => setImmediate(resolve));
      let drop: (() => void) | undefined;
      const queued = p.invoke(slotted('1.5,0'), (d) => (drop = d));
      expect(p.bodies.inUse).toBe(2);
      drop!();
      const dropped = await queued;
      expect(dropped.ok ? 'ok' : dropped.error.code).toBe('CLIENT_GONE');
      expect(p.bodies.inUse).toBe(1);
      expect((await running).ok).toBe(true);
      expect(p.bodies.inUse).toBe(0);
    } finally {
      await p.close(15_000);
    }
  });
});

describe('readBody into shared slots', () => {
  let server: http.Server;
  let port: number;
  const bodies = new SharedBodies(4, 64 * 1024);
  const outcomes: (Uint8Array | string)[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      readBody(req, 1024 * 1024, bodies).then(
        (body) => {
          outcomes.push(body);
          res.end(`${body.byteLength} ${body.buffer instanceof SharedArrayBuffer ? 'shared' : 'own'} ${Buffer.from(body).toString()}`);
        },
        (err: Error & { code?: string }) => {
          outcomes.push(`${err.code}: ${err.message}`);
          res.end(err.message);
        },
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const post = (body: string) =>
    new Promise<string>((resolve, reject) => {
      const req = http.request({ port, method: 'POST', path: '/', headers: { 'Content-Length': Buffer.byteLength(body) } }, (res) => {
        let out = '';
        res.on('data', (c) => (out += c));
        res.on('end', () => resolve(out));
      });
      req.on('error', reject);
      req.end(body);
    });

  test('a body under 64 KiB is read into a slot, a larger one into its own buffer', async () => {
    expect(await post('1,2,3')).toBe('5 shared 1,2,3');
    bodies.release(outcomes.pop() as Uint8Array);
    const big = 'x'.repeat(70_000);
    expect(await post(big)).toBe(`70000 own ${big}`);
    expect(bodies.inUse).toBe(0);
  });

  test('a slot reused for a shorter body holds only that body', async () => {
    expect(await post('a'.repeat(3000))).toMatch(/^3000 shared a+$/);
    bodies.release(outcomes.pop() as Uint8Array);
    expect(await post('bb')).toBe('2 shared bb');
    bodies.release(outcomes.pop() as Uint8Array);
  });

  test('a client that sends less than its Content-Length and goes away gives the slot back', async () => {
    const before = outcomes.length;
    await new Promise<void>((resolve) => {
      const req = http.request({ port, method: 'POST', path: '/', headers: { 'Content-Length': 5000 } });
      req.on('error', () => resolve());
      req.write('1,2,3\n', () => setTimeout(() => req.destroy(), 50));
      req.on('close', () => resolve());
    });
    await until(() => outcomes.length > before, 5_000);
    // Cut short: its own code, whichever of 'error' or 'close' Node reports first.
    expect(outcomes[outcomes.length - 1]).toMatch(/^(CLIENT_GONE: .*aborted|BODY_INCOMPLETE: the body ended after 6 of its 5000 bytes)/);
    expect(bodies.inUse).toBe(0);
  });
});
