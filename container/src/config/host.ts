// What the host lets this server use, probed once at start-up: CPUs (a cgroup quota caps them) and memory
// (the cgroup's limit, else the machine's). Inside a container os.cpus() and os.totalmem() report the host's.
import * as fs from 'node:fs';
import * as os from 'node:os';

/**
 * CPUs this process may use: the scheduler's view, capped by a cgroup v2/v1 CPU quota, because inside a
 * container os.cpus() reports the host's cores (a default that AWS's own containers got wrong).
 */
export function usableCpus(): number {
  let cpus = os.availableParallelism();
  const quota = readCgroupQuota();
  if (quota !== undefined) cpus = Math.min(cpus, Math.max(1, Math.ceil(quota)));
  return cpus;
}

function readCgroupQuota(): number | undefined {
  try {
    const [max, period] = fs.readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    if (max !== 'max' && Number(period) > 0) return Number(max) / Number(period);
    return undefined;
  } catch {
    // cgroup v1 layout, or not Linux
  }
  try {
    const quota = Number(fs.readFileSync('/sys/fs/cgroup/cpu/cpu.cfs_quota_us', 'utf8'));
    const period = Number(fs.readFileSync('/sys/fs/cgroup/cpu/cpu.cfs_period_us', 'utf8'));
    if (quota > 0 && period > 0) return quota / period;
  } catch {
    // no cgroup CPU limit visible
  }
  return undefined;
}


/** The cgroup's memory limit (v2, then v1), else the machine's memory, in bytes. */
export function hostMemoryBytes(): number {
  for (const file of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    try {
      const value = Number(fs.readFileSync(file, 'utf8').trim());
      // cgroup v1 reports "no limit" as a huge number.
      if (Number.isFinite(value) && value > 0 && value < os.totalmem()) return value;
    } catch {
      // not this cgroup layout
    }
  }
  return os.totalmem();
}
