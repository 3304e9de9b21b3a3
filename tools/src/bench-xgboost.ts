// `npm run bench:xgboost`: this server against the serving stack of AWS's SageMaker XGBoost container
// (gunicorn gevent workers + Flask + xgboost, one thread per worker: tools/xgboost-stack/serve.py), on the
// same 500-tree XGBoost model, the same worker count, in alternating rounds of one run (the machine is
// shared: each side's median round is reported). Needs python3-gunicorn, python3-flask, python3-gevent and
// python3-xgboost (Debian). Writes docs/bench/xgboost.md (--markdown).
// usage: npm run bench:xgboost -- [--duration SECONDS] [--rounds N] [--workers N] [--markdown FILE] [--python PATH]
import autocannon from 'autocannon';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { usableCpus } from '../../container/dist/config/host';
import { freePort, option, waitForPing } from './cli-helpers';
import { randomCsvRows, writeXgboostBenchModel } from './tree-model';

const ROOT = path.resolve(__dirname, '../..');

interface Side {
  name: string;
  start(port: number): ChildProcess;
}

async function measure(port: number, body: string, connections: number, seconds: number): Promise<{ rps: number; p50: number; p99: number; errors: number }> {
  const options = { url: `http://127.0.0.1:${port}/invocations`, method: 'POST' as const, body, headers: { 'Content-Type': 'text/csv' }, connections };
  await autocannon({ ...options, duration: 2 });
  const r = await autocannon({ ...options, duration: seconds });
  return { rps: Math.round(r.requests.average), p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts + r.non2xx };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const seconds = Number(option('duration', '8'));
  const rounds = Number(option('rounds', '3'));
  const workers = Number(option('workers', String(usableCpus())));
  const markdown = path.resolve(option('markdown', path.join(ROOT, 'docs/bench/xgboost.md')));
  // Debian's interpreter, where its packages are (a python3 first on PATH may be another one).
  const python = option('python', fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
  if (spawnSync(python, ['-c', 'import gunicorn, flask, gevent, xgboost'], { stdio: 'ignore' }).status !== 0) {
    throw new Error('the comparison stack needs Debian\'s python3-gunicorn python3-flask python3-gevent python3-xgboost: apt-get install -y python3-gunicorn python3-flask python3-gevent python3-xgboost');
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-bench-xgb-'));
  fs.chmodSync(tmp, 0o755);
  const model = writeXgboostBenchModel(path.join(tmp, 'model'));
  const sides: Side[] = [
    {
      name: 'this server',
      start: (port) => spawn(path.join(ROOT, 'container/serve'), [], { env: { ...process.env, SAGEMAKER_BASE_DIR: tmp, SAGEMAKER_BIND_TO_PORT: String(port), MODEL_SERVER_WORKERS: String(workers), MODEL_SERVER_RUN_DIR: path.join(tmp, `run-${port}`), LOG_LEVEL: 'warn', ORT_DISABLE_TELEMETRY: '1' }, stdio: 'ignore' }),
    },
    {
      name: 'gunicorn (gevent) + Flask + xgboost',
      start: (port) => spawn(python, ['-m', 'gunicorn', '-k', 'gevent', '-w', String(workers), '-b', `127.0.0.1:${port}`, '--chdir', path.join(ROOT, 'tools/xgboost-stack'), '--log-level', 'warning', 'serve:app'], { env: { ...process.env, MODEL: model, OMP_NUM_THREADS: '1' }, stdio: 'ignore' }),
    },
  ];
  const scenarios = [
    { name: 'csv 1 row, c=40', body: randomCsvRows(1, 30)[0], connections: 40, rows: 1 },
    { name: 'csv 1000 rows, c=4', body: randomCsvRows(1000, 30).join('\n'), connections: 4, rows: 1000 },
  ];
  const results: Record<string, Record<string, { rps: number; p50: number; p99: number; errors: number }[]>> = {};
  for (let round = 0; round < rounds; round++) {
    // Alternate which side goes first, so neither always meets the machine in the same state.
    for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
      const port = await freePort();
      const child = side.start(port);
      try {
        await waitForPing(`http://127.0.0.1:${port}`, child, 120);
        for (const s of scenarios) {
          const m = await measure(port, s.body, s.connections, seconds);
          ((results[s.name] ??= {})[side.name] ??= []).push(m);
          process.stderr.write(`round ${round + 1}: ${side.name}, ${s.name}: ${m.rps} req/s, p99 ${m.p99} ms, ${m.errors} errors\n`);
        }
      } finally {
        await stop(child);
      }
    }
  }
  const lines = [
    '# This server against SageMaker XGBoost\'s serving stack',
    '',
    `Written by \`npm run bench:xgboost\` (${process.argv.slice(2).join(' ') || 'defaults'}) on ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'CPU'}, Node ${process.version}: ${workers} workers each side, ${seconds} s per scenario, ${rounds} alternating rounds (median round shown), the load generator on the same machine. The model: 500 trees of depth 6 over 30 features, XGBoost 1.7.4's legacy binary \`xgboost-model\`. [What it measures](../xgboost.md#speed).`,
    '',
    '| scenario | this server req/s | stack req/s | ratio | this server p99 ms | stack p99 ms | rows/s (this server) | errors |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const s of scenarios) {
    const own = results[s.name][sides[0].name];
    const other = results[s.name][sides[1].name];
    const a = median(own.map((m) => m.rps));
    const b = median(other.map((m) => m.rps));
    lines.push(`| ${s.name} | ${a} | ${b} | ${(a / Math.max(1, b)).toFixed(2)} | ${median(own.map((m) => m.p99))} | ${median(other.map((m) => m.p99))} | ${a * s.rows} | ${[...own, ...other].reduce((n, m) => n + m.errors, 0)} |`);
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
