// `npm run soak`: the real stack (nginx + workers + threads, the example model) under mixed load for a
// bounded time, loopback only: valid and malformed requests in every format, driven by autocannon. It
// stops by itself and prints requests, answers by status, transport errors, and the resident memory of
// every process (primary, workers, nginx) after warm-up and at the end. Exit code 1 if a request got a
// 5xx or no answer, a worker died, or the server wrote a line that is not JSON.
// usage: npm run soak -- [--duration SECONDS] [--connections N] [--workers N]
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, option, waitForPing } from './cli-helpers';

const ROOT = path.resolve(__dirname, '../..');
const SERVE = path.join(ROOT, 'container/serve');
const MODEL_DIR = path.join(ROOT, 'local-test/test-dir');

type Mix = { name: string; expect: number; method: 'GET' | 'POST'; path: string; type?: string; body?: string };

const ROW = '5.1,3.5,1.4,0.2';
const ROWS = Array.from({ length: 100 }, (_, i) => `${(4 + (i % 40) / 10).toFixed(1)},3.0,${(1 + (i % 50) / 10).toFixed(1)},0.${i % 10}`).join('\n');

/** What every connection sends, in turn: mostly valid requests, and malformed ones of every kind. */
const MIX: Mix[] = [
  { name: 'CSV 1 row', expect: 200, method: 'POST', path: '/invocations', type: 'text/csv', body: ROW },
  { name: 'CSV 100 rows', expect: 200, method: 'POST', path: '/invocations', type: 'text/csv', body: ROWS },
  { name: 'JSON instances', expect: 200, method: 'POST', path: '/invocations', type: 'application/json', body: JSON.stringify({ instances: [[5.1, 3.5, 1.4, 0.2], [6.7, 3, 5.2, 2.3]] }) },
  { name: 'JSON Lines', expect: 200, method: 'POST', path: '/invocations', type: 'application/jsonlines', body: '[5.1,3.5,1.4,0.2]\n{"features":[6.7,3,5.2,2.3]}\n' },
  { name: 'V2 tensors', expect: 200, method: 'POST', path: '/invocations', type: 'application/json', body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] }) },
  { name: 'GET /predict_parameters', expect: 200, method: 'GET', path: '/predict_parameters?sepal_length=5.1&sepal_width=3.5&petal_length=1.4&petal_width=0.2' },
  { name: 'CSV 1 row (again)', expect: 200, method: 'POST', path: '/invocations', type: 'text/csv', body: ROW },
  { name: 'CSV not a number', expect: 400, method: 'POST', path: '/invocations', type: 'text/csv', body: '5.1,3.5,oops,0.2' },
  { name: 'CSV wrong width', expect: 400, method: 'POST', path: '/invocations', type: 'text/csv', body: `${ROW},9\n` },
  { name: 'CSV of commas', expect: 400, method: 'POST', path: '/invocations', type: 'text/csv', body: ','.repeat(20_000) },
  { name: 'JSON truncated', expect: 400, method: 'POST', path: '/invocations', type: 'application/json', body: '{"instances": [[5.1, 3.5' },
  { name: 'V2 wrong shape', expect: 400, method: 'POST', path: '/invocations', type: 'application/json', body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] }) },
  { name: 'unsupported type', expect: 415, method: 'POST', path: '/invocations', type: 'text/xml', body: '<x/>' },
  { name: 'unknown path', expect: 404, method: 'GET', path: '/nope' },
];

function rssMb(pid: number): number | undefined {
  try {
    return Math.round(Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 102.4) / 10;
  } catch {
    return undefined;
  }
}

