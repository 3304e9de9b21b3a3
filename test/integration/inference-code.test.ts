// Users' inference code (code/inference.mjs) on the real stack: each hook alone and together, transformFn,
// declared media types, every error path (status, message, no stack, a loop cut at the timeout with its
// thread replaced, a thread that exits, a leaked rejection), a module with its own node_modules, modules
// that fail to load, and per-model code on a multi-model endpoint. Real nginx, workers, threads, models.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { PNG } from 'pngjs';
import { writeExamples } from '../../tools/src/make-hook-examples';
import { EXAMPLE_DIR } from '../helpers/models';
import { request, requireNginx, startServer, type Reply, type Server } from '../helpers/server';

const IRIS_ONNX = fs.readFileSync(path.join(EXAMPLE_DIR, 'model/model.onnx'));
const IRIS_JSON = fs.readFileSync(path.join(EXAMPLE_DIR, 'model/model.json'));
const IRIS_ROWS = '5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3';

/** A model folder: `files` by relative path (code/inference.mjs, code/node_modules/..., model.onnx). */
function folder(files: Record<string, Uint8Array | string>, withIris = true): string {
  const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ms-code-')), 'model');
  const all: Record<string, Uint8Array | string> = withIris ? { 'model.onnx': IRIS_ONNX, 'model.json': IRIS_JSON, ...files } : files;
  for (const [name, content] of Object.entries(all)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

const code = (source: string, name = 'inference.mjs') => ({ [`code/${name}`]: source });
const post = (port: number, url: string, body: string | Buffer, type: string, headers: Record<string, string> = {}) =>
  request(port, 'POST', url, { body, headers: { 'Content-Type': type, ...headers } });
const JSON_OUT = { Accept: 'application/json' };
const errorOf = (r: Reply) => r.json().error as { code: string; message: string };

/** The iris model's probabilities for the rows, straight from onnxruntime. */
async function irisProbabilities(rows: number[][]): Promise<number[][]> {
  const session = await ort.InferenceSession.create(path.join(EXAMPLE_DIR, 'model/model.onnx'));
  const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, 4]) });
  const p = Array.from(out.probabilities.data as Float32Array);
  return rows.map((_, i) => p.slice(i * 3, i * 3 + 3));
}

beforeAll(() => {
  requireNginx();
  writeExamples();
});

