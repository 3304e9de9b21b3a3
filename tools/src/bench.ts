// `npm run bench`: the real stack (nginx + workers + threads) against a ceiling server (the same nginx
// configuration in front of the same number of Node workers answering a constant body), both driven by
// autocannon on this machine, loopback only, for a bounded time, with the CPU each side's worker processes
// and nginx spend per request. Prints a table, writes JSON and docs/bench/latest.md (--markdown).
// --serve runs another checkout's container/serve (the same measure before and after a change).
// `proxy` (in --models): constant-answer scorers (node:http, and Java's HttpServer when Java is installed)
// called directly and through serve in proxy mode, in alternating rounds of the same run (--rounds, the
// median of each side), with the CPU each part spends per request.
// usage: npm run bench -- [--models iris,trees,xgboost,fraud,proxy] [--duration SECONDS] [--workers N] [--out FILE]
//          [--markdown FILE] [--batch N] [--rounds N] [--serve PATH/TO/container/serve]
import autocannon from 'autocannon';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { usableCpus } from '../../container/dist/config/host';
import { createLogger } from '../../container/dist/logger';
import { runTraining } from '../../container/dist/train/run';
import { childrenOf, freePort, option, processCpu, waitForPing } from './cli-helpers';
import { FRAUD_FIELDS, SEED_ROW, writeFraudDataset } from './make-fraud-data';
import { randomCsvRows, treeEnsembleModel, writeXgboostBenchModel } from './tree-model';

const ROOT = path.resolve(__dirname, '../..');
let SERVE = path.join(ROOT, 'container/serve');
const CEILING = path.join(__dirname, 'ceiling.js');
const CONSTANT_SCORER = path.join(__dirname, 'constant-scorer.js');
// Java runs it from source; it sits beside this file's TypeScript source.
const JAVA_CONSTANT_SCORER = path.join(ROOT, 'tools/src/ConstantScorer.java');

export interface Scenario {
  name: string;
  connections: number;
  method: 'GET' | 'POST';
  path: string;
  body?: string;
  headers?: Record<string, string>;
}

export interface Measure {
  requestsPerSecond: number;
  rowsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  requests: number;
  /** CPU time per request by part (microseconds), when the run was given a CPU snapshot. */
  cpuUsPerRequest?: Record<string, number>;
}

/** CPU seconds used so far, by part. */
type CpuSnapshot = () => Record<string, number>;

interface ModelCase {
  name: string;
  dir: string;
  row: string;
  names: string[];
  /** The 1000-row CSV body (default: random numbers as wide as `row`). */
  rows1000?: string;
  /** Only these scenarios (a model without feature names has no GET /predict_parameters). */
  only?: string[];
}

const rows1000 = (m: ModelCase) => m.rows1000 ?? randomCsvRows(1000, m.row.split(',').length).join('\n');


