// The typed IPC messages between the cluster primary (its Supervisor) and its worker processes.
import type { WireError } from '../errors';
import type { ModelSpec } from '../models/model';
import type { HealthState, ModelDescription } from '../vocabulary';

export type WorkerToPrimary =
  /** The worker's IPC is up: the supervisor tells it the server's state and the models to hold. */
  | { type: 'worker-started'; slot: number }
  /** The worker holds every model it was asked for and now takes requests on its socket. */
  | { type: 'worker-listening'; slot: number }
  | { type: 'model-ready'; slot: number; model: ModelDescription; ms: number }
  | { type: 'model-failed'; slot: number; name: string; error: WireError }
  /** The worker could not start at all (its socket, say); it exits after sending this. */
  | { type: 'worker-fatal'; slot: number; error: WireError };

export type PrimaryToWorker =
  | { type: 'health'; state: HealthState }
  | { type: 'load-model'; spec: ModelSpec }
  | { type: 'shutdown' };

const WORKER_TYPES = new Set(['worker-started', 'worker-listening', 'model-ready', 'model-failed', 'worker-fatal']);
const PRIMARY_TYPES = new Set(['health', 'load-model', 'shutdown']);

const typeOf = (m: unknown) => (typeof m === 'object' && m !== null ? (m as { type?: unknown }).type : undefined);

export function isWorkerMessage(m: unknown): m is WorkerToPrimary {
  return WORKER_TYPES.has(typeOf(m) as string);
}

export function isPrimaryMessage(m: unknown): m is PrimaryToWorker {
  return PRIMARY_TYPES.has(typeOf(m) as string);
}
