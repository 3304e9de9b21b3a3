// `npm run bench:models`: a multi-model endpoint under SageMaker's usage: load time (p50/p90), unload time,
// and the server's total memory (every process: primary, workers, nginx) with 0, 10 and 50 models loaded.
// Loopback only; bounded; stops by itself.
// usage: npm run bench:models -- [--models 50] [--workers N] [--copies 1]
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { usableCpus } from '../../container/dist/config/host';
import { treeRssBytes } from '../../container/dist/processes';
import { freePort, option, waitForPing } from './cli-helpers';

const ROOT = path.resolve(__dirname, '../..');
const EXAMPLE = path.join(ROOT, 'local-test/test-dir/model');

const quantile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))];

async function main(): Promise<void> {
  const count = Number(option('models', '50'));
  const workers = Number(option('workers', String(usableCpus())));
  const copies = option('copies', '1');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-bench-models-'));
  fs.chmodSync(tmp, 0o755);
  const port = await freePort();
  const server = spawn(path.join(ROOT, 'container/serve'), [], {
    env: { ...process.env, ORT_DISABLE_TELEMETRY: '1', LOG_LEVEL: 'warn', SAGEMAKER_MULTI_MODEL: 'true', SAGEMAKER_BIND_TO_PORT: String(port), SAGEMAKER_BASE_DIR: tmp, MODEL_SERVER_RUN_DIR: path.join(tmp, 'run'), MODEL_SERVER_WORKERS: String(workers), MODEL_SERVER_MODEL_COPIES: copies },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  const mb = () => Math.round(treeRssBytes(server.pid) / 2 ** 20);
  try {
    await waitForPing(base, server, 30);
    await new Promise((r) => setTimeout(r, 500));
    const memory: Record<number, number> = { 0: mb() };
    const loads: number[] = [];
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      const r = await fetch(`${base}/models`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model_name: `m${i}`, url: EXAMPLE }) });
      if (r.status !== 200) throw new Error(`loading m${i} answered ${r.status}: ${await r.text()}`);
      loads.push(performance.now() - started);
      const invoked = await fetch(`${base}/models/m${i}/invoke`, { method: 'POST', headers: { 'Content-Type': 'text/csv' }, body: '5.1,3.5,1.4,0.2' });
      if (invoked.status !== 200) throw new Error(`invoking m${i} answered ${invoked.status}`);
      if (i + 1 === 10 || i + 1 === count) {
        await new Promise((r) => setTimeout(r, 500));
        memory[i + 1] = mb();
      }
    }
    const unloads: number[] = [];
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      const r = await fetch(`${base}/models/m${i}`, { method: 'DELETE' });
      if (r.status !== 200) throw new Error(`unloading m${i} answered ${r.status}`);
      unloads.push(performance.now() - started);
    }
    await new Promise((r) => setTimeout(r, 1000));
    const after = mb();
    const ms = (v: number) => `${Math.round(v)} ms`;
    console.log(`\nmachine: ${os.cpus().length} x ${os.cpus()[0]?.model}; ${workers} workers, MODEL_SERVER_MODEL_COPIES=${copies}; the example model (${fs.statSync(path.join(EXAMPLE, 'model.onnx')).size} bytes) loaded ${count} times under different names\n`);
    console.log(`load (POST /models until 200):    p50 ${ms(quantile(loads, 0.5))}, p90 ${ms(quantile(loads, 0.9))}, max ${ms(Math.max(...loads))}`);
    console.log(`unload (DELETE until 200):        p50 ${ms(quantile(unloads, 0.5))}, p90 ${ms(quantile(unloads, 0.9))}`);
    console.log(`server memory (RSS of every process): ${Object.entries(memory).map(([n, v]) => `${n} models ${v} MB`).join(', ')}; after unloading all ${after} MB`);
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
