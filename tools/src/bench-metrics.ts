// `npm run bench:metrics`: what the metrics cost each request. The example model served twice, with
// metrics on (the default: every answer is reported to the primary) and with MODEL_SERVER_METRICS=false,
// driven in alternating rounds of the same run (the order swapped every round), at c=40 on the hot routes;
// prints each side's median requests/s and CPU microseconds per request (Node processes: primary, workers
// and their threads; nginx), and the difference. First, the metrics' own code in-process, without the
// noise of a shared machine: a worker's begin + answered (its journal write included) and the primary's
// reading of a journal, per request.
// usage: npm run bench:metrics -- [--duration SECONDS] [--rounds N] [--workers N]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ServerResponse } from 'node:http';
import { MetricsCollector } from '../../container/dist/metrics/collector';
import { JournalWriter } from '../../container/dist/metrics/journal';
import { RequestMetrics } from '../../container/dist/metrics/recorder';
import { drive, serverCpu, start, stop, type Measure, type Scenario } from './bench';
import { freePort, option, waitForPing } from './cli-helpers';

const ROOT = path.resolve(__dirname, '../..');
const SERVE = path.join(ROOT, 'container/serve');
const MODEL = path.join(ROOT, 'local-test/test-dir');

const ROW = '5.1,3.5,1.4,0.2';
const SCENARIOS: Scenario[] = [
  { name: 'csv 1 row, c=40', connections: 40, method: 'POST', path: '/invocations', body: ROW, headers: { 'Content-Type': 'text/csv' } },
  { name: 'GET /predict_parameters, c=40', connections: 40, method: 'GET', path: '/predict_parameters?sepal_length=5.1&sepal_width=3.5&petal_length=1.4&petal_width=0.2' },
  { name: 'V2 infer 1 row, c=40', connections: 40, method: 'POST', path: '/v2/models/model/infer', body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] }), headers: { 'Content-Type': 'application/json' } },
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** CPU microseconds per request of the metrics' own code: the worker's side and the primary's, apart. */
function codeCosts(n = 200_000): { worker: number; primary: number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-metrics-code-'));
  try {
    const recorder = new RequestMetrics(new JournalWriter(dir, 1));
    const responses = Array.from({ length: 1000 }, () => ({}) as ServerResponse);
    let before = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const res = responses[i % responses.length];
      recorder.begin(res, 'iris', 'invocations');
      recorder.answered(res, 200, performance.now() - 1, { queuedMs: 0.1, runMs: 0.5, batch: 4, where: 'inline' });
    }
    let used = process.cpuUsage(before);
    const worker = (used.user + used.system) / n;
    fs.mkdirSync(path.join(dir, 'primary'));
    const collector = new MetricsCollector(path.join(dir, 'primary'));
    collector.watch(() => new Set([1]));
    fs.renameSync(path.join(dir, 'journal-1-1.bin'), path.join(dir, 'primary', 'journal-1-1.bin'));
    before = process.cpuUsage();
    collector.drain();
    used = process.cpuUsage(before);
    collector.close();
    return { worker: Number(worker.toFixed(2)), primary: Number(((used.user + used.system) / n).toFixed(2)) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const code = codeCosts();
  console.log(`the metrics' own code, in-process: ${code.worker} µs per request in a worker (begin, answered, its journal write), ${code.primary} µs in the primary (reading and counting it)`);
  const seconds = Number(option('duration', '6'));
  const rounds = Number(option('rounds', '5'));
  const workers = Number(option('workers', '2'));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-metrics-'));
  // nginx's worker processes (user nobody, when run as root) must reach the sockets inside it.
  fs.chmodSync(tmp, 0o755);
  const sides: { name: string; env: Record<string, string> }[] = [
    { name: 'metrics on', env: {} },
    { name: 'metrics off', env: { MODEL_SERVER_METRICS: 'false' } },
  ];
  const servers = await Promise.all(sides.map(async (side, i) => {
    const port = await freePort();
    const runDir = path.join(tmp, `side-${i}`);
    const child = start(SERVE, [], { SAGEMAKER_BASE_DIR: MODEL, SAGEMAKER_BIND_TO_PORT: String(port), MODEL_SERVER_WORKERS: String(workers), MODEL_SERVER_RUN_DIR: runDir, ...side.env });
    await waitForPing(`http://127.0.0.1:${port}`, child, 60);
    return { ...side, port, child, cpu: serverCpu(child.pid!, runDir) };
  }));
  const results: Record<string, Record<string, Measure[]>> = {};
  try {
    for (let round = 0; round < rounds; round++) {
      for (const s of SCENARIOS) {
        const order = round % 2 === 0 ? servers : [...servers].reverse();
        for (const side of order) {
          const m = await drive(side.port, s, seconds, 1, side.cpu);
          ((results[s.name] ??= {})[side.name] ??= []).push(m);
        }
      }
    }
  } finally {
    for (const side of servers) await stop(side.child);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const pad = (x: unknown, n: number) => String(x).padEnd(n);
  console.log(`\nmachine: ${os.cpus().length} x ${os.cpus()[0]?.model}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}; ${workers} workers; ${rounds} alternating rounds of ${seconds} s; medians\n`);
  console.log(`${pad('scenario', 32)}${pad('side', 13)}${pad('req/s', 9)}${pad('p99 ms', 8)}${pad('Node µs/req', 13)}${pad('nginx µs/req', 14)}errors`);
  for (const [scenario, bySide] of Object.entries(results)) {
    const row: Record<string, number> = {};
    for (const [side, ms] of Object.entries(bySide)) {
      const node = median(ms.map((m) => m.cpuUsPerRequest!.workers));
      const nginx = median(ms.map((m) => m.cpuUsPerRequest!.nginx));
      row[side] = node;
      console.log(`${pad(scenario, 32)}${pad(side, 13)}${pad(median(ms.map((m) => m.requestsPerSecond)), 9)}${pad(median(ms.map((m) => m.p99)), 8)}${pad(node, 13)}${pad(nginx, 14)}${ms.reduce((n, m) => n + m.errors, 0)}`);
    }
    const diffs = bySide['metrics on'].map((m, i) => m.cpuUsPerRequest!.workers - bySide['metrics off'][i].cpuUsPerRequest!.workers);
    console.log(`${pad(scenario, 32)}${pad('difference', 13)}Node µs per request, each round: ${diffs.join(', ')}; median ${median(diffs)}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
