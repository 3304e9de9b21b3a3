// Opportunistic batching: when invocations queue for a thread, it runs them as one ONNX call. The answers
// must be byte-for-byte what each request gets alone.
import { randomCsvRows, treeEnsembleModel } from '../../tools/src/tree-model';
import { baseDir, exampleBase } from '../helpers/models';
import { request, requireNginx, startServer, type Server } from '../helpers/server';

beforeAll(() => requireNginx());

/** Mixed requests: CSV and JSON, 1 to 7 rows each, some with a bad value. */
function requests(features: number): { body: string; type: string }[] {
  const lines = randomCsvRows(400, features, 11);
  const out: { body: string; type: string }[] = [];
  for (let i = 0, at = 0; i < 80; i++) {
    const n = 1 + (i % 7);
    const rows = lines.slice(at, at + n);
    at = (at + n) % 390;
    if (i % 13 === 5) out.push({ type: 'text/csv', body: `${rows[0]}\nnot,a,number` });
    else if (i % 3 === 0) out.push({ type: 'application/json', body: JSON.stringify({ instances: rows.map((r) => r.split(',').map(Number)) }) });
    else out.push({ type: 'text/csv', body: rows.join('\n') });
  }
  return out;
}

async function answers(server: Server, reqs: { body: string; type: string }[]): Promise<string[]> {
  // All at once: with one worker and one thread, most of them queue and are batched.
  const replies = await Promise.all(reqs.map((r) => request(server.port, 'POST', '/invocations', { body: r.body, headers: { 'Content-Type': r.type, Accept: 'application/json' } })));
  return replies.map((r) => `${r.status} ${r.body}`);
}

describe.each([
  ['the example model', () => exampleBase(), 4],
  ['a 150-tree ensemble', () => baseDir({ 'model.onnx': treeEnsembleModel({ features: 30, trees: 150 }) }), 30],
])('%s', (_name, base, features) => {
  test('gives identical answers with batching on and off, and batches under load', async () => {
    // On the inference thread (MODEL_SERVER_INLINE=false), where requests queue while it runs; the third
    // server runs small batches on the worker's own thread (the default for these models), and must answer
    // the same.
    const env = { MODEL_SERVER_WORKERS: '1', MODEL_SERVER_THREADS: '1', SAGEMAKER_INFERENCE_OUTPUT: 'predicted_label,probabilities' };
    const dir = base();
    const [off, on, inline] = await Promise.all([
      startServer({ baseDir: dir, env: { ...env, MODEL_SERVER_MAX_BATCH: '1', MODEL_SERVER_INLINE: 'false' } }),
      startServer({ baseDir: dir, env: { ...env, MODEL_SERVER_INLINE: 'false' } }),
      startServer({ baseDir: dir, env }),
    ]);
    try {
      const reqs = requests(features);
      const [a, b, c] = [await answers(off, reqs), await answers(on, reqs), await answers(inline, reqs)];
      expect(b).toEqual(a);
      expect(c).toEqual(a);
      expect(a.filter((x) => x.startsWith('400 ')).length).toBeGreaterThan(0);
      expect(a.filter((x) => x.startsWith('200 ')).length).toBeGreaterThan(60);
      // Log lines are buffered: wait until every request's line is in, then count the batched ones.
      const lines = (s: Server) => s.logs.filter((l) => (l.req as { path?: string })?.path === '/invocations');
      for (const s of [on, off]) await s.waitForLog(() => lines(s).length === reqs.length);
      const batched = (s: Server) => lines(s).filter((l) => typeof l.batch === 'number' && (l.batch as number) > 1).length;
      expect(batched(on)).toBeGreaterThanOrEqual(5);
      expect(batched(off)).toBe(0);
    } finally {
      await Promise.all([off.stop(), on.stop(), inline.stop()]);
    }
  });
});

test('a large request queued with small ones still answers every row, and the small ones are unaffected', async () => {
  const server = await startServer({ baseDir: exampleBase(), env: { MODEL_SERVER_WORKERS: '1', MODEL_SERVER_THREADS: '1', SAGEMAKER_BATCH: 'true' } });
  try {
    const big = randomCsvRows(200_000, 4, 21).join('\n');
    const small = randomCsvRows(20, 4, 22);
    const replies = await Promise.all([
      request(server.port, 'POST', '/invocations', { body: small[0], headers: { 'Content-Type': 'text/csv' } }),
      request(server.port, 'POST', '/invocations', { body: big, headers: { 'Content-Type': 'text/csv' } }),
      ...small.slice(1).map((row) => request(server.port, 'POST', '/invocations', { body: row, headers: { 'Content-Type': 'text/csv' } })),
    ]);
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(replies[1].body.split('\n').filter(Boolean)).toHaveLength(200_000);
    const alone = await Promise.all(small.map((row) => request(server.port, 'POST', '/invocations', { body: row, headers: { 'Content-Type': 'text/csv' } })));
    expect([replies[0], ...replies.slice(2)].map((r) => r.body)).toEqual(alone.map((r) => r.body));
  } finally {
    await server.stop();
  }
});
