// Multi-model endpoints (SAGEMAKER_MULTI_MODEL=true) on the real stack: the /models API as SageMaker calls
// it, invocations routed by nginx to the worker that holds each model, faults, and memory over many
// load/unload cycles. Real nginx, real worker processes and threads, real ONNX models in real folders.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EXAMPLE_DIR, linearModel, multiInputModel, slowModel, zipMapModel } from '../helpers/models';
import { childPids, request, requireNginx, sleep, startServer, until, type Reply, type Server } from '../helpers/server';

/** A folder laid out like SageMaker's /opt/ml/models/<name>/model, holding `files`. */
function modelFolder(files: Record<string, Uint8Array | string>): string {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ms-mme-')), 'model');
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
  return dir;
}

const iris = () => modelFolder({ 'model.onnx': fs.readFileSync(path.join(EXAMPLE_DIR, 'model/model.onnx')), 'model.json': fs.readFileSync(path.join(EXAMPLE_DIR, 'model/model.json')) });

const json = { 'Content-Type': 'application/json' };
const load = (port: number, name: string, url: string) => request(port, 'POST', '/models', { body: JSON.stringify({ model_name: name, url }), headers: json });
const invoke = (port: number, name: string, body: string, type = 'text/csv', accept?: string, extra: Record<string, string> = {}) =>
  request(port, 'POST', `/models/${name}/invoke`, { body, headers: { 'Content-Type': type, ...(accept ? { Accept: accept } : {}), ...extra } });

function start(env: Record<string, string> = {}): Promise<Server> {
  return startServer({ baseDir: fs.mkdtempSync(path.join(os.tmpdir(), 'ms-mme-base-')), env: { SAGEMAKER_MULTI_MODEL: 'true', MODEL_SERVER_WORKERS: '2', ...env } });
}

const codeOf = (r: Reply) => (r.status === 200 ? 'ok' : r.json().error.code);

beforeAll(() => requireNginx());