export function start(command: string, args: string[], env: Record<string, string>, discardOutput = false): ChildProcess {
  const child = spawn(command, args, { env: { ...process.env, ORT_DISABLE_TELEMETRY: '1', LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', discardOutput ? 'ignore' : 'pipe', discardOutput ? 'ignore' : 'pipe'] });
  const keep = (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (/"level":"(error|fatal)"/.test(line)) process.stderr.write(`${line}\n`);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return child;
}

export async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
}

export async function drive(port: number, s: Scenario, seconds: number, rowsPerRequest: number, cpu?: CpuSnapshot): Promise<Measure> {
  const options = {
    url: `http://127.0.0.1:${port}${s.path}`,
    connections: s.connections,
    method: s.method,
    body: s.body,
    headers: s.headers,
  };
  await autocannon({ ...options, duration: Math.min(2, seconds) });
  const before = cpu?.();
  const r = await autocannon({ ...options, duration: seconds });
  const after = cpu?.();
  const errors = r.errors + r.timeouts + r.non2xx;
  return {
    requestsPerSecond: Math.round(r.requests.average),
    rowsPerSecond: Math.round(r.requests.average * rowsPerRequest),
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors,
    requests: r.requests.total,
    ...(before && after ? { cpuUsPerRequest: Object.fromEntries(Object.keys(after).map((k) => [k, Math.round(((after[k] - before[k]) * 1e6) / Math.max(1, r.requests.total))])) } : {}),
  };
}

/** CPU per request of the server against the ceiling's: its worker processes alone, and nginx included. */
function cpuRatios(own: Measure, ceiling: Measure): { workers?: number; whole?: number } {
  const o = own.cpuUsPerRequest;
  const c = ceiling.cpuUsPerRequest;
  if (!o || !c || !c.workers) return {};
  return { workers: Number((o.workers / c.workers).toFixed(2)), whole: Number(((o.workers + o.nginx) / Math.max(1, c.workers + c.nginx)).toFixed(2)) };
}

/** CPU seconds so far of a server's Node processes (the primary and its workers) and of its nginx, apart. */
export function serverCpu(primary: number, runDir: string): CpuSnapshot {
  const nginxMaster = () => Number(fs.readFileSync(path.join(runDir, 'nginx.pid'), 'utf8'));
  return () => {
    const master = nginxMaster();
    return {
      workers: [primary, ...childrenOf(primary).filter((pid) => pid !== master)].reduce((sum, pid) => sum + processCpu(pid), 0),
      nginx: [master, ...childrenOf(master)].reduce((sum, pid) => sum + processCpu(pid), 0),
    };
  };
}

function scenarios(m: ModelCase, rows1000: string): (Scenario & { rows: number })[] {
  const csv = { 'Content-Type': 'text/csv' };
  const query = m.names.map((n, i) => `${n}=${m.row.split(',')[i]}`).join('&');
  return [
    { name: 'csv 1 row, c=1', connections: 1, method: 'POST', path: '/invocations', body: m.row, headers: csv, rows: 1 },
    { name: 'csv 1 row, c=10', connections: 10, method: 'POST', path: '/invocations', body: m.row, headers: csv, rows: 1 },
    { name: 'csv 1 row, c=40', connections: 40, method: 'POST', path: '/invocations', body: m.row, headers: csv, rows: 1 },
    { name: 'csv 1000 rows, c=4', connections: 4, method: 'POST', path: '/invocations', body: rows1000, headers: csv, rows: 1000 },
    { name: 'GET /predict_parameters, c=40', connections: 40, method: 'GET', path: `/predict_parameters?${query}`, rows: 1 },
  ].filter((s) => !m.only || m.only.includes(s.name)) as (Scenario & { rows: number })[];
}

function workerRss(primary: number): number[] {
  const children = fs.readFileSync(`/proc/${primary}/task/${primary}/children`, 'utf8').trim().split(/\s+/).map(Number);
  return children
    .filter((pid) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('serve.js'))
    .map((pid) => Math.round(Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024));
}

async function main(): Promise<void> {
  const seconds = Number(option('duration', '8'));
  const workers = Number(option('workers', String(usableCpus())));
  const out = path.resolve(option('out', path.join(ROOT, 'bench-results/latest.json')));
  const wanted = option('models', 'iris,trees,xgboost,fraud,proxy').split(',');
  const rounds = Number(option('rounds', '3'));
  const batch = option('batch', '');
  const markdown = path.resolve(option('markdown', path.join(ROOT, 'docs/bench/latest.md')));
  SERVE = path.resolve(option('serve', SERVE));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-bench-'));
  // nginx's workers (user nobody when run as root) must reach the sockets in the run directories below.
  fs.chmodSync(tmp, 0o755);

  const cases: ModelCase[] = [];
  if (wanted.includes('iris')) {
    cases.push({ name: 'iris (example, logistic, 4 features)', dir: path.join(ROOT, 'local-test/test-dir'), row: '5.1,3.5,1.4,0.2', names: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'] });
  }
  if (wanted.includes('trees')) {
    const dir = path.join(tmp, 'trees');
    fs.mkdirSync(path.join(dir, 'model'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'model/model.onnx'), treeEnsembleModel({ features: 30, trees: 150 }));
    cases.push({ name: 'trees (150 trees, depth 6, 30 features)', dir, row: randomCsvRows(1, 30)[0], names: Array.from({ length: 30 }, (_, i) => `f${i}`) });
  }

  if (wanted.includes('xgboost')) {
    // SageMaker's XGBoost model file as its training job writes it (legacy binary), 500 trees of depth 6.
    const dir = path.join(tmp, 'xgboost');
    writeXgboostBenchModel(path.join(dir, 'model'));
    cases.push({ name: 'xgboost (500 trees, depth 6, 30 features)', dir, row: randomCsvRows(1, 30)[0], names: [], only: ['csv 1 row, c=40', 'csv 1000 rows, c=4'] });
  }

  if (wanted.includes('fraud')) {
    // The H2O scorer's example: a model `train` makes from the synthetic BankSim-shaped data (one input per
    // column, seven of them strings); its GET scenario is the scorer's own line, as `ab -k -c 40` sends it.
    const dir = path.join(tmp, 'fraud');
    writeFraudDataset(dir);
    await runTraining(dir, createLogger('warn', { role: 'bench' }), () => false);
    const data = fs.readFileSync(path.join(dir, 'input/data/training/fraud.csv'), 'utf8').split('\n').slice(1, 1001);
    cases.push({ name: 'fraud (H2O example, 9 mixed columns)', dir, row: Object.values(SEED_ROW).join(','), names: FRAUD_FIELDS.slice(0, -1), rows1000: data.map((l) => l.slice(0, l.lastIndexOf(','))).join('\n') });
  }

  const env = (port: number, name: string) => ({ SAGEMAKER_BIND_TO_PORT: String(port), MODEL_SERVER_WORKERS: String(workers), MODEL_SERVER_RUN_DIR: path.join(tmp, name) });
  const started = Date.now();
  const results: Record<string, unknown>[] = [];

  // The ceiling takes the same requests as the model runs (its answer ignores them).
  const ceilingPort = await freePort();
  const ceiling = cases.length > 0 ? start(process.execPath, [CEILING], env(ceilingPort, 'ceiling')) : undefined;
  const ceilingResults = new Map<string, Measure>();
  try {
    if (ceiling) await waitForPing(`http://127.0.0.1:${ceilingPort}`, ceiling, 30);
    const cpu = ceiling && serverCpu(ceiling.pid!, path.join(tmp, 'ceiling'));
    for (const m of cases) {
      for (const s of scenarios(m, rows1000(m))) {
        const key = `${m.name}|${s.name}`;
        ceilingResults.set(key, await drive(ceilingPort, s, seconds, s.rows, cpu));
      }
    }
  } finally {
    if (ceiling) await stop(ceiling);
  }

  for (const m of cases) {
    const port = await freePort();
    const server = start(SERVE, [], { ...env(port, m.name.split(' ')[0]), SAGEMAKER_BASE_DIR: m.dir, ...(batch ? { MODEL_SERVER_MAX_BATCH: batch } : {}) });
    try {
      await waitForPing(`http://127.0.0.1:${port}`, server, 30);
      const cpu = serverCpu(server.pid!, path.join(tmp, m.name.split(' ')[0]));
      for (const s of scenarios(m, rows1000(m))) {
        const own = await drive(port, s, seconds, s.rows, cpu);
        const top = ceilingResults.get(`${m.name}|${s.name}`)!;
        results.push({ model: m.name, scenario: s.name, ...own, ceiling: top, ratio: Number((own.requestsPerSecond / top.requestsPerSecond).toFixed(3)), p99VsCeiling: Number((own.p99 / Math.max(top.p99, 1)).toFixed(2)) });
      }
      results.push({ model: m.name, memoryPerWorkerMb: workerRss(server.pid!) });
    } finally {
      await stop(server);
    }
    // The same model on a multi-model endpoint, invoked through /models/<name>/invoke, with a copy in every
    // worker (MODEL_SERVER_MODEL_COPIES = workers: a hot model using every core), against the numbers above.
    const mmePort = await freePort();
    const mme = start(SERVE, [], { ...env(mmePort, `${m.name.split(' ')[0]}-mme`), SAGEMAKER_BASE_DIR: m.dir, SAGEMAKER_MULTI_MODEL: 'true', MODEL_SERVER_MODEL_COPIES: String(workers) });
    try {
      await waitForPing(`http://127.0.0.1:${mmePort}`, mme, 30);
      const loadStarted = performance.now();
      const loaded = await fetch(`http://127.0.0.1:${mmePort}/models`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ model_name: 'bench', url: path.join(m.dir, 'model') }) });
      if (loaded.status !== 200) throw new Error(`loading the model on the multi-model endpoint answered ${loaded.status}: ${await loaded.text()}`);
      const loadMs = Math.round(performance.now() - loadStarted);
      const cpu = serverCpu(mme.pid!, path.join(tmp, `${m.name.split(' ')[0]}-mme`));
      for (const s of scenarios(m, rows1000(m)).filter((x) => x.method === 'POST' && x.connections > 1)) {
        const own = await drive(mmePort, { ...s, path: '/models/bench/invoke' }, seconds, s.rows, cpu);
        const single = results.find((r) => r.model === m.name && r.scenario === s.name) as { requestsPerSecond: number } | undefined;
        const top = ceilingResults.get(`${m.name}|${s.name}`)!;
        results.push({ model: m.name, scenario: `${s.name}, multi-model`, ...own, ceiling: top, ratio: Number((own.requestsPerSecond / top.requestsPerSecond).toFixed(3)), p99VsCeiling: Number((own.p99 / Math.max(top.p99, 1)).toFixed(2)), vsSingleModel: single ? Number((own.requestsPerSecond / single.requestsPerSecond).toFixed(3)) : undefined, loadMs });
      }
    } finally {
      await stop(mme);
    }

    // The effect of opportunistic batching: the busiest scenario again with it turned off.
    const offPort = await freePort();
    const off = start(SERVE, [], { ...env(offPort, `${m.name.split(' ')[0]}-nobatch`), SAGEMAKER_BASE_DIR: m.dir, MODEL_SERVER_MAX_BATCH: '1' });
    try {
      await waitForPing(`http://127.0.0.1:${offPort}`, off, 30);
      const s = scenarios(m, '').find((x) => x.name === 'csv 1 row, c=40')!;
      const own = await drive(offPort, s, seconds, 1, serverCpu(off.pid!, path.join(tmp, `${m.name.split(' ')[0]}-nobatch`)));
      const top = ceilingResults.get(`${m.name}|${s.name}`)!;
      results.push({ model: m.name, scenario: `${s.name}, batching off`, ...own, ceiling: top, ratio: Number((own.requestsPerSecond / top.requestsPerSecond).toFixed(3)), p99VsCeiling: Number((own.p99 / Math.max(top.p99, 1)).toFixed(2)) });
    } finally {
      await stop(off);
    }
  }

  const proxyResults = wanted.includes('proxy') ? await benchProxy(tmp, seconds, rounds) : [];

  const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGb: Math.round(os.totalmem() / 2 ** 30), node: process.version, workers, seconds, batch: batch || 'default', serve: SERVE };
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), machine, results, proxy: proxyResults }, null, 2)}\n`);

  const pad = (s: unknown, n: number) => String(s).padEnd(n);
  console.log(`\nmachine: ${machine.cpus} x ${machine.cpuModel}, ${machine.memoryGb} GB, Node ${machine.node}; ${workers} workers; ${seconds} s per scenario (load generator on the same machine)\n`);
  console.log(`${pad('model', 40)}${pad('scenario', 32)}${pad('req/s', 9)}${pad('ceiling', 9)}${pad('ratio', 7)}${pad('p50 ms', 8)}${pad('p99 ms', 8)}${pad('ceil p99', 9)}${pad('errors', 7)}${pad('rows/s', 10)}${pad('worker µs', 11)}${pad('ceil µs', 9)}${pad('nginx µs', 10)}${pad('ceil nginx', 12)}${pad('cpu x', 7)}whole x`);
  for (const r of results) {
    if ('memoryPerWorkerMb' in r) {
      console.log(`${pad(r.model, 40)}memory per worker (RSS MB): ${(r.memoryPerWorkerMb as number[]).join(', ')}`);
      continue;
    }
    const c = r.ceiling as Measure;
    const vs = r.vsSingleModel !== undefined ? `  (${r.vsSingleModel} of single-model; load ${r.loadMs} ms)` : '';
    const own = (r as unknown as Measure).cpuUsPerRequest;
    console.log(`${pad(r.model, 40)}${pad(r.scenario, 32)}${pad(r.requestsPerSecond, 9)}${pad(c.requestsPerSecond, 9)}${pad(r.ratio, 7)}${pad(r.p50, 8)}${pad(r.p99, 8)}${pad(c.p99, 9)}${pad(r.errors, 7)}${pad(r.rowsPerSecond, 10)}${pad(own?.workers ?? '-', 11)}${pad(c.cpuUsPerRequest?.workers ?? '-', 9)}${pad(own?.nginx ?? '-', 10)}${pad(c.cpuUsPerRequest?.nginx ?? '-', 12)}${pad(cpuRatios(r as unknown as Measure, c).workers ?? '-', 7)}${cpuRatios(r as unknown as Measure, c).whole ?? '-'}${vs}`);
  }
  if (proxyResults.length > 0) {
    console.log(`\nproxy mode: a constant-answer scorer called directly and through serve (nginx -> hop -> scorer), POST /invocations with one CSV row; median of ${rounds} alternating round(s) each; ratio: the median of each round's through/direct\n`);
    console.log(`${pad('scenario', 62)}${pad('through', 9)}${pad('direct', 9)}${pad('ratio', 7)}${pad('p50 ms', 8)}${pad('p99 ms', 8)}${pad('direct p99', 11)}errors`);
    for (const r of proxyResults) {
      console.log(`${pad(r.scenario, 62)}${pad(r.through.requestsPerSecond, 9)}${pad(r.direct.requestsPerSecond, 9)}${pad(r.ratio, 7)}${pad(r.through.p50, 8)}${pad(r.through.p99, 8)}${pad(r.direct.p99, 11)}${r.through.errors + r.direct.errors}`);
    }
    const parts = (m: Measure) => Object.entries(m.cpuUsPerRequest ?? {}).filter(([, us]) => us > 0).map(([part, us]) => `${part} ${us}`).join(', ');
    console.log('\nCPU microseconds per request (median round), and the ratio if both sides had the same CPU to spend:');
    for (const r of proxyResults) {
      const total = (m: Measure) => Object.values(m.cpuUsPerRequest ?? {}).reduce((a, b) => a + b, 0);
      console.log(`${pad(r.scenario, 62)}direct ${total(r.direct)} (${parts(r.direct)}); through ${total(r.through)} (${parts(r.through)}); CPU-bound ratio ${(total(r.direct) / Math.max(1, total(r.through))).toFixed(2)}`);
    }
  }
  fs.mkdirSync(path.dirname(markdown), { recursive: true });
  fs.writeFileSync(markdown, markdownTable(machine, results, proxyResults));
  console.log(`\nwrote ${out} and ${markdown} in ${Math.round((Date.now() - started) / 1000)} s`);
}

