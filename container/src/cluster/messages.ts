// The typed IPC messages between the cluster primary (its Supervisor) and its worker processes.
import type { WireError } from '../errors';
import type { MetricsSnapshot } from '../metrics/recorder';
import type { ControlReply, ControlRequest } from '../models/control';
import type { ModelSpec } from '../models/model';
import type { HealthState, ModelDescription } from '../vocabulary';

export type WorkerToPrimary =
  /** The worker's IPC is up: the supervisor tells it the server's state and the models to hold. */
  | { type: 'worker-started'; slot: number }
  /** The worker holds every model it was asked for at start and now takes requests on its socket. */
  | { type: 'worker-listening'; slot: number }
  | { type: 'model-ready'; slot: number; model: ModelDescription; ms: number }
  | { type: 'model-failed'; slot: number; name: string; error: WireError }
  | { type: 'model-unloaded'; slot: number; name: string }
  /** A multi-model API call that the primary's table answers (control-reply with the same id). */
  | { type: 'control'; slot: number; id: number; request: ControlRequest }
  /** The worker could not start at all (its socket, say); it exits after sending this. */
  | { type: 'worker-fatal'; slot: number; error: WireError }
  /** The worker's process metrics and requests in flight: asked for by metrics-request (same id), or unprompted (id 0). */
  | { type: 'metrics-snapshot'; slot: number; id: number; metrics: MetricsSnapshot };

export type PrimaryToWorker =
  | { type: 'health'; state: HealthState }
  /** Everything the worker must hold before it listens (possibly nothing). */
  | { type: 'hold-models'; specs: ModelSpec[] }
  | { type: 'load-model'; spec: ModelSpec }
  | { type: 'unload-model'; name: string }
  /** The models the server holds or is loading, on any worker: a request for one the worker lacks is 503, not 404. */
  | { type: 'model-names'; names: string[] }
  | { type: 'control-reply'; id: number; reply: ControlReply }
  /** Proxy mode: why /ping must say 503 although the server is ready (the scorer is not healthy), or null. */
  | { type: 'upstream-health'; problem: WireError | null }
  /** A scrape of GET /metrics: the worker answers with a metrics-snapshot of the same id. */
  | { type: 'metrics-request'; id: number }
  | { type: 'shutdown' };

const WORKER_TYPES = new Set(['worker-started', 'worker-listening', 'model-ready', 'model-failed', 'model-unloaded', 'control', 'worker-fatal', 'metrics-snapshot']);
const PRIMARY_TYPES = new Set(['health', 'hold-models', 'load-model', 'unload-model', 'model-names', 'control-reply', 'upstream-health', 'metrics-request', 'shutdown']);

const typeOf = (m: unknown) => (typeof m === 'object' && m !== null ? (m as { type?: unknown }).type : undefined);

export function isWorkerMessage(m: unknown): m is WorkerToPrimary {
  return WORKER_TYPES.has(typeOf(m) as string);
}

export function isPrimaryMessage(m: unknown): m is PrimaryToWorker {
  return PRIMARY_TYPES.has(typeOf(m) as string);
}
