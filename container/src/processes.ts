// Processes as Linux shows them: groups (signalling every process of one, telling whether any is still
// running, stopping one with SIGTERM then SIGKILL at a deadline) and trees (their resident memory). The
// scorer of proxy mode runs in a group of its own and nginx's master leads one: a worker stops both when
// the primary is gone. The multi-model table weighs the server's tree before a load (treeMemoryBytes).
import * as fs from 'node:fs';
import * as os from 'node:os';
import type { Logger } from './logger';

/** Sends `signal` to every process of a group; false when none is left. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether any process of the group is still running. Zombies do not count: serve may be PID 1 of a
 * container, where an orphaned grandchild that has exited waits for a reaper that never comes.
 */
export function groupAlive(pgid: number): boolean {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return signalGroup(pgid, 0);
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so read after the last ')'.
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') return true;
    } catch {
      // gone meanwhile
    }
  }
  return false;
}

/** SIGTERM to the group, then SIGKILL at `deadline` (epoch ms) if any of it is still running; resolves once none is. */
export async function stopGroup(pgid: number, deadline: number, logger: Logger): Promise<void> {
  signalGroup(pgid, 'SIGTERM');
  while (groupAlive(pgid)) {
    if (Date.now() >= deadline) {
      logger.warn({ pgid }, 'the scorer did not stop after SIGTERM: killing its process group (SIGKILL)');
      signalGroup(pgid, 'SIGKILL');
      const killed = Date.now();
      while (groupAlive(pgid) && Date.now() - killed < 2000) await sleep(20);
      return;
    }
    await sleep(50);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** stopGroup without the event loop, for a process that must finish this before it exits. */
export function stopGroupNow(pgid: number, waitMs: number): void {
  signalGroup(pgid, 'SIGTERM');
  const deadline = Date.now() + waitMs;
  const tick = new Int32Array(new SharedArrayBuffer(4));
  while (groupAlive(pgid) && Date.now() < deadline) Atomics.wait(tick, 0, 0, 20);
  signalGroup(pgid, 'SIGKILL');
}

/** How a shell-run command ended, in words (a shell reports a child killed by signal N as 128 + N). */
export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal) return `was killed by ${signal}`;
  if (code !== null && code > 128) {
    const name = Object.entries(os.constants.signals).find(([, n]) => n === code - 128)?.[0];
    if (name) return `exited with code ${code} (the shell's way of saying it was killed by ${name})`;
  }
  return `exited with code ${code}`;
}

/** The sum over a process and its descendants (the primary: its workers and nginx) of what `measure` reads of each. */
function sumOverTree(pid: number, measure: (pid: number) => number): number {
  let total = 0;
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop()!;
    try {
      total += measure(p);
      for (const child of fs.readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/)) if (child) stack.push(Number(child));
    } catch {
      // gone meanwhile, or not Linux
    }
  }
  return total;
}

const kB = (text: string, field: RegExp) => Number(field.exec(text)?.[1] ?? 0) * 1024;

/** Resident memory of a process and its descendants, each counting every page it maps (shared ones too). */
export function treeRssBytes(pid = process.pid): number {
  return sumOverTree(pid, (p) => kB(fs.readFileSync(`/proc/${p}/status`, 'utf8'), /VmRSS:\s+(\d+) kB/));
}

/**
 * The memory a process and its descendants really take: their proportional set sizes, where a page several
 * of them share (Node's and onnxruntime's code, mapped by every worker) counts once in all, as the kernel
 * charges it to the container (the resident sizes added up count it in each: 314 MB where this says 154
 * for a server of two workers). Resident size where /proc has no smaps_rollup (Linux before 4.14).
 */
export function treeMemoryBytes(pid = process.pid): number {
  return sumOverTree(pid, (p) => {
    let rollup: string;
    try {
      rollup = fs.readFileSync(`/proc/${p}/smaps_rollup`, 'utf8');
    } catch {
      return kB(fs.readFileSync(`/proc/${p}/status`, 'utf8'), /VmRSS:\s+(\d+) kB/);
    }
    return kB(rollup, /^Pss:\s+(\d+) kB/m);
  });
}
