// The typed IPC messages between the cluster primary and its worker processes.
import type { HealthState } from '../http/app';
import type { WireError } from '../errors';
import type { ModelDescription } from '../inference/protocol';

export type WorkerToPrimary =
  | { type: 'worker-listening'; slot: number }
  | { type: 'worker-ready'; slot: number; model: ModelDescription; threads: number; ms: number }
  | { type: 'worker-fatal'; slot: number; error: WireError };

export type PrimaryToWorker = { type: 'health'; state: HealthState } | { type: 'shutdown' };

export function isWorkerMessage(m: unknown): m is WorkerToPrimary {
  const type = typeof m === 'object' && m !== null ? (m as { type?: string }).type : undefined;
  return type === 'worker-listening' || type === 'worker-ready' || type === 'worker-fatal';
}

export function isPrimaryMessage(m: unknown): m is PrimaryToWorker {
  return typeof m === 'object' && m !== null && ((m as { type?: string }).type === 'health' || (m as { type?: string }).type === 'shutdown');
}
