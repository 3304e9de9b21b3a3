// Small helpers shared by the command-line tools (bench, bench-batch, transform): options, a free
// loopback port, waiting for a server's /ping, and the CPU time processes have used.
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';

/** The value after --name on the command line, or the fallback. */
export function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export function httpGet(url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http.get(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

/** Waits for GET /ping to answer 200; fails early if `server` (when given) exits first. */
export async function waitForPing(endpoint: string, server: ChildProcess | undefined, seconds = 60): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (server && server.exitCode !== null) throw new Error(`the server exited (code ${server.exitCode}) before it was ready`);
    try {
      if ((await httpGet(`${endpoint}/ping`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${endpoint}/ping did not answer 200 within ${seconds} s`);
}

/** CPU seconds (user + system) a process has used, from /proc; 0 once it is gone. */
export function processCpu(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

export function childrenOf(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** CPU seconds a process and all its descendants have used so far (those still running). */
export function treeCpu(pid: number): number {
  return processCpu(pid) + childrenOf(pid).reduce((sum, child) => sum + treeCpu(child), 0);
}