function children(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The server's processes by role: the primary, its workers, nginx's master and workers. */
function processes(primary: number, runDir: string): { role: string; pid: number }[] {
  const out = [{ role: 'primary', pid: primary }];
  for (const pid of children(primary)) {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (cmd.includes('serve.js')) out.push({ role: 'worker', pid });
  }
  const nginx = Number(fs.readFileSync(path.join(runDir, 'nginx.pid'), 'utf8'));
  out.push({ role: 'nginx master', pid: nginx });
  for (const pid of children(nginx)) out.push({ role: 'nginx worker', pid });
  return out;
}

async function main(): Promise<void> {
  const seconds = Number(option('duration', '120'));
  const connections = Number(option('connections', '8'));
  const workers = option('workers', '2');
  if (!(seconds > 0) || !(connections > 0)) throw new Error('usage: npm run soak -- [--duration SECONDS] [--connections N] [--workers N]');
  const port = await freePort();
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-soak-'));
  fs.chmodSync(runDir, 0o755);
  const server = spawn(SERVE, [], {
    env: { ...process.env, ORT_DISABLE_TELEMETRY: '1', LOG_LEVEL: 'error', SAGEMAKER_BASE_DIR: MODEL_DIR, SAGEMAKER_BIND_TO_PORT: String(port), MODEL_SERVER_RUN_DIR: runDir, MODEL_SERVER_WORKERS: workers },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const errorLines: string[] = [];
  const nonJson: string[] = [];
  for (const stream of [server.stdout!, server.stderr!]) {
    let rest = '';
    stream.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        if (!line.startsWith('{')) nonJson.push(line);
        else if (/"level":"(error|fatal)"/.test(line)) errorLines.push(line);
      }
    });
  }
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForPing(url, server, 60);
    const requests = MIX.map((m) => ({ method: m.method, path: m.path, ...(m.body !== undefined ? { body: m.body, headers: { 'Content-Type': m.type! } } : {}) }));
    // Warm-up, then the memory every process starts from.
    await autocannon({ url, connections, duration: 5, requests });
    const before = processes(server.pid!, runDir).map((p) => ({ ...p, mb: rssMb(p.pid) }));
    const peak = new Map(before.map((p) => [p.pid, p.mb ?? 0]));
    // RSS at each quarter of the run: growth that levels off is the heap settling, steady growth a leak.
    const quarters = new Map<number, (number | undefined)[]>(before.map((p) => [p.pid, []]));
    const sampler = setInterval(() => {
      for (const p of before) peak.set(p.pid, Math.max(peak.get(p.pid) ?? 0, rssMb(p.pid) ?? 0));
    }, 2000);
    const quarterly = setInterval(() => {
      for (const p of before) quarters.get(p.pid)!.push(rssMb(p.pid));
    }, (seconds * 1000) / 4);
    const started = Date.now();
    const result = await autocannon({ url, connections, duration: seconds, requests });
    clearInterval(sampler);
    clearInterval(quarterly);
    const after = before.map((p) => ({ ...p, mbAfter: rssMb(p.pid) }));
    const workersNow = processes(server.pid!, runDir).filter((p) => p.role === 'worker').map((p) => p.pid).sort();
    const workersBefore = before.filter((p) => p.role === 'worker').map((p) => p.pid).sort();

    const byStatus = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, s]) => [code, s.count ?? 0]));
    const expected: Record<string, number> = {};
    for (const m of MIX) expected[m.expect] = (expected[m.expect] ?? 0) + 1 / MIX.length;
    const total = result.requests.total;
    console.log(`soak: ${Math.round((Date.now() - started) / 1000)} s, ${connections} connections, ${workers} workers, loopback; ${MIX.length} request kinds in turn (${MIX.filter((m) => m.expect === 200).length} valid)`);
    console.log(`requests: ${total} (${Math.round(result.requests.average)}/s); answers by status: ${Object.entries(byStatus).map(([c, n]) => `${c}: ${n}`).join(', ')}`);
    console.log(`transport errors: ${result.errors}, timeouts: ${result.timeouts}; p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms`);
    console.log(`expected share by status: ${Object.entries(expected).map(([c, f]) => `${c}: ${(f * 100).toFixed(1)}%`).join(', ')}`);
    console.log('memory (RSS MB): process, pid, after warm-up, end, growth, peak; at each quarter of the run');
    for (const p of after) {
      const growth = p.mb !== undefined && p.mbAfter !== undefined ? (p.mbAfter - p.mb).toFixed(1) : 'gone';
      const trend = [p.mb, ...quarters.get(p.pid)!.slice(0, 3), p.mbAfter].map((v) => v ?? 'gone').join(' -> ');
      console.log(`  ${p.role.padEnd(13)} ${String(p.pid).padEnd(8)} ${String(p.mb).padEnd(7)} ${String(p.mbAfter ?? 'gone').padEnd(7)} ${growth.padEnd(7)} ${String(peak.get(p.pid)).padEnd(7)} ${trend}`);
    }
    const serverErrors = Object.entries(byStatus).filter(([c]) => Number(c) >= 500).reduce((n, [, k]) => n + k, 0);
    const died = errorLines.filter((l) => /died/.test(l));
    console.log(`5xx: ${serverErrors}; worker deaths: ${died.length}; workers unchanged: ${JSON.stringify(workersNow) === JSON.stringify(workersBefore)}; error log lines: ${errorLines.length}; non-JSON output lines: ${nonJson.length}`);
    for (const line of [...errorLines.slice(0, 5), ...nonJson.slice(0, 5)]) console.log(`  ${line.slice(0, 300)}`);
    if (serverErrors > 0 || result.errors > 0 || result.timeouts > 0 || died.length > 0 || nonJson.length > 0) process.exitCode = 1;
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
