// The primary's Supervisor: forks the workers, keeps per-worker state, owns what every worker must hold
// (the table of models) and re-establishes it on a replacement, decides readiness, and replaces workers
// that die: at once if the worker had served, with a growing back-off only while workers fail to start.
import cluster, { type Worker } from 'node:cluster';
import { checkDefaultAccept, type Config } from '../config';
import { ServerError, type WireError } from '../errors';
import type { Logger } from '../logger';
import type { ModelSpec } from '../models/model';
import type { HealthState, ModelDescription } from '../vocabulary';
import { isWorkerMessage, type PrimaryToWorker, type WorkerToPrimary } from './messages';

/** starting: forked; loading: told what to hold; ready: holds it all and listens on its socket. */
type Phase = 'starting' | 'loading' | 'ready';

/** One worker slot's current process and what it holds. */
class WorkerRecord {
  phase: Phase = 'starting';
  /** Milliseconds from the process's start to its last model being ready. */
  readyMs = 0;

  constructor(
    readonly slot: number,
    readonly process: Worker,
  ) {}

  /** IPC to a worker that may be exiting this very moment: a failed send is not an error of ours. */
  tell(message: PrimaryToWorker, logger: Logger): void {
    if (!this.process.isConnected()) return;
    try {
      this.process.send(message, (err: Error | null) => {
        if (err) logger.debug({ err: err.message }, 'message to an exiting worker not delivered');
      });
    } catch {
      // channel already closed
    }
  }
}

export interface SupervisorEvents {
  /** Every worker holds every model and listens, for the first time: the server is ready. */
  ready(models: ModelDescription[]): void;
  /** Start-up cannot succeed: the server must stop. */
  fatal(error: WireError): void;
}

/** Back-off for a slot whose workers keep failing to start: 250 ms doubling to 10 s. */
const startBackoffMs = (failures: number) => Math.min(10_000, 250 * 2 ** Math.min(failures - 1, 6));

export class Supervisor {
  private readonly workers = new Map<number, WorkerRecord>();
  /** What every worker must hold, by model name. */
  private readonly models = new Map<string, ModelSpec>();
  private readonly descriptions = new Map<string, ModelDescription>();
  /** Consecutive start failures per slot (reset once a worker of the slot is ready). */
  private readonly startFailures = new Map<number, number>();
  private state: HealthState = 'starting';
  private everReady = false;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly events: SupervisorEvents,
  ) {}

  get health(): HealthState {
    return this.state;
  }

  get size(): number {
    return this.workers.size;
  }

  /** Adds a model every worker must hold (asked of the workers that listen already, and of every later one). */
  hold(spec: ModelSpec): void {
    this.models.set(spec.name, spec);
    for (const w of this.workers.values()) if (w.phase !== 'starting') w.tell({ type: 'load-model', spec }, this.logger);
  }

  start(): void {
    for (let slot = 0; slot < this.config.workers; slot++) this.fork(slot);
  }

  /** Stops taking traffic: every worker answers /ping 503 and finishes what it has. */
  drain(): void {
    this.state = 'draining';
    this.broadcast({ type: 'health', state: this.state });
  }

  /** Asks every worker to finish in-flight work and exit; `done` runs once none is left. */
  stopAll(done: () => void): void {
    cluster.on('exit', () => {
      if (this.workers.size === 0) done();
    });
    if (this.workers.size === 0) return done();
    for (const w of this.workers.values()) {
      if (w.process.isConnected()) w.tell({ type: 'shutdown' }, this.logger);
      else w.process.process.kill('SIGTERM');
    }
  }

  killAll(): void {
    for (const w of this.workers.values()) w.process.process.kill('SIGKILL');
  }

  private broadcast(message: PrimaryToWorker): void {
    for (const w of this.workers.values()) w.tell(message, this.logger);
  }

  private fork(slot: number): void {
    const record = new WorkerRecord(slot, cluster.fork({ MODEL_SERVER_WORKER_SLOT: String(slot) }));
    this.workers.set(slot, record);
    record.process.on('error', (err) => this.logger.debug({ worker: slot, err: err.message }, 'IPC error with a worker'));
    record.process.on('message', (message: unknown) => {
      if (isWorkerMessage(message)) this.onMessage(record, message);
    });
    record.process.on('exit', (code: number | null, signal: NodeJS.Signals | null) => this.onExit(record, code, signal));
  }

  private onMessage(record: WorkerRecord, message: WorkerToPrimary): void {
    switch (message.type) {
      case 'worker-started':
        record.phase = 'loading';
        record.tell({ type: 'health', state: this.state }, this.logger);
        for (const spec of this.models.values()) record.tell({ type: 'load-model', spec }, this.logger);
        return;
      case 'worker-listening':
        return this.onWorkerReady(record);
      case 'worker-fatal':
        return this.onStartFailure(record, message.error);
      case 'model-failed':
        return this.onStartFailure(record, message.error);
      case 'model-ready':
        return this.onModelReady(record, message.model, message.ms);
    }
  }

  private onStartFailure(record: WorkerRecord, error: WireError): void {
    if (!this.everReady) return this.events.fatal(error);
    this.logger.error({ worker: record.slot, code: error.code }, `replacement worker failed to start: ${error.message}`);
    // It cannot serve what every worker must hold: replace it (with back-off, see onExit).
    record.process.process.kill('SIGTERM');
  }

  private onModelReady(record: WorkerRecord, model: ModelDescription, ms: number): void {
    if (!this.descriptions.has(model.name)) {
      try {
        checkDefaultAccept(this.config, model);
      } catch (err) {
        return this.events.fatal((err as ServerError).toWire());
      }
    }
    this.descriptions.set(model.name, model);
    record.readyMs = ms;
  }

  /** The worker holds what it must and listens: it takes traffic from now on. */
  private onWorkerReady(record: WorkerRecord): void {
    record.phase = 'ready';
    this.startFailures.delete(record.slot);
    if (this.everReady) {
      this.logger.info({ worker: record.slot, ms: record.readyMs }, 'replacement worker ready');
      return;
    }
    if (this.workers.size === this.config.workers && [...this.workers.values()].every((w) => w.phase === 'ready')) {
      this.everReady = true;
      this.state = 'ready';
      this.broadcast({ type: 'health', state: this.state });
      this.events.ready([...this.descriptions.values()]);
    }
  }

  private onExit(record: WorkerRecord, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.workers.get(record.slot) === record) this.workers.delete(record.slot);
    if (this.state === 'draining') return;
    if (!this.everReady) {
      // A fatal message, if any, has already been logged; otherwise say what happened.
      this.events.fatal({ code: 'INTERNAL_ERROR', message: `worker ${record.slot} exited during start-up (${signal ?? `code ${code}`})` });
      return;
    }
    // A worker that had served is replaced at once: one bad request must not keep its slot empty. Only a
    // slot whose workers keep failing to start backs off.
    let delay = 0;
    if (record.phase !== 'ready') {
      const failures = (this.startFailures.get(record.slot) ?? 0) + 1;
      this.startFailures.set(record.slot, failures);
      delay = startBackoffMs(failures);
    }
    this.logger.error({ worker: record.slot, code, signal, restartInMs: delay }, `worker ${record.slot} died; starting a replacement`);
    setTimeout(() => {
      if (this.state !== 'draining') this.fork(record.slot);
    }, delay).unref();
  }
}