describe('the /models API', () => {
  let server: Server;
  beforeAll(async () => {
    server = await start();
  });
  afterAll(() => server.stop());

  test('/ping is 200 with no model loaded, and /invocations says which path to call', async () => {
    expect((await request(server.port, 'GET', '/ping')).status).toBe(200);
    const r = await request(server.port, 'POST', '/invocations', { body: '1,2,3,4', headers: { 'Content-Type': 'text/csv' } });
    expect(r.status).toBe(404);
    expect(r.json().error.message).toMatch(/POST \/models\/<name>\/invoke/);
    await server.waitForLog((l) => /^ready: multi-model endpoint/.test(l.msg));
  });

  test('load, list (sorted, paginated), describe, invoke and unload, with SageMaker\'s statuses and shapes', async () => {
    const url = iris();
    for (const name of ['m3', 'm1', 'm2']) expect((await load(server.port, name, url)).status).toBe(200);
    const again = await load(server.port, 'm1', url);
    expect(again.status).toBe(409);
    expect(again.json().error.code).toBe('MODEL_ALREADY_LOADED');

    const all = await request(server.port, 'GET', '/models');
    expect(all.json()).toEqual({ models: ['m1', 'm2', 'm3'].map((modelName) => ({ modelName, modelUrl: url })) });
    const first = (await request(server.port, 'GET', '/models?limit=2')).json();
    expect(first.models.map((m: { modelName: string }) => m.modelName)).toEqual(['m1', 'm2']);
    expect(first.nextPageToken).toBeDefined();
    const second = (await request(server.port, 'GET', `/models?limit=2&next_page_token=${first.nextPageToken}`)).json();
    expect(second).toEqual({ models: [{ modelName: 'm3', modelUrl: url }] });
    expect((await request(server.port, 'GET', '/models?next_page_token=abc')).status).toBe(400);
    expect((await request(server.port, 'GET', '/models?limit=0')).status).toBe(400);

    expect((await request(server.port, 'GET', '/models/m2')).json()).toEqual({ modelName: 'm2', modelUrl: url });
    expect(codeOf(await request(server.port, 'GET', '/models/nope'))).toBe('MODEL_NOT_LOADED');

    for (const name of ['m1', 'm2', 'm3']) {
      const r = await invoke(server.port, name, '5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3', 'text/csv', undefined, { 'X-Amzn-SageMaker-Target-Model': `${name}.tar.gz` });
      expect([r.status, r.body]).toEqual([200, 'setosa\nvirginica\n']);
    }
    const line = await server.waitForLog((l) => l.targetModel === 'm2.tar.gz');
    expect(line).toMatchObject({ model: 'm2', res: { status: 200 } });

    const gone = await request(server.port, 'DELETE', '/models/m2');
    expect(gone.status).toBe(200);
    expect(codeOf(await request(server.port, 'DELETE', '/models/m2'))).toBe('MODEL_NOT_LOADED');
    const missing = await invoke(server.port, 'm2', '5.1,3.5,1.4,0.2');
    expect(missing.status).toBe(404);
    expect(missing.json().error).toMatchObject({ code: 'MODEL_NOT_LOADED', message: expect.stringContaining('"m2"') });
    for (const name of ['m1', 'm3']) expect((await request(server.port, 'DELETE', `/models/${name}`)).status).toBe(200);
    expect((await request(server.port, 'GET', '/models')).json()).toEqual({ models: [] });
    // The metrics SageMaker reports for multi-model endpoints, in the log.
    await server.waitForLog((l) => typeof l.ModelLoadingTime === 'number' && typeof l.LoadedModelCount === 'number');
    await server.waitForLog((l) => typeof l.ModelUnloadingTime === 'number' && l.LoadedModelCount === 0);
  });

  test('bad loads: 400 for a malformed body or name, 404 for a url with no model, and a bad model answered as at start-up, leaving nothing behind', async () => {
    expect(codeOf(await request(server.port, 'POST', '/models', { body: '{"model_name": "x"', headers: json }))).toBe('MALFORMED_JSON');
    expect(codeOf(await request(server.port, 'POST', '/models', { body: '{"model_name": "x"}', headers: json }))).toBe('MALFORMED_JSON');
    expect(codeOf(await load(server.port, '../etc', iris()))).toBe('INVALID_PARAMETER');
    expect(codeOf(await load(server.port, 'rel', 'models/x/model'))).toBe('INVALID_PARAMETER');
    const empty = await load(server.port, 'empty', modelFolder({}));
    expect(empty.status).toBe(404);
    expect(empty.json().error).toMatchObject({ code: 'NO_MODEL_AT_URL', message: expect.stringMatching(/no model under/) });
    expect(codeOf(await load(server.port, 'nowhere', '/no/such/folder'))).toBe('NO_MODEL_AT_URL');

    const zip = await load(server.port, 'zip', modelFolder({ 'model.onnx': zipMapModel() }));
    expect(zip.status).toBe(500);
    expect(zip.json().error).toMatchObject({ code: 'MODEL_UNSUPPORTED_OUTPUT', message: expect.stringMatching(/zipmap/i) });
    const corrupt = await load(server.port, 'corrupt', modelFolder({ 'model.onnx': 'not a model' }));
    expect(corrupt.json().error.code).toBe('MODEL_INVALID');
    // Nothing left behind: the names are free again and nothing is listed.
    expect((await request(server.port, 'GET', '/models')).json()).toEqual({ models: [] });
    expect((await load(server.port, 'zip', iris())).status).toBe(200);
    expect((await request(server.port, 'DELETE', '/models/zip')).status).toBe(200);
  });

  test('every format and error of /invocations applies through /models/<name>/invoke', async () => {
    expect((await load(server.port, 'iris', iris())).status).toBe(200);
    expect((await load(server.port, 'lin', modelFolder({ 'model.onnx': linearModel([1, 2], 0.5) }))).status).toBe(200);
    expect((await load(server.port, 'multi', modelFolder({ 'model.onnx': multiInputModel() }))).status).toBe(200);
    try {
      const row = '5.1,3.5,1.4,0.2';
      expect((await invoke(server.port, 'iris', `sepal_length,sepal_width,petal_length,petal_width\n${row}`, 'text/csv', 'application/json')).json()).toEqual({ predictions: [{ predicted_label: 'setosa' }] });
      expect((await invoke(server.port, 'iris', JSON.stringify({ instances: [[5.1, 3.5, 1.4, 0.2]] }), 'application/json')).json()).toEqual({ predictions: [{ predicted_label: 'setosa' }] });
      expect((await invoke(server.port, 'iris', '[5.1,3.5,1.4,0.2]\n[6.7,3.0,5.2,2.3]\n', 'application/jsonlines')).body).toBe('{"predicted_label":"setosa"}\n{"predicted_label":"virginica"}\n');
      expect((await invoke(server.port, 'iris', JSON.stringify({ sepal_length: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 }), 'application/octet-stream')).json()).toEqual({ predictions: [{ predicted_label: 'setosa' }] });
      expect((await invoke(server.port, 'lin', '1,2\n3,4', 'text/csv', 'application/jsonlines')).body).toBe('{"score":5.5}\n{"score":11.5}\n');
      const v2 = await invoke(server.port, 'lin', JSON.stringify({ inputs: [{ name: 'features', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] }), 'application/json');
      expect(v2.json()).toMatchObject({ model_name: 'lin', outputs: [{ name: 'variable', data: [5.5] }] });
      expect(v2.status).toBe(200);
      const tensors = await invoke(server.port, 'multi', '1,2', 'text/csv');
      expect(tensors.status).toBe(415);
      // The same errors, limits and negotiation.
      expect(codeOf(await invoke(server.port, 'iris', '5.1,3.5,oops,0.2'))).toBe('INVALID_VALUE');
      expect(codeOf(await invoke(server.port, 'iris', row, 'text/xml'))).toBe('UNSUPPORTED_MEDIA_TYPE');
      expect(codeOf(await invoke(server.port, 'iris', row, 'text/csv', 'image/png'))).toBe('NOT_ACCEPTABLE');
      expect(codeOf(await invoke(server.port, 'iris', '1,'.repeat(3_200_000)))).toBe('PAYLOAD_TOO_LARGE');
    } finally {
      for (const name of ['iris', 'lin', 'multi']) await request(server.port, 'DELETE', `/models/${name}`);
    }
  });

  test('concurrent loads of one name load it once (the others get 409 at once); loads of different names run side by side', async () => {
    const url = iris();
    const same = await Promise.all(Array.from({ length: 6 }, () => load(server.port, 'twin', url)));
    expect(same.map((r) => r.status).sort()).toEqual([200, 409, 409, 409, 409, 409]);
    await server.waitForLog((l) => l.msg === 'model twin loaded');
    await sleep(200);
    expect(server.logs.filter((l) => l.msg === 'model twin loaded')).toHaveLength(1);
    const names = Array.from({ length: 6 }, (_, i) => `p${i}`);
    // While they load, the loaded model keeps answering, and /ping stays 200.
    const loading = Promise.all(names.map((n) => load(server.port, n, url)));
    const during = await Promise.all([invoke(server.port, 'twin', '5.1,3.5,1.4,0.2'), request(server.port, 'GET', '/ping'), invoke(server.port, 'twin', '6.7,3.0,5.2,2.3')]);
    expect(during.map((r) => r.status)).toEqual([200, 200, 200]);
    const different = await loading;
    expect(different.map((r) => r.status)).toEqual(names.map(() => 200));
    for (const n of ['twin', ...names]) expect((await request(server.port, 'DELETE', `/models/${n}`)).status).toBe(200);
  });

  test('an unload waits for in-flight invocations, which finish', async () => {
    expect((await load(server.port, 'slow', modelFolder({ 'model.onnx': slowModel() }))).status).toBe(200);
    // ~0.7 s of spinning per invocation.
    const inFlight = [invoke(server.port, 'slow', '2.5,1000000'), invoke(server.port, 'slow', '2.5,1000000')];
    await sleep(150);
    const unloaded = await request(server.port, 'DELETE', '/models/slow');
    const answers = await Promise.all(inFlight);
    expect(unloaded.status).toBe(200);
    expect(answers.map((r) => r.status)).toEqual([200, 200]);
    expect(codeOf(await invoke(server.port, 'slow', '1.5,0'))).toBe('MODEL_NOT_LOADED');
  });
});

test('a single-model server says how to turn the /models API on', async () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-single-'));
  fs.cpSync(path.join(EXAMPLE_DIR, 'model'), path.join(base, 'model'), { recursive: true });
  const server = await startServer({ baseDir: base });
  try {
    for (const [method, url] of [['GET', '/models'], ['POST', '/models'], ['GET', '/models/x'], ['DELETE', '/models/x'], ['POST', '/models/x/invoke']]) {
      const r = await request(server.port, method, url, method === 'POST' ? { body: '{}', headers: json } : {});
      expect([url, r.status]).toEqual([url, 404]);
      expect(r.json().error.message).toMatch(/SAGEMAKER_MULTI_MODEL=true/);
    }
  } finally {
    await server.stop();
  }
});

