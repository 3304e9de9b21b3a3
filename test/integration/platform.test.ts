// Platform details: two servers on one machine need no setting, and asynchronous-inference settings
// serve a body over 100 MB.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { EXAMPLE_DIR } from '../helpers/models';
import { requireNginx, startServer, type Server } from '../helpers/server';

beforeAll(() => requireNginx());

test('two servers on two ports start side by side without MODEL_SERVER_RUN_DIR (the default run directory names the port); a clean stop removes it', async () => {
  const servers: Server[] = [];
  try {
    // An empty value counts as unset: the default applies.
    servers.push(await startServer({ baseDir: EXAMPLE_DIR, env: { MODEL_SERVER_RUN_DIR: '', MODEL_SERVER_WORKERS: '1' } }));
    servers.push(await startServer({ baseDir: EXAMPLE_DIR, env: { MODEL_SERVER_RUN_DIR: '', MODEL_SERVER_WORKERS: '1' } }));
    for (const s of servers) {
      expect(fs.existsSync(path.join(os.tmpdir(), `model-server-${s.port}`, 'nginx.pid'))).toBe(true);
    }
  } finally {
    for (const s of servers) await s.stop();
  }
  for (const s of servers) {
    expect(s.proc.exitCode).toBe(0);
    expect(fs.existsSync(path.join(os.tmpdir(), `model-server-${s.port}`))).toBe(false);
    expect(s.nonJsonOutput()).toEqual([]);
  }
}, 60_000);

/** Peak resident memory of a process so far (VmHWM), in MB. */
function peakMb(pid: number): number {
  return Math.round(Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024);
}

test('asynchronous-inference settings (1 GB payload limit, 3600 s timeout, one worker) serve a 110 MB body', async () => {
  const server = await startServer({
    baseDir: EXAMPLE_DIR,
    env: { SAGEMAKER_MAX_PAYLOAD_IN_MB: '1024', MODEL_SERVER_TIMEOUT: '3600', MODEL_SERVER_WORKERS: '1', LOG_LEVEL: 'warn' },
  });
  try {
    const block = Array.from({ length: 10_000 }, (_, i) => `${(4.3 + (i % 36) / 10).toFixed(1)},${(2 + (i % 24) / 10).toFixed(1)},${(1 + (i % 59) / 10).toFixed(1)},${((i % 25) / 10).toFixed(1)}\n`).join('');
    const body = Buffer.from(block.repeat(Math.ceil((110 * 1024 * 1024) / block.length)));
    const rows = (body.length / block.length) * 10_000;
    expect(body.length).toBeGreaterThan(110 * 1024 * 1024);
    const [worker] = server.workerPids();
    const started = performance.now();
    const { status, lines } = await new Promise<{ status: number; lines: number }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: server.port, method: 'POST', path: '/invocations', agent: false, headers: { 'Content-Type': 'text/csv', 'Content-Length': body.length } }, (res) => {
        let count = 0;
        res.on('data', (c: Buffer) => {
          for (let i = c.indexOf(10); i >= 0; i = c.indexOf(10, i + 1)) count += 1;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, lines: count }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
    const seconds = (performance.now() - started) / 1000;
    const peak = peakMb(worker);
    console.log(`async settings: ${(body.length / 2 ** 20).toFixed(0)} MB, ${rows} rows answered in ${seconds.toFixed(1)} s; worker peak RSS ${peak} MB`);
    expect(status).toBe(200);
    expect(lines).toBe(rows);
    expect(seconds).toBeLessThan(60);
    expect(peak).toBeLessThan(2048);
  } finally {
    await server.stop();
  }
  expect(server.nonJsonOutput()).toEqual([]);
}, 120_000);