describe('the examples in local-test/examples', () => {
  const examples = path.resolve(__dirname, '../../local-test/examples');

  describe('churn-threshold: post-processing only (outputFn) on a tabular classifier', () => {
    let server: Server;
    beforeAll(async () => {
      server = await startServer({ baseDir: path.join(examples, 'churn-threshold'), env: { MODEL_SERVER_WORKERS: '1' } });
    });
    afterAll(() => server.stop());

    test('the decision uses the threshold, under the module\'s own field names, in the format Accept asks for', async () => {
      const rows = [[2, 110, 6], [60, 40, 0], [20, 75, 2]];
      const session = await ort.InferenceSession.create(path.join(examples, 'churn-threshold/model/model.onnx'));
      const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(rows.flat()), [3, 3]) });
      const churn = rows.map((_, i) => (out.probabilities.data as Float32Array)[i * 2 + 1]);

      const r = await post(server.port, '/invocations', rows.map((x) => x.join(',')).join('\n'), 'text/csv');
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('text/csv; charset=utf-8');
      expect(r.headers['x-amzn-sagemaker-custom-attributes']).toBe('threshold=0.35');
      expect(r.body).toBe(churn.map((p) => `${p >= 0.35},${Math.round(p * 1e4) / 1e4}\n`).join(''));

      const j = await post(server.port, '/invocations', JSON.stringify({ instances: rows }), 'application/json', { 'X-Amzn-SageMaker-Custom-Attributes': 'threshold=0.99' });
      expect(j.status).toBe(200);
      expect(j.json()).toEqual({ threshold: 0.99, decisions: churn.map((p) => ({ will_churn: p >= 0.99, churn_probability: Math.round(p * 1e4) / 1e4 })) });
      expect(j.headers['x-amzn-sagemaker-custom-attributes']).toBe('threshold=0.99');

      const lines = await post(server.port, '/invocations', rows.map((x) => JSON.stringify(x)).join('\n'), 'application/jsonlines');
      expect(lines.body.trim().split('\n').map((l) => JSON.parse(l).will_churn)).toEqual(churn.map((p) => p >= 0.35));
    });

    test('every built-in input stays: header CSV by name, /predict_parameters; built-in errors keep their codes', async () => {
      const byName = await post(server.port, '/invocations', 'support_calls,monthly_charges,tenure_months\n6,110,2', 'text/csv', { Accept: 'application/json' });
      const plain = await post(server.port, '/invocations', '2,110,6', 'text/csv', { Accept: 'application/json' });
      expect(byName.json()).toEqual(plain.json());
      const get = await request(server.port, 'GET', '/predict_parameters?tenure_months=2&monthly_charges=110&support_calls=6');
      expect(get.json()).toEqual(plain.json());
      const bad = await post(server.port, '/invocations', '2,abc,6', 'text/csv');
      expect(bad.status).toBe(400);
      expect(errorOf(bad).code).toBe('INVALID_VALUE');
    });

    test('an error the hook throws with statusCode 400 is a 400 with its message and no stack', async () => {
      const r = await post(server.port, '/invocations', '2,110,6', 'text/csv', { 'X-Amzn-SageMaker-Custom-Attributes': 'threshold=7' });
      expect(r.status).toBe(400);
      expect(r.json()).toEqual({ error: { code: 'INFERENCE_CODE_ERROR', message: 'threshold=7 must be between 0 and 1' } });
    });

    test('batch-safe hooks keep opportunistic batching: queued requests share a model run', async () => {
      const replies = await Promise.all(Array.from({ length: 60 }, (_, i) => post(server.port, '/invocations', `${i},80,1`, 'text/csv')));
      expect(replies.every((r) => r.status === 200)).toBe(true);
      const batched = await server.waitForLog((l) => typeof l.batch === 'number' && (l.batch as number) > 1);
      expect(batched.rows).toBe(1);
    });
  });

  describe('png-colour: a non-tabular model whose inputFn decodes image/png with a dependency of its own', () => {
    let server: Server;
    beforeAll(async () => {
      server = await startServer({ baseDir: path.join(examples, 'png-colour'), env: { MODEL_SERVER_WORKERS: '1' } });
    });
    afterAll(() => server.stop());

    test('a PNG is answered with its dominant colour, with the probabilities onnxruntime gives for the decoded tensor', async () => {
      for (const [file, colour] of [['red.png', 'red'], ['blue.png', 'blue']]) {
        const bytes = fs.readFileSync(path.join(examples, 'png-colour', file));
        const r = await post(server.port, '/invocations', bytes, 'image/png');
        expect(r.status).toBe(200);
        expect(r.headers['content-type']).toBe('application/json');
        const png = PNG.sync.read(bytes);
        const plane = png.width * png.height;
        const values = new Float32Array(3 * plane);
        for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) values[c * plane + p] = png.data[4 * p + c] / 255;
        const session = await ort.InferenceSession.create(path.join(examples, 'png-colour/model/model.onnx'));
        const expected = Array.from((await session.run({ image: new ort.Tensor('float32', values, [1, 3, png.height, png.width]) })).probabilities.data as Float32Array);
        const answer = r.json();
        expect(answer.colour).toBe(colour);
        expect(Object.values(answer.probabilities)).toEqual(expected.map((p) => Math.round(p * 1e4) / 1e4));
      }
    });

    test('the declared media types decide 415 and 406 before any hook runs; a bad image is the hook\'s 400', async () => {
      const csvIn = await post(server.port, '/invocations', '1,2,3', 'text/csv');
      expect(csvIn.status).toBe(415);
      expect(errorOf(csvIn).message).toMatch(/send one of: image\/png/);
      const red = fs.readFileSync(path.join(examples, 'png-colour/red.png'));
      const csvOut = await post(server.port, '/invocations', red, 'image/png', { Accept: 'text/csv' });
      expect(csvOut.status).toBe(406);
      const notPng = await post(server.port, '/invocations', 'not a picture', 'image/png');
      expect(notPng.status).toBe(400);
      expect(errorOf(notPng)).toEqual({ code: 'INFERENCE_CODE_ERROR', message: 'the body is not a PNG: it does not start with the PNG signature' });
    });
  });
});