test('507 before loading a model that does not fit in the memory the server may use', async () => {
  // The server itself takes a few hundred MB; 900 MB leaves room for the example, not for a 500 MB model
  // (its share: one and a half times its file, and 20 MB for its session).
  const server = await start({ MODEL_SERVER_MEMORY_LIMIT_MB: '900' });
  try {
    expect((await load(server.port, 'small', iris())).status).toBe(200);
    const weights = Array.from({ length: 1000 }, (_, i) => i / 1000);
    // A sparse file: its size is what the server judges by (its weights are never read; the zeros after
    // the model end the reading of its op types at once).
    const big = modelFolder({ 'model.onnx': linearModel(weights, 0) });
    fs.truncateSync(path.join(big, 'model.onnx'), 500 * 1024 * 1024);
    const refused = await load(server.port, 'big', big);
    expect(refused.status).toBe(507);
    expect(refused.json().error).toMatchObject({ code: 'INSUFFICIENT_MEMORY', message: expect.stringMatching(/needs about \d+ MB.*of the 900 MB/) });
    expect((await request(server.port, 'GET', '/models')).json().models.map((m: { modelName: string }) => m.modelName)).toEqual(['small']);
  } finally {
    await server.stop();
  }
});

test('one copy of a model by default, more with MODEL_SERVER_MODEL_COPIES, and invocations reach a holder directly', async () => {
  const server = await start({ MODEL_SERVER_WORKERS: '3', MODEL_SERVER_MODEL_COPIES: '2' });
  try {
    const url = iris();
    for (let i = 0; i < 8; i++) expect((await load(server.port, `c${i}`, url)).status).toBe(200);
    await server.waitForLog((l) => l.msg === 'model c7 loaded');
    const holders = server.logs.filter((l) => /^model c\d loaded$/.test(l.msg)).map((l) => (l.holders as number[]).length);
    // Two copies land on two workers unless both hashes pick the same one.
    expect(holders.every((n) => n >= 1 && n <= 2)).toBe(true);
    expect(holders.some((n) => n === 2)).toBe(true);
    const answers = await Promise.all(Array.from({ length: 64 }, (_, i) => invoke(server.port, `c${i % 8}`, '5.1,3.5,1.4,0.2')));
    expect(answers.map((r) => r.status)).toEqual(answers.map(() => 200));
  } finally {
    await server.stop();
  }
  const single = await start();
  try {
    expect((await load(single.port, 'one', iris())).status).toBe(200);
    expect(((await single.waitForLog((l) => l.msg === 'model one loaded')).holders as number[]).length).toBe(1);
    const answers = await Promise.all(Array.from({ length: 40 }, () => invoke(single.port, 'one', '5.1,3.5,1.4,0.2')));
    expect(answers.map((r) => r.status)).toEqual(answers.map(() => 200));
    // Only the holder served them: no worker answered 503 for a model it does not hold.
    expect(single.logs.filter((l) => (l.res as { status?: number })?.status === 503)).toEqual([]);
  } finally {
    await single.stop();
  }
});

