// `npm run bench:xgboost`: this server against the serving stack of AWS's SageMaker XGBoost container
// (gunicorn gevent workers + Flask + xgboost, one thread per worker: tools/xgboost-stack/serve.py), on the
// same 500-tree XGBoost model with the same worker count, beside this server's ceiling (its nginx and Node
// workers answering a constant body: what is left when the model costs nothing), in alternating rounds of
// one run (the machine is shared: each side's median round is reported), with the CPU time each side's
// processes and the load generator spend per request, read from /proc, and what each side's own steps
// cost alone, without HTTP (decode, predict, encode; the stack's in tools/xgboost-stack/alone.py): what
// bounds the rates here.
// Needs python3-gunicorn, python3-flask, python3-gevent and python3-xgboost (Debian). Writes
// docs/bench/xgboost.md (--markdown).
// usage: npm run bench:xgboost -- [--duration SECONDS] [--rounds N] [--workers N] [--markdown FILE] [--python PATH]
import autocannon from 'autocannon';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { decodeRequest, requestCodec, responseCodec } from '../../container/dist/codecs/registry';
import { usableCpus } from '../../container/dist/config/host';
import { createSession } from '../../container/dist/inference/onnxruntime';
import { loadTreeModel } from '../../container/dist/trees/load';
import { treePredictions } from '../../container/dist/trees/model';
import { freePort, option, processCpu, treeCpu, waitForPing } from './cli-helpers';
import { randomCsvRows, writeXgboostBenchModel } from './tree-model';

const ROOT = path.resolve(__dirname, '../..');

interface Side {
  name: string;
  start(port: number): ChildProcess;
  /** CPU seconds its processes have used so far, by part. */
  cpu(child: ChildProcess, port: number): Record<string, number>;
}

interface Measure {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  /** CPU microseconds per request, by part of the side, and of the load generator (this process). */
  cpuUs: Record<string, number>;
}

async function measure(port: number, body: string, connections: number, seconds: number, cpu: () => Record<string, number>): Promise<Measure> {
  const options = { url: `http://127.0.0.1:${port}/invocations`, method: 'POST' as const, body, headers: { 'Content-Type': 'text/csv' }, connections };
  await autocannon({ ...options, duration: 2 });
  const before: Record<string, number> = { ...cpu(), 'load generator': processCpu(process.pid) };
  const r = await autocannon({ ...options, duration: seconds });
  const after: Record<string, number> = { ...cpu(), 'load generator': processCpu(process.pid) };
  const cpuUs = Object.fromEntries(Object.keys(after).map((k) => [k, Math.round(((after[k] - before[k]) * 1e6) / Math.max(1, r.requests.total))]));
  return { rps: Math.round(r.requests.average), p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts + r.non2xx, cpuUs };
}

/** This server's CPU: Node (primary, workers and their threads) and nginx apart. */
function serverCpu(child: ChildProcess, runDir: string): Record<string, number> {
  const nginx = treeCpu(Number(fs.readFileSync(path.join(runDir, 'nginx.pid'), 'utf8')));
  return { node: treeCpu(child.pid!) - nginx, nginx };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * CPU microseconds per request of the model's own steps, run here as an inference thread runs them (one
 * onnxruntime thread): decode the CSV body, run the converted graph, the library's output from its
 * margins, and the answer as SageMaker XGBoost's container writes it. The median of 5 batches.
 */
async function modelAlone(file: string, body: string, runs: number): Promise<Record<string, number>> {
  const { model, onnx } = loadTreeModel([file]);
  const session = await createSession(onnx, 1);
  const bytes = new TextEncoder().encode(body);
  const decoder = requestCodec('text/csv')!;
  const encoder = responseCodec('text/csv')!;
  const ctx = { schema: { features: model.ensemble.features, inputType: 'float32' as const }, params: {} };
  const steps: Record<string, () => unknown> = {};
  const matrix = (decodeRequest(decoder, bytes, ctx).decoded as { matrix: { rows: number; width: number; values: Float32Array } }).matrix;
  const feeds = { input: new ort.Tensor('float32', matrix.values, [matrix.rows, matrix.width]) };
  const margins = (await session.run(feeds)).margin.data as Float32Array;
  const predictions = treePredictions(model, margins, matrix.rows);
  steps.decode = () => decodeRequest(decoder, bytes, ctx);
  steps.predict = () => treePredictions(model, margins, matrix.rows);
  steps.encode = () => encoder.encode!(predictions, { keys: ['predicted_label'], style: 'xgboost', selected: false });
  const cpu = () => { const u = process.cpuUsage(); return u.user + u.system; };
  const out: Record<string, number> = {};
  const batches: Record<string, number[]> = {};
  for (let b = 0; b < 5; b++) {
    let t = cpu();
    for (let i = 0; i < runs; i++) await session.run(feeds);
    (batches.onnxruntime ??= []).push((cpu() - t) / runs);
    for (const [name, step] of Object.entries(steps)) {
      t = cpu();
      for (let i = 0; i < runs; i++) step();
      (batches[name] ??= []).push((cpu() - t) / runs);
    }
  }
  for (const [name, xs] of Object.entries(batches)) out[name] = Math.round(median(xs) * 10) / 10;
  await session.release();
  return out;
}