/** Modules for the multi-model endpoint below, each in its own folder (with the iris model unless said). */
const MODULES: Record<string, Record<string, string>> = {
  // No code at all: the built-in answer, for comparison.
  plain: {},
  post: code(`export const outputFn = (p, accept, ctx) => ({ model: ctx.modelName, accept, top: p.map((r) => r.predicted_label), first: p[0].probabilities });`),
  input: code(`export function inputFn(body, type) {
    if (type !== 'application/vnd.flowers+json') throw Object.assign(new Error('only flowers'), { statusCode: 415 });
    return JSON.parse(body.toString()).flowers.map((f) => [f.sl, f.sw, f.pl, f.pw]);
  }`),
  predict: code(`export async function predictFn(input, model, ctx) {
    const out = await model.run({ input: { type: 'float32', dims: [input.rows, input.width], data: input.values } });
    return { rows: input.rows, request: ctx.requestId, labels: Array.from(out.label.data) };
  }`),
  transform: code(`export const consumes = ['text/plain'];
    export function transformFn(model, body, type, accept, ctx) {
      return { body: 'echo:' + body.toString() + ':' + model.inputNames.join('|'), contentType: 'text/x-echo; charset=us-ascii' };
    }`),
  chain: code(`export const inputFn = (body) => ({ input: { type: 'float32', dims: [1, 4], data: Float32Array.from(body.toString().split(' ').map(Number)) } });
    export const outputFn = (t) => ({ names: Object.keys(t).sort(), dims: t.probabilities.dims, label: t.label.data[0] });`),
  faults: code(`export function predictFn(input, model) {
    const v = input.values[0];
    if (v === 1) throw Object.assign(new Error('rows must be flowers'), { statusCode: 422 });
    if (v === 2) throw new RangeError('secret internals at /srv/app.js');
    if (v === 3) for (;;) {}
    if (v === 4) process.exit(7);
    if (v === 5) Promise.reject(new Error('nobody waits for me'));
    if (v === 6) throw Object.assign(new Error('upstream down'), { statusCode: 503 });
    return [{ ok: v }];
  }`),
  deps: {
    ...code(`import shout from 'shout'; export const outputFn = (p) => shout(String(p[0].predicted_label));`),
    'code/node_modules/shout/package.json': JSON.stringify({ name: 'shout', version: '1.0.0', main: 'index.js' }),
    'code/node_modules/shout/index.js': `module.exports = (s) => s.toUpperCase() + '!';`,
  },
};