/** The latest run as the page docs/performance.md links to: the table above, in Markdown. */
function markdownTable(machine: Record<string, unknown>, results: Record<string, unknown>[], proxy: ProxyResult[]): string {
  const lines = [
    '# Latest `npm run bench`',
    '',
    `Written by \`npm run bench\` (${[...process.argv.slice(2)].join(' ') || 'defaults'}) on ${machine.cpus} x ${machine.cpuModel}, ${machine.memoryGb} GB, Node ${machine.node}: ${machine.workers} workers, ${machine.seconds} s per scenario, the load generator on the same machine. [How to read it](../performance.md).`,
    '',
    "The ceiling is the same nginx configuration in front of as many Node workers answering a constant body. CPU columns are microseconds of CPU per request: the server's Node processes (primary and workers, with their inference threads) and its nginx, then the ceiling's; the last two columns divide the server's by the ceiling's, for the worker processes alone and for the whole server (nginx included).",
    '',
    '| model | scenario | req/s | ceiling req/s | ratio | p50 ms | p99 ms | rows/s | workers µs | ceiling workers µs | nginx µs | ceiling nginx µs | workers / ceiling | whole / ceiling |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    if ('memoryPerWorkerMb' in r) continue;
    const own = r as unknown as Measure & { scenario: string; model: string; ratio: number; ceiling: Measure };
    const c = own.ceiling;
    lines.push(`| ${own.model} | ${own.scenario} | ${own.requestsPerSecond} | ${c.requestsPerSecond} | ${own.ratio} | ${own.p50} | ${own.p99} | ${own.rowsPerSecond} | ${own.cpuUsPerRequest?.workers ?? '-'} | ${c.cpuUsPerRequest?.workers ?? '-'} | ${own.cpuUsPerRequest?.nginx ?? '-'} | ${c.cpuUsPerRequest?.nginx ?? '-'} | ${cpuRatios(own, c).workers ?? '-'} | ${cpuRatios(own, c).whole ?? '-'} |`);
  }
  const memory = results.filter((r) => 'memoryPerWorkerMb' in r).map((r) => `${r.model}: ${(r.memoryPerWorkerMb as number[]).join(', ')} MB`);
  if (memory.length > 0) lines.push('', `Resident memory per worker after the run: ${memory.join('; ')}.`);
  if (proxy.length > 0) {
    lines.push('', '## Proxy mode', '', 'A constant-answer scorer called directly and through `serve`, in alternating rounds (the median round of each).', '', '| scenario | through req/s | direct req/s | ratio | p99 ms | direct p99 ms |', '|---|---|---|---|---|---|');
    for (const r of proxy) lines.push(`| ${r.scenario} | ${r.through.requestsPerSecond} | ${r.direct.requestsPerSecond} | ${r.ratio} | ${r.through.p99} | ${r.direct.p99} |`);
  }
  return `${lines.join('\n')}\n`;
}

