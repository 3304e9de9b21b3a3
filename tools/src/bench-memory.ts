// `npm run bench:memory`: what a model really costs a multi-model endpoint, beside the share of the memory
// budget the server reserves for it (cluster/memory.ts), for models of several kinds and sizes: the growth
// of the whole server's memory (primary, workers, nginx; proportional set sizes, as the budget's guard
// reads them) per model when three copies of it are
// loaded and invoked once each, its highest point while they load, and what is left after they are
// unloaded. One worker, so that its one-time cost (the first model it holds loads onnxruntime's library)
// is measured once, apart from the models.
// Loopback only; bounded; stops by itself.
// usage: npm run bench:memory -- [--threads 1,2] [--models iris,forest-2,...]
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { modelShare, modelWeight, RUNTIME_BYTES } from '../../container/dist/cluster/memory';
import { GraphBuilder, serializeModel } from '../../container/dist/onnx/writer';
import { treeMemoryBytes } from '../../container/dist/processes';
import { freePort, option, waitForPing } from './cli-helpers';
import { treeEnsembleModel } from './tree-model';

const ROOT = path.resolve(__dirname, '../..');
const EXAMPLE = path.join(ROOT, 'local-test/test-dir/model');
const MB = 2 ** 20;

/** A model to measure: its folder's files and one request it answers. */
export interface MemoryFixture {
  name: string;
  kind: string;
  files: Record<string, Uint8Array | string>;
  body: string;
  type: string;
}

/** y = x W on [N, F] with W of F x 256 float32: a tensor model of about `mb` MB of weights. */
export function weightsModel(mb: number): Uint8Array {
  const outputs = 256;
  const features = Math.max(1, Math.round((mb * MB) / 4 / outputs));
  const g = new GraphBuilder('weights');
  const x = g.input('x', 'FLOAT', ['N', features]);
  const w = new Float32Array(features * outputs);
  for (let i = 0; i < w.length; i++) w[i] = ((i * 7919) % 1000) / 1000 - 0.5;
  g.node('MatMul', [x, g.constant('w', 'FLOAT', [features, outputs], w)], {}, { outputs: ['y'] });
  g.output('y', 'FLOAT', ['N', outputs]);
  return serializeModel(g);
}

const weightsRequest = (mb: number) => {
  const features = Math.max(1, Math.round((mb * MB) / 4 / 256));
  return JSON.stringify({ inputs: [{ name: 'x', shape: [1, features], datatype: 'FP32', data: new Array(features).fill(0.5) }] });
};

const iris = () => ({ 'model.onnx': fs.readFileSync(path.join(EXAMPLE, 'model.onnx')), 'model.json': fs.readFileSync(path.join(EXAMPLE, 'model.json')) });

/** Models of the kinds a multi-model endpoint serves, from kilobytes to tens of megabytes. */
export function memoryFixtures(): MemoryFixture[] {
  const row = Array.from({ length: 30 }, (_, i) => (i % 7) / 7).join(',');
  return [
    { name: 'iris', kind: 'classifier (the example)', files: iris(), body: '5.1,3.5,1.4,0.2', type: 'text/csv' },
    {
      name: 'iris-code',
      kind: 'classifier with inference code',
      files: { ...iris(), 'code/inference.mjs': 'export function outputFn(prediction) {\n  return prediction.map((row) => ({ label: row.predicted_label }));\n}\n' },
      body: '5.1,3.5,1.4,0.2',
      type: 'text/csv',
    },
    { name: 'forest-1', kind: 'tree ensemble, 150 trees of depth 6', files: { 'model.onnx': treeEnsembleModel({ trees: 150, depth: 6 }) }, body: row, type: 'text/csv' },
    { name: 'forest-2', kind: 'tree ensemble, 400 trees of depth 8', files: { 'model.onnx': treeEnsembleModel({ trees: 400, depth: 8 }) }, body: row, type: 'text/csv' },
    ...[4, 16, 64].map((mb) => ({ name: `weights-${mb}`, kind: `tensor model, ${mb} MB of weights`, files: { 'model.onnx': weightsModel(mb) }, body: weightsRequest(mb), type: 'application/json' })),
  ];
}

