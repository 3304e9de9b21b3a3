// The primary's Supervisor: forks the workers, keeps per-worker state, owns the table of which worker
// holds which model (every worker the single model; in multi-model mode the holders nginx routes to)
// and re-establishes it on a replacement, decides readiness, and replaces workers that die: at once if
// the worker had served, with a growing back-off only while workers fail to start.
import cluster, { type Worker } from 'node:cluster';
import { checkDefaultAccept } from '../models/media';
import type { Config } from '../config/serving';
import { ServerError, type WireError } from '../errors';
import type { Logger } from '../logger';
import type { MetricsCollector } from '../metrics/collector';
import type { ModelSpec } from '../models/model';
import type { HealthState, ModelDescription } from '../vocabulary';
import { isWorkerMessage, type PrimaryToWorker, type WorkerToPrimary } from './messages';

/** starting: forked; loading: told what to hold; ready: holds it all and listens on its socket. */
type Phase = 'starting' | 'loading' | 'ready';

/** One worker slot's current process. */
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

/** A model the workers must hold, and where. */
interface Assignment {
  spec: ModelSpec;
  /** The slots that hold it ('all' for the single-model endpoint). */
  holders: readonly number[] | 'all';
  description?: ModelDescription;
  /** A load in progress: the holders still to report, and who waits for them. */
  loading?: { waiting: Set<number>; resolve: (d: ModelDescription) => void; reject: (e: WireError) => void };
  /** An unload in progress: the holders still to release it. */
  unloading?: { waiting: Set<number>; resolve: () => void };
}

export interface SupervisorEvents {
  /** Every worker holds every model and listens, for the first time: the server is ready. */
  ready(models: ModelDescription[]): void;
  /** Start-up cannot succeed: the server must stop. */
  fatal(error: WireError): void;
  /** A worker asks something of the model table (multi-model API); the answer goes back to that worker. */
  control(slot: number, message: Extract<WorkerToPrimary, { type: 'control' }>): void;
}

/** Back-off for a slot whose workers keep failing to start: 250 ms doubling to 10 s. */
const startBackoffMs = (failures: number) => Math.min(10_000, 250 * 2 ** Math.min(failures - 1, 6));

