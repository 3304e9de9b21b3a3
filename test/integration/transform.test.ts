// Batch transform: the local emulator (local-test/transform-local.sh) against the real stack in batch
// mode, and what SageMaker's batch jobs do to the server (large mini-batches, chunked bodies).
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomCsvRows } from '../../tools/src/tree-model';
import { baseDir, EXAMPLE_DIR, slowModel } from '../helpers/models';
import { request, requireNginx, sleep, startServer, type Server } from '../helpers/server';

const TRANSFORM = path.resolve(__dirname, '../../local-test/transform-local.sh');

const tmp = (prefix: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o755);
  return dir;
};

function transform(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(TRANSFORM, args, { env: { PATH: process.env.PATH!, SAGEMAKER_BASE_DIR: EXAMPLE_DIR, ...env }, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stderr: r.stderr };
}

/** The whole file in one request to a server without a payload limit: what the emulator must reproduce. */
async function direct(server: Server, body: string, type: string, accept: string): Promise<string> {
  const reply = await request(server.port, 'POST', '/invocations', { body, headers: { 'Content-Type': type, Accept: accept }, timeoutMs: 120_000 });
  expect(reply.status).toBe(200);
  return reply.body;
}

const lines = (n: number, seed = 5) => `${randomCsvRows(n, 4, seed).join('\n')}\n`;
const count = (text: string) => text.split('\n').filter(Boolean).length;

let reference: Server;

beforeAll(async () => {
  requireNginx();
  reference = await startServer({ baseDir: EXAMPLE_DIR, env: { SAGEMAKER_BATCH: 'true', SAGEMAKER_MAX_PAYLOAD_IN_MB: '0', MODEL_SERVER_WORKERS: '1' } });
});
afterAll(() => reference?.stop());

describe('the batch transform emulator', () => {
  test('CSV: several mini-batches give exactly the direct answer, one line per record, in order', async () => {
    const input = tmp('tf-in-');
    const output = tmp('tf-out-');
    const text = lines(120_000);
    fs.writeFileSync(path.join(input, 'data.csv'), text);
    const run = transform(['--input', path.join(input, 'data.csv'), '--output', output, '--max-payload-mb', '1', '--max-concurrent', '2']);
    expect(run.status).toBe(0);
    expect(run.stderr).toMatch(/1\/1 file\(s\), 120000 records, \d+ requests, 0 retries/);
    const out = fs.readFileSync(path.join(output, 'data.csv.out'), 'utf8');
    expect(count(out)).toBe(120_000);
    expect(out).toBe(await direct(reference, text, 'text/csv', 'text/csv'));
  });

  test('JSON Lines in and out equals the direct answer', async () => {
    const input = tmp('tf-in-');
    const output = tmp('tf-out-');
    const text = `${randomCsvRows(5000, 4, 9).map((r) => JSON.stringify(r.split(',').map(Number))).join('\n')}\n`;
    fs.writeFileSync(path.join(input, 'rows.jsonl'), text);
    const run = transform(['--input', input, '--output', output, '--content-type', 'application/jsonlines', '--accept', 'application/jsonlines', '--max-payload-mb', '1']);
    expect(run.status).toBe(0);
    const out = fs.readFileSync(path.join(output, 'rows.jsonl.out'), 'utf8');
    expect(count(out)).toBe(5000);
    expect(out).toBe(await direct(reference, text, 'application/jsonlines', 'application/jsonlines'));
  });

  test('a folder of several files (sub-folders too): one .out each, no mini-batch spans two files', async () => {
    const input = tmp('tf-in-');
    const output = tmp('tf-out-');
    fs.mkdirSync(path.join(input, 'part'), { recursive: true });
    const files = { 'a.csv': lines(3, 1), 'b.csv': lines(1000, 2), 'part/c.csv': lines(7, 3) };
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(input, name), text);
    const run = transform(['--input', input, '--output', output]);
    expect(run.status).toBe(0);
    expect(run.stderr).toMatch(/3\/3 file\(s\), 1010 records, 3 requests/);
    for (const [name, text] of Object.entries(files)) {
      expect(fs.readFileSync(path.join(output, `${name}.out`), 'utf8')).toBe(await direct(reference, text, 'text/csv', 'text/csv'));
    }
  });

  test('order is kept with 8 requests in flight (SingleRecord: one request per record)', async () => {
    const input = tmp('tf-in-');
    const output = tmp('tf-out-');
    const text = lines(400, 4);
    fs.writeFileSync(path.join(input, 'one-by-one.csv'), text);
    const run = transform(['--input', input, '--output', output, '--batch-strategy', 'SingleRecord', '--max-concurrent', '8']);
    expect(run.status).toBe(0);
    expect(run.stderr).toMatch(/8 in flight, SINGLE_RECORD/);
    expect(run.stderr).toMatch(/400 records, 400 requests/);
    expect(fs.readFileSync(path.join(output, 'one-by-one.csv.out'), 'utf8')).toBe(await direct(reference, text, 'text/csv', 'text/csv'));
  });

  test('MaxPayloadInMB 0: the whole file in one chunked request, beyond the 6 MB default', async () => {
    const input = tmp('tf-in-');
    const output = tmp('tf-out-');
    const text = lines(450_000, 6);
    expect(text.length).toBeGreaterThan(6 * 1024 * 1024);
    fs.writeFileSync(path.join(input, 'big.csv'), text);
    const run = transform(['--input', input, '--output', output, '--max-payload-mb', '0']);
    expect(run.status).toBe(0);
    expect(run.stderr).toMatch(/MaxPayloadInMB=0 \(chunked\)/);
    expect(run.stderr).toMatch(/450000 records, 1 requests/);
    expect(fs.readFileSync(path.join(output, 'big.csv.out'), 'utf8')).toBe(await direct(reference, text, 'text/csv', 'text/csv'));
  });

  test('a record over the payload limit fails its file (no .out, non-zero exit); other files still finish', () => {
    const input = tmp('tf-in-');
    const output = tmp('tf-out-');
    fs.writeFileSync(path.join(input, 'fine.csv'), lines(10));
    fs.writeFileSync(path.join(input, 'huge-record.csv'), `${lines(2)}${'1,'.repeat(600_000)}1\n`);
    const run = transform(['--input', input, '--output', output, '--max-payload-mb', '1']);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/FAILED huge-record\.csv: huge-record\.csv, line 3: the record is 1200001 bytes, larger than MaxPayloadInMB allows \(1048576 bytes, newline included\)/);
    expect(fs.readdirSync(output).sort()).toEqual(['fine.csv.out']);
  });

  test('a bad record fails its file with the server\'s message, no retry, no partial .out', () => {
    const input = tmp('tf-in-');
    const output = tmp('tf-out-');
    fs.writeFileSync(path.join(input, 'bad.csv'), `${lines(5)}1,2,x,4\n`);
    const run = transform(['--input', input, '--output', output]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/FAILED bad\.csv: mini-batch 1 of bad\.csv failed: HTTP 400: .*line 6, column 3: \\"x\\" is not a number/);
    expect(run.stderr).toMatch(/0 retries/);
    expect(fs.readdirSync(output)).toEqual([]);
  });

  test('a server that dies mid-job: retries, then the file fails with no partial output and a non-zero exit', async () => {
    const server = await startServer({ baseDir: baseDir({ 'model.onnx': slowModel() }), env: { SAGEMAKER_BATCH: 'true', MODEL_SERVER_WORKERS: '1' } });
    const input = tmp('tf-in-');
    const output = tmp('tf-out-');
    // Each record spins ~70 ms, one at a time: the job is still running when the server goes.
    fs.writeFileSync(path.join(input, 'slow.csv'), Array.from({ length: 60 }, (_, i) => `${i},100000`).join('\n'));
    const proc = spawn(TRANSFORM, ['--input', input, '--output', output, '--endpoint', `http://127.0.0.1:${server.port}`, '--batch-strategy', 'SingleRecord', '--max-concurrent', '1'], { env: { PATH: process.env.PATH! } });
    let stderr = '';
    proc.stderr.on('data', (d) => (stderr += d));
    await sleep(1000);
    await server.stop();
    const code = await new Promise((resolve) => proc.on('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/FAILED slow\.csv: mini-batch \d+ of slow\.csv failed after 3 retries/);
    expect(stderr).toMatch(/[1-9]\d* retries/);
    expect(fs.readdirSync(output)).toEqual([]);
  });

  test('usage errors name the problem', () => {
    expect(transform([]).stderr).toMatch(/--input is required\nusage: transform-local\.sh --input FILE\|DIR --output DIR/);
    expect(transform(['--input', '/x', '--output', '/y', '--split-type', 'Word']).stderr).toMatch(/--split-type must be Line, RecordIO or None, not "Word"/);
    expect(transform(['--input', '/x', '--output', '/y', '--assemble-with', 'Both']).stderr).toMatch(/--assemble-with must be Line or None, not "Both"/);
    expect(transform(['--input', '/no/such', '--output', '/tmp/x']).stderr).toMatch(/--input \/no\/such does not exist/);
  });
});

describe('a 100 MB mini-batch', () => {
  test('is answered line for line while /ping keeps answering, within a small multiple of the payload in memory', async () => {
    const server = await startServer({ baseDir: EXAMPLE_DIR, env: { SAGEMAKER_BATCH: 'true', MODEL_SERVER_WORKERS: '1' } });
    try {
      const row = '5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n';
      const body = row.repeat(Math.floor((99 * 1024 * 1024) / row.length));
      const records = body.length / 16;
      const pings: number[] = [];
      let running = true;
      const pinger = (async () => {
        while (running) {
          const t = performance.now();
          const r = await request(server.port, 'GET', '/ping', { timeoutMs: 5000 });
          expect(r.status).toBe(200);
          pings.push(performance.now() - t);
          await sleep(50);
        }
      })();
      const reply = await new Promise<{ status: number; lines: number; first: string }>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: server.port, path: '/invocations', method: 'POST', headers: { 'Content-Type': 'text/csv', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
          let lineCount = 0;
          let first = '';
          res.on('data', (c: Buffer) => {
            if (!first) first = c.toString('utf8', 0, 40);
            for (let i = c.indexOf(10); i >= 0; i = c.indexOf(10, i + 1)) lineCount++;
          });
          res.on('end', () => resolve({ status: res.statusCode!, lines: lineCount, first }));
        });
        req.on('error', reject);
        req.end(body);
      });
      running = false;
      await pinger;
      expect(reply.status).toBe(200);
      expect(reply.lines).toBe(records);
      expect(reply.first.startsWith('setosa\nvirginica\nsetosa\n')).toBe(true);
      expect(pings.length).toBeGreaterThan(5);
      // Not a benchmark: proof the worker's event loop is never blocked by the batch (it takes seconds).
      expect(Math.max(...pings)).toBeLessThan(1000);
      const [worker] = server.workerPids();
      const peakMb = Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${worker}/status`, 'utf8'))![1]) / 1024;
      // Measured 389 MB here (an idle worker is ~100-150 MB): the body, its float32 rows and the output
      // bytes, each about once (CSV is read from the bytes, no text copy). 644 MB when the body was
      // first decoded to a string; 1.8 GB before chunked inference.
      expect(peakMb).toBeLessThan(550);
    } finally {
      await server.stop();
    }
  });
});