interface ProxyResult {
  scenario: string;
  /** The round with the median requests/s, through serve and direct. */
  through: Measure;
  direct: Measure;
  /** The median over rounds of through / direct. */
  ratio: number;
  /** Every round's requests/s, through serve and direct, in the order they ran. */
  rounds: { through: number; direct: number }[];
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** The measure of the round with the median requests/s. */
const medianMeasure = (measures: Measure[]) => {
  const m = median(measures.map((x) => x.requestsPerSecond));
  return measures.find((x) => x.requestsPerSecond === m)!;
};

/** The constant-answer scorers proxy mode is measured against: node:http, and Java's HttpServer when Java is installed. */
function constantScorers(): { name: string; command: string; args: (port: number) => string[] }[] {
  const scorers = [{ name: 'node:http scorer', command: process.execPath, args: (port: number) => [CONSTANT_SCORER, String(port)] }];
  if (spawnSync('java', ['-version'], { stdio: 'ignore' }).status === 0) {
    scorers.push({ name: 'Java HttpServer scorer', command: 'java', args: (port: number) => [JAVA_CONSTANT_SCORER, String(port)] });
  } else {
    console.error('bench: java is not installed, so proxy mode is measured against the node:http scorer only');
  }
  return scorers;
}

/**
 * Proxy mode against its own upstream: the same constant-answer scorer process, driven directly and
 * through serve in alternating rounds (this machine's speed drifts by 2x within minutes, so one round of
 * each would compare different machines). With LOG_LEVEL=warn, as the rest of the bench; for node:http,
 * one more scenario with the request log on (LOG_LEVEL=info: one JSON line per request, written by nginx).
 */
async function benchProxy(tmp: string, seconds: number, rounds: number): Promise<ProxyResult[]> {
  const results: ProxyResult[] = [];
  for (const kind of constantScorers()) {
    const scorerPort = await freePort();
    const scorer = spawn(kind.command, kind.args(scorerPort), { stdio: 'ignore' });
    try {
      await waitForPing(`http://127.0.0.1:${scorerPort}`, scorer, 30);
      const body = '5.1,3.5,1.4,0.2';
      const csv = { 'Content-Type': 'text/csv' };
      for (const logLevel of kind.command === 'java' ? ['warn'] : ['warn', 'info']) {
        const port = await freePort();
        const runDir = path.join(tmp, `proxy-${kind.command === 'java' ? 'java' : 'node'}-${logLevel}`);
        // With the request log on, its lines go to /dev/null: read by this process, they would slow the load generator.
        const server = start(SERVE, [], { SAGEMAKER_BIND_TO_PORT: String(port), MODEL_SERVER_RUN_DIR: runDir, SAGEMAKER_BASE_DIR: tmp, MODEL_SERVER_UPSTREAM: `http://127.0.0.1:${scorerPort}`, LOG_LEVEL: logLevel }, logLevel === 'info');
        try {
          await waitForPing(`http://127.0.0.1:${port}`, server, 30);
          // Where the CPU goes, per request: the load generator (this process), the scorer, nginx, serve's Node processes.
          const nginxMaster = Number(fs.readFileSync(path.join(runDir, 'nginx.pid'), 'utf8'));
          const cpu: CpuSnapshot = () => {
            const own = process.cpuUsage();
            return {
              'load generator': (own.user + own.system) / 1e6,
              scorer: processCpu(scorer.pid!),
              nginx: [nginxMaster, ...childrenOf(nginxMaster)].reduce((sum, pid) => sum + processCpu(pid), 0),
              'serve (Node)': [server.pid!, ...childrenOf(server.pid!).filter((pid) => pid !== nginxMaster)].reduce((sum, pid) => sum + processCpu(pid), 0),
            };
          };
          for (const connections of logLevel === 'warn' ? [10, 40] : [40]) {
            const s: Scenario = { name: `csv 1 row, c=${connections}`, connections, method: 'POST', path: '/invocations', body, headers: csv };
            const through: Measure[] = [];
            const direct: Measure[] = [];
            for (let round = 0; round < rounds; round++) {
              direct.push(await drive(scorerPort, s, seconds, 1, cpu));
              through.push(await drive(port, s, seconds, 1, cpu));
            }
            const t = medianMeasure(through);
            const d = medianMeasure(direct);
            results.push({
              scenario: `${kind.name}, ${s.name}${logLevel === 'info' ? ', request log on' : ''}`,
              through: t,
              direct: d,
              // Each round's two sides ran back to back on the same machine: the median of their ratios.
              ratio: Number(median(through.map((x, i) => x.requestsPerSecond / direct[i].requestsPerSecond)).toFixed(3)),
              rounds: through.map((x, i) => ({ through: x.requestsPerSecond, direct: direct[i].requestsPerSecond })),
            });
          }
        } finally {
          await stop(server);
        }
      }
    } finally {
      await stop(scorer);
    }
  }
  return results;
}

// (bench-metrics.ts uses the helpers above without running this.)
if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