describe('per-model code on a multi-model endpoint', () => {
  let server: Server;
  const urls: Record<string, string> = {};
  const load = (name: string, url: string) => request(server.port, 'POST', '/models', { body: JSON.stringify({ model_name: name, url }), headers: { 'Content-Type': 'application/json' } });
  const invoke = (name: string, body: string | Buffer, type = 'text/csv', headers: Record<string, string> = {}) => post(server.port, `/models/${name}/invoke`, body, type, headers);

  beforeAll(async () => {
    server = await startServer({ baseDir: fs.mkdtempSync(path.join(os.tmpdir(), 'ms-code-base-')), env: { SAGEMAKER_MULTI_MODEL: 'true', MODEL_SERVER_WORKERS: '1', MODEL_SERVER_TIMEOUT: '3' } });
    for (const [name, files] of Object.entries(MODULES)) {
      urls[name] = folder(files);
      const r = await load(name, urls[name]);
      expect([name, r.status, r.body]).toEqual([name, 200, expect.any(String)]);
    }
  });
  afterAll(() => server.stop());

  test('outputFn alone sees one record per row, the negotiated type and the context', async () => {
    const [expected] = await irisProbabilities([[5.1, 3.5, 1.4, 0.2]]);
    const r = await invoke('post', IRIS_ROWS, 'text/csv', { Accept: 'application/json' });
    expect(r.status).toBe(200);
    const body = r.json();
    expect(body).toMatchObject({ model: 'post', accept: 'application/json', top: ['setosa', 'virginica'] });
    body.first.forEach((p: number, i: number) => expect(p).toBeCloseTo(expected[i], 6));
    // The model without code on the same endpoint answers as always.
    expect((await invoke('plain', IRIS_ROWS)).body).toBe('setosa\nvirginica\n');
  });

  test('inputFn alone reads its own type; the built-in predictFn and outputFn answer as without code', async () => {
    const flowers = JSON.stringify({ flowers: [{ sl: 5.1, sw: 3.5, pl: 1.4, pw: 0.2 }, { sl: 6.7, sw: 3.0, pl: 5.2, pw: 2.3 }] });
    const r = await invoke('input', flowers, 'application/vnd.flowers+json', { Accept: 'text/csv' });
    expect([r.status, r.body]).toEqual([200, 'setosa\nvirginica\n']);
    const j = await invoke('input', flowers, 'application/vnd.flowers+json', { Accept: 'application/json' });
    expect(j.json()).toEqual((await invoke('plain', IRIS_ROWS, 'text/csv', { Accept: 'application/json' })).json());
    const refused = await invoke('input', '1,2,3,4', 'text/csv');
    expect([refused.status, errorOf(refused).message]).toEqual([415, 'only flowers']);
  });

  test('predictFn alone gets the decoded rows and the session; its plain value is written as JSON, CSV or JSON Lines', async () => {
    const r = await invoke('predict', IRIS_ROWS, 'text/csv', { Accept: 'application/json', 'X-Request-Id': 'req-predict-1' });
    expect(r.json()).toEqual({ rows: 2, request: 'req-predict-1', labels: ['setosa', 'virginica'] });
    const c = await invoke('predict', IRIS_ROWS, 'text/csv', { Accept: 'text/csv' });
    expect(c.body).toBe('2,req-predict-1,"[""setosa"",""virginica""]"\n'.replace('req-predict-1', c.headers['x-request-id'] as string));
  });

  test('transformFn takes the whole request and says its own content type', async () => {
    const r = await invoke('transform', 'hello', 'text/plain');
    expect([r.status, r.headers['content-type'], r.body]).toEqual([200, 'text/x-echo; charset=us-ascii', 'echo:hello:input']);
    expect((await invoke('transform', '1,2,3,4', 'text/csv')).status).toBe(415);
  });

  test('inputFn returning tensors runs through the session; outputFn gets the output tensors by name', async () => {
    const r = await invoke('chain', '5.1 3.5 1.4 0.2', 'text/plain');
    expect(r.json()).toEqual({ names: ['label', 'probabilities'], dims: [1, 3], label: 'setosa' });
  });

  test('a module imports its dependencies from its own code/node_modules', async () => {
    expect((await invoke('deps', '5.1,3.5,1.4,0.2', 'text/csv', { Accept: 'text/plain' })).body).toBe('SETOSA!');
  });

  test('thrown errors: statusCode kept with its message; any other throw a 500 naming the hook; stacks only in the log', async () => {
    const chosen = await invoke('faults', '1,0,0,0');
    expect([chosen.status, chosen.json()]).toEqual([422, { error: { code: 'INFERENCE_CODE_ERROR', message: 'rows must be flowers' } }]);
    const unavailable = await invoke('faults', '6,0,0,0');
    expect([unavailable.status, errorOf(unavailable).message]).toEqual([503, 'upstream down']);
    const thrown = await invoke('faults', '2,0,0,0', 'text/csv', { 'X-Request-Id': 'req-thrown-1' });
    expect(thrown.status).toBe(500);
    expect(errorOf(thrown)).toEqual({ code: 'INFERENCE_CODE_ERROR', message: 'predictFn in code/inference.mjs failed: RangeError: secret internals at /srv/app.js' });
    expect(thrown.body).not.toMatch(/at predictFn|inference\.mjs:\d/);
    const logged = await server.waitForLog((l) => l.reqId === 'req-thrown-1' && typeof l.err === 'string');
    expect(logged.err).toMatch(/RangeError: secret internals[\s\S]*at predictFn \(file:\/\/.*inference\.mjs:\d+/);
  });

  test('a hook stuck in a loop is cut at MODEL_SERVER_TIMEOUT (504), its thread replaced; other models and requests are unaffected', async () => {
    const stuck = invoke('faults', '3,0,0,0');
    const meanwhile = await invoke('plain', IRIS_ROWS);
    expect(meanwhile.status).toBe(200);
    const r = await stuck;
    expect([r.status, errorOf(r).code]).toEqual([504, 'TIMEOUT']);
    await server.waitForLog((l) => /its thread was stopped and a fresh one takes its place/.test(l.msg));
    await server.waitForLog((l) => l.model === 'faults' && /replacement inference thread loaded/.test(l.msg));
    expect((await invoke('faults', '9,0,0,0', 'text/csv', JSON_OUT)).json()).toEqual([{ ok: 9 }]);
  });

  test('a hook that ends its thread fails only its own request; a leaked rejection is logged and harms nothing', async () => {
    const exited = await invoke('faults', '4,0,0,0');
    expect(exited.status).toBe(500);
    expect(errorOf(exited).message).toMatch(/stopped while running model "faults"'s code/);
    expect((await invoke('faults', '9,0,0,0')).body).toBe('9\n');
    const leaked = await invoke('faults', '5,0,0,0', 'text/csv', JSON_OUT);
    expect(leaked.json()).toEqual([{ ok: 5 }]);
    await server.waitForLog((l) => l.level === 'error' && /left a promise rejection unhandled: nobody waits for me/.test(l.msg));
    expect((await invoke('faults', '9,0,0,0')).status).toBe(200);
    expect((await invoke('plain', IRIS_ROWS)).status).toBe(200);
    expect(server.nonJsonOutput()).toEqual([]);
  });

  test('modelFn loads a model of its own (no .onnx file needed) and warmupFn runs before the model is ready', async () => {
    const url = folder(code(`
      let warmed = 0;
      export async function modelFn(dir, ctx) { return { dir, name: ctx.modelName, scale: 3 }; }
      export function warmupFn(model) { warmed += 1; }
      export const predictFn = (input, model) => input.map((row) => row.reduce((a, b) => a + b, 0) * model.scale);
      export const inputFn = (body) => JSON.parse(body.toString());
      export const outputFn = (p, accept, ctx) => ({ sums: p, warmed, model: ctx.modelName });
    `), false);
    expect((await load('own', url)).status).toBe(200);
    const r = await invoke('own', '[[1,2],[3,4]]', 'application/json');
    expect(r.json()).toEqual({ sums: [9, 21], warmed: 1, model: 'own' });
  });

  test('modules that cannot be used are refused at load, naming the file, the hook or the line', async () => {
    const cases: [string, Record<string, string>, RegExp][] = [
      ['syntax', code('export function outputFn(p) {\n  return p +;\n}'), /code\/inference\.mjs .*cannot be loaded: SyntaxError: .* \(line 2\)/],
      ['missing-dep', code(`import x from 'not-installed-anywhere'; export const outputFn = x;`), /cannot be loaded: .*not-installed-anywhere.*node_modules \(nothing is installed at start/],
      ['throws', code(`throw new Error('config file missing');`), /cannot be loaded: Error: config file missing/],
      ['combined', code(`export const transformFn = () => 1; export const outputFn = () => 2;`), /transformFn .* cannot be combined with outputFn/],
      ['python-names', code(`export const model_fn = () => 1;`), /exports model_fn: .* export it as modelFn/],
      ['not-function', code(`export const predictFn = 42;`), /predictFn must be a function \(it is number\)/],
      ['foreign-type', code(`export const consumes = ['image/png']; export const outputFn = (p) => p;`), /declares consumes image\/png, .* add an inputFn/],
      ['warmup', code(`export const warmupFn = () => { throw new TypeError('no GPU'); };`), /warmupFn in code\/inference\.mjs failed: TypeError: no GPU/],
      ['two-modules', { ...code('export {}'), ...code('module.exports = {}', 'inference.cjs') }, /holds inference\.mjs and inference\.cjs: keep one/],
    ];
    for (const [name, files, message] of cases) {
      const r = await load(name, folder(files));
      expect([name, r.status, errorOf(r).code]).toEqual([name, 500, 'INFERENCE_CODE_INVALID']);
      expect(errorOf(r).message).toMatch(message);
      expect(errorOf(r).message).not.toMatch(/\n\s+at /);
    }
    // Nothing of them stays loaded, and the endpoint goes on serving.
    const listed = (await request(server.port, 'GET', '/models')).json().models.map((m: { modelName: string }) => m.modelName);
    expect(listed).not.toContain('syntax');
    expect((await invoke('plain', IRIS_ROWS)).status).toBe(200);
  });
});

describe('single-model start-up with code', () => {
  test('SAGEMAKER_SUBMIT_DIRECTORY and SAGEMAKER_PROGRAM choose where the code is (a CommonJS module here)', async () => {
    const base = path.dirname(folder({ 'code/inference.mjs': 'export const outputFn = () => "the default module";' }));
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-submit-'));
    fs.writeFileSync(path.join(elsewhere, 'handler.cjs'), 'exports.outputFn = (p, accept, ctx) => `handler.cjs for ${ctx.modelName}: ${p.length} rows`;');
    const server = await startServer({ baseDir: base, env: { MODEL_SERVER_WORKERS: '1', SAGEMAKER_SUBMIT_DIRECTORY: elsewhere, SAGEMAKER_PROGRAM: 'handler.cjs' } });
    try {
      const r = await post(server.port, '/invocations', IRIS_ROWS, 'text/csv', { Accept: 'text/plain' });
      expect([r.status, r.body]).toEqual([200, 'handler.cjs for model: 2 rows']);
    } finally {
      await server.stop();
    }
  });

  test('a module that fails to load stops start-up with its message and file; so does a SAGEMAKER_PROGRAM that is not there', async () => {
    const broken = path.dirname(folder(code('export const predictFn = (;')));
    const server = await startServer({ baseDir: broken, ready: false, env: { MODEL_SERVER_WORKERS: '1' } });
    const exit = await server.exited;
    expect(exit.code).not.toBe(0);
    const line = await server.waitForLog((l) => (l.error as { code?: string } | undefined)?.code === 'INFERENCE_CODE_INVALID' || /INFERENCE_CODE_INVALID/.test(JSON.stringify(l)));
    expect(JSON.stringify(line)).toMatch(/code\/inference\.mjs.*SyntaxError/);

    const missing = path.dirname(folder({}));
    const other = await startServer({ baseDir: missing, ready: false, env: { MODEL_SERVER_WORKERS: '1', SAGEMAKER_PROGRAM: 'serve.mjs' } });
    expect((await other.exited).code).not.toBe(0);
    await other.waitForLog((l) => /SAGEMAKER_PROGRAM=serve\.mjs, but .*code\/serve\.mjs does not exist/.test(JSON.stringify(l)));
  });
});