export class Supervisor {
  private readonly workers = new Map<number, WorkerRecord>();
  private readonly assignments = new Map<string, Assignment>();
  /** Consecutive start failures per slot (reset once a worker of the slot is ready). */
  private readonly startFailures = new Map<number, number>();
  private state: HealthState = 'starting';
  private everReady = false;
  /** Proxy mode: the scorer's health as the primary last heard it (null: healthy); undefined otherwise. */
  private upstreamProblem: WireError | null | undefined;
  /** Scrapes waiting for the workers' snapshots, by request id. */
  private readonly snapshotWaits = new Map<number, { waiting: Set<number>; done: () => void }>();
  private nextSnapshotId = 1;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly events: SupervisorEvents,
    /** Where the workers' metrics go (MODEL_SERVER_METRICS, MODEL_SERVER_EMF), if anywhere. */
    private readonly metrics?: MetricsCollector,
  ) {}

  /** Asks every worker that listens for messages for its process metrics; resolves once all have answered, or after `timeoutMs`. */
  refreshMetrics(timeoutMs = 1000): Promise<void> {
    const id = this.nextSnapshotId++;
    const asked = [...this.workers.values()].filter((w) => w.phase !== 'starting');
    if (asked.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(), timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.snapshotWaits.delete(id);
        resolve();
      };
      this.snapshotWaits.set(id, { waiting: new Set(asked.map((w) => w.slot)), done: finish });
      for (const w of asked) w.tell({ type: 'metrics-request', id }, this.logger);
    });
  }

  get health(): HealthState {
    return this.state;
  }

  /** Proxy mode: tells every worker, now and when it starts, whether the scorer is healthy. */
  upstreamHealth(problem: WireError | null): void {
    this.upstreamProblem = problem;
    this.broadcast({ type: 'upstream-health', problem });
  }

  /** A model every worker holds from start-up (the single-model endpoint). */
  holdEverywhere(spec: ModelSpec): void {
    this.assignments.set(spec.name, { spec, holders: 'all' });
  }

  /**
   * Loads a model on the given workers; resolves once every one of them can invoke it. If one fails,
   * the others let it go and the load rejects with that failure.
   */
  load(spec: ModelSpec, holders: readonly number[]): Promise<ModelDescription> {
    return new Promise((resolve, reject) => {
      const assignment: Assignment = { spec, holders };
      assignment.loading = { waiting: new Set(holders), resolve, reject };
      this.assignments.set(spec.name, assignment);
      // A worker still starting gets it with the rest of what it must hold once it says it has started.
      for (const slot of holders) {
        const record = this.workers.get(slot);
        if (record && record.phase !== 'starting') record.tell({ type: 'load-model', spec }, this.logger);
      }
      this.broadcastNames();
    });
  }

  /** Lets a model go on every worker that holds it; resolves once each has released its memory. */
  unload(name: string): Promise<void> {
    const assignment = this.assignments.get(name);
    if (!assignment) return Promise.resolve();
    return new Promise((resolve) => {
      const holders = assignment.holders === 'all' ? [...this.workers.keys()] : assignment.holders;
      // A holder that is not running holds nothing to release.
      const waiting = new Set(holders.filter((slot) => this.workers.get(slot)?.phase !== 'starting' && this.workers.has(slot)));
      assignment.unloading = { waiting, resolve };
      for (const slot of waiting) this.workers.get(slot)?.tell({ type: 'unload-model', name }, this.logger);
      this.settleUnload(name, assignment);
    });
  }

  /** The process ids of the live workers (whose metrics journals are still being written). */
  pids(): Set<number> {
    return new Set([...this.workers.values()].map((w) => w.process.process.pid!));
  }

  /** Names of the models the workers hold or are loading (what the workers tell 404 from 503 by). */
  names(): string[] {
    return [...this.assignments.keys()];
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
      // A worker still starting may not listen for messages yet (a message before its listener is lost,
      // and it would then run until the grace period ends): SIGTERM reaches it either way, as its shutdown
      // handler once installed, else as the default action (it holds nothing yet).
      if (w.process.isConnected() && w.phase !== 'starting') w.tell({ type: 'shutdown' }, this.logger);
      else w.process.process.kill('SIGTERM');
    }
  }

  killAll(): void {
    for (const w of this.workers.values()) w.process.process.kill('SIGKILL');
  }

  /** Sends a worker the answer to its control request. */
  reply(slot: number, message: PrimaryToWorker): void {
    this.workers.get(slot)?.tell(message, this.logger);
  }

  private broadcast(message: PrimaryToWorker): void {
    for (const w of this.workers.values()) w.tell(message, this.logger);
  }

  private broadcastNames(): void {
    this.broadcast({ type: 'model-names', names: this.names() });
  }

  private holds(assignment: Assignment, slot: number): boolean {
    return assignment.holders === 'all' || assignment.holders.includes(slot);
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
      case 'worker-started': {
        record.phase = 'loading';
        record.tell({ type: 'health', state: this.state }, this.logger);
        record.tell({ type: 'model-names', names: this.names() }, this.logger);
        if (this.upstreamProblem !== undefined) record.tell({ type: 'upstream-health', problem: this.upstreamProblem }, this.logger);
        // What this slot must hold (a replacement reloads what its predecessor held), then it listens.
        const specs = [...this.assignments.values()].filter((a) => !a.unloading && this.holds(a, record.slot)).map((a) => a.spec);
        record.tell({ type: 'hold-models', specs }, this.logger);
        return;
      }
      case 'worker-listening':
        return this.onWorkerReady(record);
      case 'worker-fatal':
        return this.onStartFailure(record, message.error);
      case 'model-failed':
        return this.onModelFailed(record, message.name, message.error);
      case 'model-ready':
        return this.onModelReady(record, message.model, message.ms);
      case 'model-unloaded': {
        const assignment = this.assignments.get(message.name);
        if (assignment?.unloading) {
          assignment.unloading.waiting.delete(record.slot);
          this.settleUnload(message.name, assignment);
        }
        return;
      }
      case 'control':
        return this.events.control(record.slot, message);
      case 'metrics-snapshot': {
        this.metrics?.workerSnapshot(record.slot, message.metrics);
        const wait = this.snapshotWaits.get(message.id);
        if (wait && wait.waiting.delete(record.slot) && wait.waiting.size === 0) wait.done();
        return;
      }
    }
  }

  private settleUnload(name: string, assignment: Assignment): void {
    if (!assignment.unloading || assignment.unloading.waiting.size > 0) return;
    if (this.assignments.get(name) === assignment) this.assignments.delete(name);
    this.broadcastNames();
    assignment.unloading.resolve();
  }

  private onStartFailure(record: WorkerRecord, error: WireError): void {
    if (!this.everReady) return this.events.fatal(error);
    this.logger.error({ worker: record.slot, code: error.code }, `replacement worker failed to start: ${error.message}`);
    // It cannot serve what it must hold: replace it (with back-off, see onExit).
    record.process.process.kill('SIGTERM');
  }

  private onModelFailed(record: WorkerRecord, name: string, error: WireError): void {
    const assignment = this.assignments.get(name);
    if (assignment?.loading) {
      // A load asked for at run time (multi-model): it fails whole, and the other holders let it go.
      const { reject } = assignment.loading;
      assignment.loading = undefined;
      void this.unload(name).then(() => reject(error));
      return;
    }
    this.onStartFailure(record, error);
  }

  private onModelReady(record: WorkerRecord, model: ModelDescription, ms: number): void {
    const assignment = this.assignments.get(model.name);
    if (!assignment) return;
    if (!assignment.description && assignment.holders === 'all') {
      try {
        checkDefaultAccept(this.config.defaultAccept, model);
      } catch (err) {
        return this.events.fatal((err as ServerError).toWire());
      }
    }
    assignment.description = model;
    record.readyMs = ms;
    if (assignment.loading) {
      assignment.loading.waiting.delete(record.slot);
      if (assignment.loading.waiting.size === 0) {
        const { resolve } = assignment.loading;
        assignment.loading = undefined;
        resolve(model);
      }
    }
  }

  /** The worker holds what it must and listens: it takes traffic from now on. */
  private onWorkerReady(record: WorkerRecord): void {
    record.phase = 'ready';
    this.startFailures.delete(record.slot);
    // SIGTERM came while workers were starting: the server stays draining (a late "ready" must not turn
    // it back, or the workers that then exit on shutdown would be taken for crashes and replaced).
    if (this.state === 'draining') return;
    if (this.everReady) {
      this.logger.info({ worker: record.slot, ms: record.readyMs }, 'replacement worker ready');
      return;
    }
    if (this.workers.size === this.config.workers && [...this.workers.values()].every((w) => w.phase === 'ready')) {
      this.everReady = true;
      this.state = 'ready';
      this.metrics?.modelsLoaded([...this.assignments.values()].filter((a) => a.holders === 'all' && a.description).length);
      this.broadcast({ type: 'health', state: this.state });
      this.events.ready([...this.assignments.values()].flatMap((a) => (a.description ? [a.description] : [])));
    }
  }

  private onExit(record: WorkerRecord, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.workers.get(record.slot) === record) this.workers.delete(record.slot);
    this.metrics?.workerExited(record.slot, this.everReady && this.state !== 'draining');
    for (const wait of this.snapshotWaits.values()) if (wait.waiting.delete(record.slot) && wait.waiting.size === 0) wait.done();
    if (this.state === 'draining') return;
    if (!this.everReady) {
      // A fatal message, if any, has already been logged; otherwise say what happened.
      this.events.fatal({ code: 'INTERNAL_ERROR', message: `worker ${record.slot} exited during start-up (${signal ?? `code ${code}`})` });
      return;
    }
    // An unload waiting for this worker has nothing more to wait for: its memory is gone with it.
    for (const [name, assignment] of this.assignments) {
      if (assignment.unloading?.waiting.delete(record.slot)) this.settleUnload(name, assignment);
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