async function main(): Promise<void> {
  const seconds = Number(option('duration', '8'));
  const rounds = Number(option('rounds', '3'));
  const workers = Number(option('workers', String(usableCpus())));
  const markdown = path.resolve(option('markdown', path.join(ROOT, 'docs/bench/xgboost.md')));
  // Debian's interpreter, where its packages are (a python3 first on PATH may be another one).
  const pythonPath = option('python', fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
  if (spawnSync(pythonPath, ['-c', 'import gunicorn, flask, gevent, xgboost'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('the comparison stack needs Debian\'s python3-gunicorn python3-flask python3-gevent python3-xgboost: apt-get install -y python3-gunicorn python3-flask python3-gevent python3-xgboost');
  }
  // The 1-minute load average before and after: on a shared machine, how busy the cores were besides.
  const loadBefore = os.loadavg()[0];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-bench-xgb-'));
  fs.chmodSync(tmp, 0o755);
  const model = writeXgboostBenchModel(path.join(tmp, 'model'));
  const sides: Side[] = [
    {
      name: 'this server',
      start: (port) => spawn(path.join(ROOT, 'container/serve'), [], { env: { ...process.env, SAGEMAKER_BASE_DIR: tmp, SAGEMAKER_BIND_TO_PORT: String(port), MODEL_SERVER_WORKERS: String(workers), MODEL_SERVER_RUN_DIR: path.join(tmp, `run-${port}`), LOG_LEVEL: 'warn', ORT_DISABLE_TELEMETRY: '1' }, stdio: 'ignore' }),
      cpu: (child, port) => serverCpu(child, path.join(tmp, `run-${port}`)),
    },
    {
      name: 'ceiling',
      start: (port) => spawn(process.execPath, [path.join(__dirname, 'ceiling.js')], { env: { ...process.env, SAGEMAKER_BIND_TO_PORT: String(port), MODEL_SERVER_WORKERS: String(workers), MODEL_SERVER_RUN_DIR: path.join(tmp, `run-${port}`), LOG_LEVEL: 'warn' }, stdio: 'ignore' }),
      cpu: (child, port) => serverCpu(child, path.join(tmp, `run-${port}`)),
    },
    {
      name: 'gunicorn (gevent) + Flask + xgboost',
      start: (port) => spawn(pythonPath, ['-m', 'gunicorn', '-k', 'gevent', '-w', String(workers), '-b', `127.0.0.1:${port}`, '--chdir', path.join(ROOT, 'tools/xgboost-stack'), '--log-level', 'warning', 'serve:app'], { env: { ...process.env, MODEL: model, OMP_NUM_THREADS: '1' }, stdio: 'ignore' }),
      cpu: (child) => ({ gunicorn: treeCpu(child.pid!) }),
    },
  ];
  const scenarios = [
    { name: 'csv 1 row, c=40', body: randomCsvRows(1, 30)[0], connections: 40, rows: 1 },
    { name: 'csv 1000 rows, c=4', body: randomCsvRows(1000, 30).join('\n'), connections: 4, rows: 1000 },
  ];
  const alone: Record<string, Record<string, number>> = {};
  const stackAlone: Record<string, Record<string, number>> = {};
  for (const s of scenarios) {
    const runs = s.rows === 1 ? 2000 : 10;
    alone[s.name] = await modelAlone(model, s.body, runs);
    const python = spawnSync(pythonPath, [path.join(ROOT, 'tools/xgboost-stack/alone.py'), String(runs)], { input: s.body, cwd: path.join(ROOT, 'tools/xgboost-stack'), env: { ...process.env, MODEL: model, OMP_NUM_THREADS: '1' }, encoding: 'utf8' });
    if (python.status !== 0) throw new Error(`tools/xgboost-stack/alone.py failed: ${python.stderr}`);
    stackAlone[s.name] = JSON.parse(python.stdout);
  }
  process.stderr.write(`the steps alone, CPU µs per request: this server ${JSON.stringify(alone)}; the stack ${JSON.stringify(stackAlone)}\n`);
  const results: Record<string, Record<string, Measure[]>> = {};
  for (let round = 0; round < rounds; round++) {
    // Alternate which side goes first, so neither always meets the machine in the same state.
    for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
      const port = await freePort();
      const child = side.start(port);
      try {
        await waitForPing(`http://127.0.0.1:${port}`, child, 120);
        for (const s of scenarios) {
          const m = await measure(port, s.body, s.connections, seconds, () => side.cpu(child, port));
          ((results[s.name] ??= {})[side.name] ??= []).push(m);
          process.stderr.write(`round ${round + 1}: ${side.name}, ${s.name}: ${m.rps} req/s, p99 ${m.p99} ms, ${m.errors} errors, CPU µs/request ${JSON.stringify(m.cpuUs)}\n`);
        }
      } finally {
        await stop(child);
      }
    }
  }
  const [own, top, stack] = sides.map((side) => side.name);
  const lines = [
    '# This server against SageMaker XGBoost\'s serving stack',
    '',
    `Written by \`npm run bench:xgboost\` (${process.argv.slice(2).join(' ') || 'defaults'}) on ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'CPU'}, Node ${process.version}: ${workers} workers each side, ${seconds} s per scenario, ${rounds} alternating rounds (median round shown), the load generator on the same machine. The model: 500 trees of depth 6 over 30 features, XGBoost 1.7.4's legacy binary \`xgboost-model\`. The ceiling is this server's nginx and Node workers answering a constant body. The machine's 1-minute load average: ${loadBefore.toFixed(1)} before the run, ${os.loadavg()[0].toFixed(1)} after it (${os.cpus().length} cores; above ${os.cpus().length}, other work shared them). [What it measures](../xgboost.md#speed).`,
    '',
    '| scenario | this server req/s | stack req/s | ratio | ratio per round | ceiling req/s | this server p99 ms | stack p99 ms | rows/s (this server) | errors |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  const rps = (name: string, side: string) => results[name][side].map((m) => m.rps);
  for (const s of scenarios) {
    const a = median(rps(s.name, own));
    const b = median(rps(s.name, stack));
    const perRound = rps(s.name, own).map((x, i) => (x / Math.max(1, rps(s.name, stack)[i])).toFixed(2)).join(', ');
    const p99 = (side: string) => median(results[s.name][side].map((m) => m.p99));
    const errors = sides.reduce((n, side) => n + results[s.name][side.name].reduce((e, m) => e + m.errors, 0), 0);
    lines.push(`| ${s.name} | ${a} | ${b} | ${(a / Math.max(1, b)).toFixed(2)} | ${perRound} | ${median(rps(s.name, top))} | ${p99(own)} | ${p99(stack)} | ${a * s.rows} | ${errors} |`);
  }
  // CPU per request (median round): with every core busy, a side cannot answer faster than cores / CPU per
  // request, less what the load generator beside it takes.
  lines.push('', 'CPU time per request, µs (median round; /proc before and after each measured run):', '', '| scenario | this server: Node | this server: nginx | this server: total | ceiling: total | stack: gunicorn workers | stack / this server | load generator (this server; stack) |', '|---|---|---|---|---|---|---|---|');
  for (const s of scenarios) {
    const part = (side: string, key: string) => median(results[s.name][side].map((m) => m.cpuUs[key]));
    const total = (side: string) => median(results[s.name][side].map((m) => m.cpuUs.node + m.cpuUs.nginx));
    const gunicorn = part(stack, 'gunicorn');
    lines.push(`| ${s.name} | ${part(own, 'node')} | ${part(own, 'nginx')} | ${total(own)} | ${total(top)} | ${gunicorn} | ${(gunicorn / Math.max(1, total(own))).toFixed(2)} | ${part(own, 'load generator')}; ${part(stack, 'load generator')} |`);
  }
  lines.push('', "Each side's own steps for one request, alone (no HTTP; CPU µs per request, median of 5 batches, one thread): this server's as its inference thread runs them (decode the CSV, onnxruntime, the library's output from the margins, the container's CSV), the stack's as tools/xgboost-stack/serve.py runs them (the CSV to a DMatrix, xgboost's predict, the CSV). The rest of each side's CPU above is the request's way through its HTTP stack.", '', '| scenario | this server: decode | onnxruntime | output + encode | total | stack: decode | xgboost predict | encode | total |', '|---|---|---|---|---|---|---|---|---|');
  for (const s of scenarios) {
    const a = alone[s.name];
    const b = stackAlone[s.name];
    const sum = (xs: number[]) => xs.reduce((x, y) => x + y, 0).toFixed(1);
    lines.push(`| ${s.name} | ${a.decode} | ${a.onnxruntime} | ${(a.predict + a.encode).toFixed(1)} | ${sum([a.decode, a.onnxruntime, a.predict, a.encode])} | ${b.decode} | ${b.predict} | ${b.encode} | ${sum([b.decode, b.predict, b.encode])} |`);
  }
  const table = `${lines.join('\n')}\n`;
  process.stdout.write(`\n${table}`);
  fs.mkdirSync(path.dirname(markdown), { recursive: true });
  fs.writeFileSync(markdown, table);
  fs.rmSync(tmp, { recursive: true, force: true });
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
