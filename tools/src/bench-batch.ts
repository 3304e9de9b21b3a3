// `npm run bench:batch`: batch-transform throughput through the full stack against raw onnxruntime-node
// on the same machine in the same run, for a 100,000-row CSV, with the example model and a 30-feature,
// 150-tree ensemble. Raw = one in-process session with as many intra-op threads as the server has
// inference threads, on a ready Float32Array. Full stack = the transform emulator (MaxPayloadInMB=1, so
// mini-batches can use every thread) through nginx, workers and threads. Both: 8 warm-up runs, then the
// median of 11.
// usage: npm run bench:batch -- [--rows N] [--out FILE]
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadConfig } from '../../container/dist/config/serving';
import { option } from './cli-helpers';
import { randomCsvRows, treeEnsembleModel } from './tree-model';
import { runTransform } from './transform';

const ROOT = path.resolve(__dirname, '../..');

/** Median of a list of rates. */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * Rows/s of `run`: WARMUP runs first (a batch job runs for minutes: JIT compilation and first-touch
 * allocations belong to its first seconds, not its rate), then the median of RUNS.
 */
async function rate(rows: number, run: () => Promise<void>): Promise<number> {
  for (let i = 0; i < WARMUP; i++) await run();
  const rates: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await run();
    rates.push(rows / ((performance.now() - t) / 1000));
  }
  return median(rates);
}

const WARMUP = 8;
const RUNS = 11;

async function raw(model: Uint8Array, rows: string[], features: number, threads: number): Promise<number> {
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
  const x = Float32Array.from(rows.join(',').split(','), Number);
  const feeds = { input: new ort.Tensor('float32', x, [rows.length, features]) };
  // All outputs, as a caller of session.run gets them by default.
  const result = await rate(rows.length, async () => {
    await session.run(feeds);
  });
  await session.release();
  return result;
}

async function fullStack(dir: string, file: string, rows: number, env: Record<string, string>): Promise<number> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-batch-'));
  fs.chmodSync(runDir, 0o755);
  const server = spawn(path.join(ROOT, 'container/serve'), [], {
    env: { ...process.env, ...env, SAGEMAKER_BATCH: 'true', SAGEMAKER_BASE_DIR: dir, SAGEMAKER_BIND_TO_PORT: String(port), MODEL_SERVER_RUN_DIR: path.join(runDir, 'run'), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  try {
    // Each run is a whole transform job over the file (the emulator's own reading, splitting and writing
    // included), against the server started above.
    const outputs = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-batch-out-'));
    let run = 0;
    const result = await rate(rows, async () => {
      const output = path.join(outputs, String(run++));
      const summary = await runTransform({ input: file, output, endpoint: `http://127.0.0.1:${port}`, contentType: 'text/csv', splitType: 'Line', assembleWith: 'Line', maxPayloadMb: 1 }, () => undefined);
      if (summary.failedFiles.length > 0 || summary.records !== rows) throw new Error(`transform failed: ${JSON.stringify(summary)}`);
    });
    fs.rmSync(outputs, { recursive: true, force: true });
    return result;
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
}

async function main(): Promise<void> {
  const rows = Number(option('rows', '100000'));
  const out = path.resolve(option('out', path.join(ROOT, 'bench-results/batch-latest.json')));
  const config = loadConfig({ ...process.env, SAGEMAKER_BATCH: 'true' });
  const threads = config.workers * config.threads;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-batch-'));
  fs.chmodSync(tmp, 0o755);
  const cases = [
    { name: 'iris (example, 4 features)', model: fs.readFileSync(path.join(ROOT, 'local-test/test-dir/model/model.onnx')), features: 4 },
    { name: 'trees (150 trees, 30 features)', model: treeEnsembleModel({ features: 30, trees: 150 }), features: 30 },
  ];
  const results = [];
  for (const c of cases) {
    const dir = path.join(tmp, c.name.split(' ')[0]);
    fs.mkdirSync(path.join(dir, 'model'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'model/model.onnx'), c.model);
    const lines = randomCsvRows(rows, c.features, 3);
    const file = path.join(dir, 'input.csv');
    fs.writeFileSync(file, `${lines.join('\n')}\n`);
    const rawRate = await raw(c.model, lines, c.features, threads);
    const stackRate = await fullStack(dir, file, rows, {});
    results.push({ model: c.name, rows, threads, bytes: fs.statSync(file).size, rawRowsPerSecond: Math.round(rawRate), fullStackRowsPerSecond: Math.round(stackRate), ratio: Number((stackRate / rawRate).toFixed(3)) });
  }
  const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, workers: config.workers, threadsPerWorker: config.threads };
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), machine, results }, null, 2)}\n`);
  console.log(`\nmachine: ${machine.cpus} x ${machine.cpuModel}; ${config.workers} workers x ${config.threads} thread(s); raw uses ${threads} intra-op threads\n`);
  console.log(`${'model'.padEnd(34)}${'rows'.padEnd(9)}${'CSV MB'.padEnd(8)}${'raw rows/s'.padEnd(13)}${'stack rows/s'.padEnd(14)}ratio`);
  for (const r of results) console.log(`${r.model.padEnd(34)}${String(r.rows).padEnd(9)}${(r.bytes / 1e6).toFixed(1).padEnd(8)}${String(r.rawRowsPerSecond).padEnd(13)}${String(r.fullStackRowsPerSecond).padEnd(14)}${r.ratio}`);
  console.log(`\nwrote ${out}`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