/** Writes a fixture as a model folder (laid out like /opt/ml/models/<name>/model); returns it. */
export function writeFixture(dir: string, fixture: MemoryFixture): string {
  const folder = path.join(dir, fixture.name, 'model');
  for (const [file, content] of Object.entries(fixture.files)) {
    fs.mkdirSync(path.dirname(path.join(folder, file)), { recursive: true });
    fs.writeFileSync(path.join(folder, file), content);
  }
  return folder;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function call(base: string, method: string, url: string, body?: string, type = 'application/json'): Promise<void> {
  const r = await fetch(`${base}${url}`, { method, headers: body ? { 'Content-Type': type } : {}, body });
  if (r.status !== 200) throw new Error(`${method} ${url} answered ${r.status}: ${await r.text()}`);
  await r.arrayBuffer();
}

interface Row {
  kind: string;
  fileMb: number;
  shareMb: number;
  grownMb: number;
  peakMb: number;
  leftMb: number;
}

/** Copies of each model loaded at once: the growth per model is their growth divided by this. */
const COPIES = 3;

/**
 * One server (one worker, `threads` threads per model) per model measured, so that what one model leaves
 * behind does not blur the next one's figures: its first model (the example) is loaded, invoked and
 * unloaded to pay the worker's one-time cost, then COPIES copies of `fixture` are.
 */
async function measure(threads: number, fixture: MemoryFixture, tmp: string): Promise<{ firstMb: number; row: Row }> {
  const port = await freePort();
  const server: ChildProcess = spawn(path.join(ROOT, 'container/serve'), [], {
    env: { ...process.env, ORT_DISABLE_TELEMETRY: '1', LOG_LEVEL: 'warn', SAGEMAKER_MULTI_MODEL: 'true', SAGEMAKER_BIND_TO_PORT: String(port), SAGEMAKER_BASE_DIR: tmp, MODEL_SERVER_RUN_DIR: path.join(tmp, `run-${port}`), MODEL_SERVER_WORKERS: '1', MODEL_SERVER_THREADS: String(threads) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  // Resident memory settles a moment after each step (threads exit, pages are returned): the lowest of a few reads.
  const rss = async () => {
    let low = Infinity;
    for (let i = 0; i < 5; i++) {
      await sleep(200);
      low = Math.min(low, treeMemoryBytes(server.pid));
    }
    return low / MB;
  };
  try {
    await waitForPing(base, server, 60);
    const [example] = memoryFixtures();
    const exampleDir = writeFixture(tmp, example);
    const folder = writeFixture(tmp, fixture);
    const empty = await rss();
    await call(base, 'POST', '/models', JSON.stringify({ model_name: 'first', url: exampleDir }));
    await call(base, 'POST', '/models/first/invoke', example.body, example.type);
    await call(base, 'DELETE', '/models/first');
    const before = await rss();
    const names = Array.from({ length: COPIES }, (_, k) => `${fixture.name}-${k}`);
    // Sampled while the copies load and answer: a load may take more for a moment than it keeps.
    let peak = before * MB;
    const sampler = setInterval(() => (peak = Math.max(peak, treeMemoryBytes(server.pid))), 20);
    for (const name of names) {
      await call(base, 'POST', '/models', JSON.stringify({ model_name: name, url: folder }));
      await call(base, 'POST', `/models/${name}/invoke`, fixture.body, fixture.type);
    }
    clearInterval(sampler);
    const loaded = await rss();
    for (const name of names) await call(base, 'DELETE', `/models/${name}`);
    const after = await rss();
    const file = path.join(folder, 'model.onnx');
    const share = modelShare(modelWeight(file, (f) => fs.statSync(f).size), 1, threads);
    const row = { kind: fixture.kind, fileMb: fs.statSync(file).size / MB, shareMb: share / MB, grownMb: (loaded - before) / COPIES, peakMb: (peak / MB - before) / COPIES, leftMb: (after - before) / COPIES };
    return { firstMb: before - empty, row };
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
}

async function main(): Promise<void> {
  const threadCounts = option('threads', '1,2').split(',').map(Number);
  const only = option('models', '').split(',').filter(Boolean);
  const fixtures = memoryFixtures().filter((f) => only.length === 0 || only.includes(f.name));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-bench-memory-'));
  fs.chmodSync(tmp, 0o755);
  const f = (v: number) => (v < 10 ? v.toFixed(1) : String(Math.round(v)));
  try {
    console.log(`\nmachine: ${os.cpus().length} x ${os.cpus()[0]?.model}, ${Math.round(os.totalmem() / 2 ** 30)} GB; one worker; memory of the whole server (proportional set sizes), one server per model\n`);
    for (const threads of threadCounts) {
      const rows: Row[] = [];
      const first: number[] = [];
      for (const fixture of fixtures) {
        const measured = await measure(threads, fixture, tmp);
        rows.push(measured.row);
        first.push(measured.firstMb);
      }
      const [low, high] = [Math.min(...first), Math.max(...first)];
      console.log(`MODEL_SERVER_THREADS=${threads}: a worker's first model adds ${f(low)}-${f(high)} MB once (the budget reserves ${f(RUNTIME_BYTES / MB)} MB per worker for it); per model, ${COPIES} copies loaded:\n`);
      console.log('| model | file MB | share MB | grown MB | at most while loading MB | left after unload MB |');
      console.log('|---|---|---|---|---|---|');
      for (const r of rows) console.log(`| ${r.kind} | ${f(r.fileMb)} | ${f(r.shareMb)} | ${f(r.grownMb)} | ${f(r.peakMb)} | ${f(r.leftMb)} |`);
      console.log('');
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
