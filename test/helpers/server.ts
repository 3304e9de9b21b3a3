// Starts the real `container/serve` (nginx + cluster + threads) on a free port and collects its JSON log.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const SERVE = path.resolve(__dirname, '../../container/serve');

export type LogLine = Record<string, unknown> & { level: string; msg: string };

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json<T = any>(): T;
}

/** One HTTP request on a fresh connection (no pooling, so a test controls exactly what nginx sees). */
export function request(port: number, method: string, urlPath: string, options: { body?: string | Buffer; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) });
      });
      res.on('error', reject);
    });
    req.setTimeout(options.timeoutMs ?? 30_000, () => req.destroy(new Error(`${method} ${urlPath} timed out`)));
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

export const csv = (port: number, body: string, accept?: string) =>
  request(port, 'POST', '/invocations', { body, headers: { 'Content-Type': 'text/csv', ...(accept ? { Accept: accept } : {}) } });

export class Server {
  readonly logs: LogLine[] = [];
  readonly rawOutput: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private buffer = '';

  constructor(
    readonly proc: ChildProcess,
    readonly port: number,
    readonly runDir: string,
    readonly baseDir: string,
    /** LOG_LEVEL the server was started with. */
    readonly logLevel = 'info',
  ) {
    this.exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
    const onData = (chunk: Buffer) => {
      this.buffer += chunk.toString('utf8');
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        this.rawOutput.push(line);
        try {
          this.logs.push(JSON.parse(line));
        } catch {
          // non-JSON output is kept in rawOutput; tests assert there is none
        }
      }
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** Lines that are not JSON (a native abort message, a stray console.log): there should be none. */
  nonJsonOutput(): string[] {
    return this.rawOutput.filter((l) => l.trim() !== '' && !l.startsWith('{'));
  }

  /** Waits until a log line matches, or fails after `timeoutMs`. */
  async waitForLog(match: (l: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.logs.find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no matching log line within ${timeoutMs} ms; log:\n${this.rawOutput.join('\n')}`);
      await sleep(25);
    }
  }

  async waitReady(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.proc.exitCode !== null) throw new Error(`serve exited with ${this.proc.exitCode}:\n${this.rawOutput.join('\n')}`);
      try {
        if ((await request(this.port, 'GET', '/ping', { timeoutMs: 2000 })).status === 200) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`not ready within ${timeoutMs} ms:\n${this.rawOutput.join('\n')}`);
      await sleep(50);
    }
    // /ping may say 200 a moment before the primary's "ready:" line has come through its stdout: let it
    // arrive, so that tests reading it do not race it (a server logging below info has none to wait for).
    const deadlineForLine = Date.now() + 5000;
    const quiet = ['warn', 'error', 'fatal', 'silent'].includes(this.logLevel);
    while (this.proc.stdout && !quiet && !this.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('ready:')) && Date.now() < deadlineForLine) await sleep(10);
  }

  /** Worker process ids: the primary's node children. */
  workerPids(): number[] {
    return childPids(this.pid).filter((pid) => commandOf(pid).includes('serve.js'));
  }

  nginxMasterPid(): number | undefined {
    try {
      return Number(fs.readFileSync(path.join(this.runDir, 'nginx.pid'), 'utf8')) || undefined;
    } catch {
      return undefined;
    }
  }

  /** Every process of the tree seen so far (primary, workers, nginx master and its workers). */
  treePids(): number[] {
    const nginx = this.nginxMasterPid();
    return [this.pid, ...this.workerPids(), ...(nginx ? [nginx, ...childPids(nginx)] : [])];
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM');
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 30_000);
      await this.exited;
      clearTimeout(timer);
    }
    // A clean stop removes the run directory itself (tests check that); one that failed or was killed, or a
    // server given another MODEL_SERVER_RUN_DIR, leaves this one to us.
    fs.rmSync(this.runDir, { recursive: true, force: true });
  }
}

export function childPids(pid: number): number[] {
  try {
    return fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function commandOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers kill(0); it is gone for our purposes.
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `condition` every 20 ms until it holds or `ms` have passed; says whether it holds. */
export async function until(condition: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await sleep(20);
  return condition();
}

export interface StartOptions {
  baseDir: string;
  env?: Record<string, string>;
  /** Wait for /ping 200 (default true). */
  ready?: boolean;
  stdio?: 'pipe' | ['ignore', number | net.Socket, number | net.Socket];
}

export async function startServer(options: StartOptions): Promise<Server> {
  const port = await freePort();
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-run-'));
  const proc = spawn(SERVE, [], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      SAGEMAKER_BASE_DIR: options.baseDir,
      SAGEMAKER_BIND_TO_PORT: String(port),
      MODEL_SERVER_RUN_DIR: runDir,
      MODEL_SERVER_WORKERS: '2',
      ...options.env,
    },
    stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'],
  });
  const server = new Server(proc, port, runDir, options.baseDir, (options.env?.LOG_LEVEL ?? 'info').toLowerCase());
  if (options.ready !== false) await server.waitReady();
  return server;
}

/** Fails when nginx is missing: these tests need the real stack and must never skip silently. */
export function requireNginx(): void {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin'];
  if (!dirs.some((d) => d && fs.existsSync(path.join(d, 'nginx')))) {
    throw new Error('nginx is not installed: the integration tests run the real stack. Install it: apt-get install -y nginx');
  }
}

/** Processes whose environment or command line mentions `marker` (a test's unique run directory). */
export function processesMentioning(marker: string): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const text = fs.readFileSync(`/proc/${entry}/environ`, 'utf8') + fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (text.includes(marker) && alive(Number(entry))) found.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}