test('a worker killed with models loaded is replaced and reloads them; requests sent meanwhile are answered 200 (or 503 with Retry-After), never 404 or 502', async () => {
  const server = await start();
  try {
    const url = iris();
    const names = Array.from({ length: 6 }, (_, i) => `k${i}`);
    for (const n of names) expect((await load(server.port, n, url)).status).toBe(200);
    const [victim] = server.workerPids();
    process.kill(victim, 'SIGKILL');
    const seen = new Map<number, number>();
    const deadline = Date.now() + 4000;
    let retryAfter = true;
    while (Date.now() < deadline) {
      const replies = await Promise.all(names.map((n) => invoke(server.port, n, '5.1,3.5,1.4,0.2')));
      for (const r of replies) {
        seen.set(r.status, (seen.get(r.status) ?? 0) + 1);
        if (r.status === 503) retryAfter &&= r.headers['retry-after'] === '1';
      }
    }
    await server.waitForLog((l) => /replacement worker ready/.test(l.msg), 10_000);
    // Sent after the kill: none was in flight on the dead worker. Those for its models waited on the other
    // worker until the replacement had reloaded them.
    console.log(`invocations while a worker was replaced: ${JSON.stringify(Object.fromEntries(seen))}`);
    expect([...seen.keys()].filter((s) => s !== 200 && s !== 503)).toEqual([]);
    expect(retryAfter).toBe(true);
    // Every model is served again, from whichever worker holds it.
    const after = await Promise.all(names.map((n) => invoke(server.port, n, '5.1,3.5,1.4,0.2')));
    expect(after.map((r) => r.status)).toEqual(names.map(() => 200));
    expect((await request(server.port, 'GET', '/models')).json().models).toHaveLength(6);
  } finally {
    await server.stop();
  }
});

test('50 load/unload cycles leave the server\'s memory where it was (within 60 MB)', async () => {
  const server = await start({ MODEL_SERVER_WORKERS: '1' });
  const rss = () => [server.pid, ...childPids(server.pid)].reduce((n, pid) => {
    try {
      return n + Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
    } catch {
      return n;
    }
  }, 0);
  try {
    const url = iris();
    const cycle = async () => {
      expect((await load(server.port, 'cycled', url)).status).toBe(200);
      expect((await invoke(server.port, 'cycled', '5.1,3.5,1.4,0.2')).status).toBe(200);
      expect((await request(server.port, 'DELETE', '/models/cycled')).status).toBe(200);
    };
    for (let i = 0; i < 5; i++) await cycle();
    const before = rss();
    for (let i = 0; i < 50; i++) await cycle();
    // Threads exit asynchronously after an unload: give the last ones a moment.
    await until(() => rss() - before < 60, 5000);
    const growth = rss() - before;
    console.log(`RSS after 5 warm-up cycles ${Math.round(before)} MB; after 50 more ${Math.round(before + growth)} MB (growth ${Math.round(growth)} MB)`);
    expect(growth).toBeLessThan(60);
  } finally {
    await server.stop();
  }
});
