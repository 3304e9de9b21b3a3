// One worker process: its models (each with its own inference thread pool), the shared body slots, and
// the HTTP edge on its own unix socket behind nginx. It listens only once the models the supervisor
// asked for are loaded and warm: until then nginx finds no socket and sends requests to another worker
// (a POST a worker has received is never passed on, so a worker must not take one it cannot serve).
import * as fs from 'node:fs';
import * as http from 'node:http';
import { workerSlot, type Config } from '../config/serving';
import { releaseFreedMemory } from '../allocator';
import { withMessage, type WireError } from '../errors';
import { answerClientErrors } from '../http/client-error';
import { createHandler } from '../http/handler';
import { OnnxModel } from '../inference/pool';
import { JournalWriter } from '../metrics/journal';
import { RequestMetrics } from '../metrics/recorder';
import { SMALL } from '../inference/protocol';
import type { Logger } from '../logger';
import type { ControlReply, ControlRequest, ModelControl } from '../models/control';
import type { ModelSpec } from '../models/model';
import { ModelRegistry } from '../models/registry';
import { runPaths } from '../paths';
import { signalGroup, stopGroupNow } from '../processes';
import { Receipts } from '../receipts';
import { SharedBodies } from '../shared-bodies';
import type { HealthState } from '../vocabulary';
import { isPrimaryMessage, type PrimaryToWorker, type WorkerToPrimary } from './messages';
import { holderSlots } from './routing';

/** Shared body slots per worker (64 KiB each: 8 MiB of address space, resident only where used). */
const BODY_SLOTS = 128;

/**
 * A holder that has just died may still look ready here: its death reaches the primary, and then this
 * worker, a moment after nginx found it gone. An invocation waiting for the holder waits this long for
 * such news before it takes "ready" at its word.
 */
const DEATH_NOTICE_MS = 1000;

/**
 * The worker's process metrics also go to the primary this often unasked, so that a worker that dies
 * between two scrapes leaves recent CPU figures behind (its request counts go with every answer anyway).
 */
const SNAPSHOT_MS = 15_000;

function send(message: WorkerToPrimary): void {
  process.send?.(message);
}

/** The multi-model API's calls, answered by the primary over IPC. */
class ControlChannel implements ModelControl {
  private nextId = 1;
  private readonly pending = new Map<number, (reply: ControlReply) => void>();

  constructor(private readonly slot: number) {}

  request(request: ControlRequest): Promise<ControlReply> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      send({ type: 'control', slot: this.slot, id, request });
    });
  }

  answer(id: number, reply: ControlReply): void {
    this.pending.get(id)?.(reply);
    this.pending.delete(id);
  }
}

export class WorkerProcess {
  private readonly slot = workerSlot();
  private readonly logger: Logger;
  private readonly models = new ModelRegistry();
  private readonly bodies = new SharedBodies(BODY_SLOTS, SMALL);
  /** The models the supervisor asked this worker to hold before it listens. */
  private readonly required = new Set<string>();
  /** The models the server holds on any worker (multi-model): for the others, 404 rather than 503. */
  private modelNames: ReadonlySet<string> = new Set();
  /** The worker slots taking requests, as the primary last said, and who waits to hear of a change. */
  private readySlots: ReadonlySet<number> = new Set();
  private readonly slotWatchers = new Set<() => void>();
  /** Which requests this worker handed to its models (none in proxy mode: the scorer runs invocations). */
  private readonly receipts: Receipts | undefined;
  private readonly control = new ControlChannel(workerSlot());
  /** The server's state as the primary last said it. */
  private serverState: HealthState = 'starting';
  /** Proxy mode: why /ping must say 503 although the server is ready (the scorer's health), as the primary says. */
  private upstreamProblem: WireError | null;
  private server: http.Server | undefined;
  private listening: Promise<void> | undefined;
  private stopping = false;
  private readonly started = performance.now();
  /** MODEL_SERVER_METRICS, MODEL_SERVER_EMF: inference requests counted here and reported to the primary. */
  private readonly metrics: RequestMetrics | undefined;

  constructor(
    private readonly config: Config,
    baseLogger: Logger,
  ) {
    this.logger = baseLogger.child({ worker: this.slot });
    if (config.metrics || config.emf) {
      this.metrics = new RequestMetrics(new JournalWriter(config.runDir));
      setInterval(() => this.sendSnapshot(0), SNAPSHOT_MS).unref();
    }
    this.upstreamProblem = config.upstream ? { code: 'UPSTREAM_UNHEALTHY', message: 'the scorer has not been asked yet' } : null;
    this.receipts = config.upstream ? undefined : new Receipts(runPaths(config.runDir).receipts, this.slot);
  }

  /**
   * Resolves true once every worker holding `name` takes requests: at once when one was down and is back,
   * else after DEATH_NOTICE_MS of them all looking ready; false after `timeoutMs`.
   */
  private awaitHolders(name: string, timeoutMs: number): Promise<boolean> {
    const holders = holderSlots(name, this.config.workers, this.config.modelCopies);
    const allReady = () => holders.every((slot) => this.readySlots.has(slot));
    return new Promise((resolve) => {
      let sawDown = !allReady();
      const settle = (back: boolean) => {
        clearTimeout(notice);
        clearTimeout(timeout);
        this.slotWatchers.delete(watch);
        resolve(back);
      };
      const watch = () => {
        if (!allReady()) sawDown = true;
        else if (sawDown) settle(true);
      };
      const notice = setTimeout(() => !sawDown && settle(true), Math.min(DEATH_NOTICE_MS, timeoutMs));
      const timeout = setTimeout(() => settle(false), timeoutMs);
      this.slotWatchers.add(watch);
    });
  }

  /** The server's state as the primary says it (this worker listens only once its models are warm). */
  health(): HealthState {
    return this.serverState;
  }

  async run(): Promise<void> {
    // The terminal's Ctrl-C reaches the whole process group; the primary coordinates the shutdown.
    process.on('SIGINT', () => undefined);
    this.watchPrimary();
    process.on('message', (message) => {
      if (isPrimaryMessage(message)) this.onMessage(message);
    });
    // A SIGTERM sent to the whole process group (pkill, kill -- -PGID) reaches workers too: finish what is
    // in flight and exit, as on the primary's own shutdown message.
    process.on('SIGTERM', () => this.shutdown());
    send({ type: 'worker-started', slot: this.slot });
  }

  /** Listens once every required model is ready (and only once). */
  private listenWhenReady(): void {
    if (this.listening || this.stopping) return;
    for (const name of this.required) if (this.models.state(name) !== 'ready') return;
    this.listening = this.listen().then(
      () => send({ type: 'worker-listening', slot: this.slot }),
      (err: unknown) => {
        send({ type: 'worker-fatal', slot: this.slot, error: withMessage(err) });
        this.server?.close();
        setTimeout(() => process.exit(1), 50);
      },
    );
  }

  private onMessage(message: PrimaryToWorker): void {
    switch (message.type) {
      case 'health':
        this.serverState = message.state;
        return;
      case 'shutdown':
        return this.shutdown();
      case 'hold-models':
        for (const spec of message.specs) this.required.add(spec.name);
        for (const spec of message.specs) void this.load(spec);
        return this.listenWhenReady();
      case 'load-model':
        return void this.load(message.spec);
      case 'unload-model':
        return void this.unload(message.name);
      case 'model-names':
        this.modelNames = new Set(message.names);
        return;
      case 'workers-ready':
        this.readySlots = new Set(message.slots);
        for (const watch of [...this.slotWatchers]) watch();
        return;
      case 'control-reply':
        return this.control.answer(message.id, message.reply);
      case 'upstream-health':
        this.upstreamProblem = message.problem;
        return;
      case 'metrics-request':
        return this.sendSnapshot(message.id);
    }
  }

  private sendSnapshot(id: number): void {
    void this.metrics?.snapshot().then((metrics) => send({ type: 'metrics-snapshot', slot: this.slot, id, metrics }));
  }

  /** Releases a model once its in-flight invocations are done (up to the grace period), then says so. */
  private async unload(name: string): Promise<void> {
    const started = performance.now();
    // No longer needed before listening (a replacement may be told to let go of a model it is reloading).
    this.required.delete(name);
    this.listenWhenReady();
    await this.models.remove(name, this.config.graceSeconds * 1000).catch(() => undefined);
    // Its threads have exited: what they and its sessions freed goes back to the system, so that the
    // server's resident memory shows the room the unload made (the memory budget's guard reads it).
    if (this.config.multiModel) releaseFreedMemory();
    this.logger.debug({ model: name, ms: Math.round(performance.now() - started) }, 'model released');
    send({ type: 'model-unloaded', slot: this.slot, name });
  }

  private async load(spec: ModelSpec): Promise<void> {
    const { config } = this;
    const started = performance.now();
    const model = new OnnxModel(spec, {
      threads: config.threads,
      intraOpThreads: config.intraOpThreads,
      outputStyle: config.outputStyle,
      outputKeys: config.inferenceOutput,
      maxQueue: config.maxQueue,
      maxBatch: config.maxBatch,
      timeoutMs: config.timeoutSeconds * 1000,
      bodies: this.bodies,
      receipts: this.receipts,
      inline: config.inline,
      logger: this.logger,
    });
    try {
      const description = await this.models.add(model);
      // Loading freed much (the file read, onnxruntime's working copies): give it back, in multi-model mode,
      // where the memory budget's guard reads the resident memory before the next load.
      if (config.multiModel) releaseFreedMemory();
      send({ type: 'model-ready', slot: this.slot, model: description, ms: Math.round(performance.now() - (this.listening ? started : this.started)) });
      this.listenWhenReady();
    } catch (err) {
      // Load errors go to the primary's log, not to a caller, so unexpected ones keep their message.
      send({ type: 'model-failed', slot: this.slot, name: spec.name, error: withMessage(err) });
      // Stop its threads: exiting with onnxruntime sessions still loading aborts the process natively.
      await this.models.remove(spec.name).catch(() => undefined);
      if (config.multiModel) releaseFreedMemory();
    }
  }

  private async listen(): Promise<void> {
    const handler = createHandler({
      config: this.config,
      logger: this.logger,
      models: this.models,
      bodies: this.bodies,
      health: () => this.health(),
      unready: () => this.upstreamProblem ?? undefined,
      control: this.control,
      isLoaded: (name) => this.modelNames.has(name),
      receipts: this.receipts,
      awaitHolders: this.config.multiModel ? (name, timeoutMs) => this.awaitHolders(name, timeoutMs) : undefined,
      metrics: this.metrics,
    });
    const server = http.createServer(handler);
    server.on('clientError', answerClientErrors(this.logger));
    this.server = server;
    // Longer than nginx's upstream keepalive_timeout (60 s), so nginx closes idle connections first.
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    server.requestTimeout = 0;
    // nginx keeps its upstream connections alive, so this should be rare; debug shows it.
    server.on('connection', () => this.logger.debug('nginx opened a connection to this worker'));
    const socket = runPaths(this.config.runDir).workerSocket(this.slot);
    fs.rmSync(socket, { force: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path: socket, exclusive: true }, () => resolve());
    });
    // nginx's worker processes may run as an unprivileged user; they must be able to connect.
    fs.chmodSync(socket, 0o666);
  }

  private shutdown(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.serverState = 'draining';
    const exit = () => this.models.closeAll(this.config.graceSeconds * 1000).finally(() => process.exit(0));
    if (this.server) this.server.close(() => void exit());
    else void exit();
    this.server?.closeIdleConnections();
  }

  /**
   * If the primary dies without shutting us down (SIGKILL), stop nginx and the scorer it started (proxy
   * mode; SIGKILL after 2 s) and exit rather than linger.
   */
  private watchPrimary(): void {
    // prepend: Node's cluster module has its own 'disconnect' listener that exits the process at once,
    // so this one does what must be done synchronously, and blocks the event loop while the scorer stops.
    process.prependListener('disconnect', () => {
      const paths = runPaths(this.config.runDir);
      const pidIn = (file: string) => {
        try {
          return Number(fs.readFileSync(file, 'utf8')) || undefined;
        } catch {
          return undefined; // already gone
        }
      };
      const nginx = pidIn(paths.nginxPid);
      if (nginx) signalGroup(nginx, 'SIGTERM');
      this.logger.error('the primary process is gone; worker exiting');
      const scorer = pidIn(paths.upstreamPid);
      if (scorer) stopGroupNow(scorer, 2000);
      process.exit(1);
    });
  }
}

export function runWorker(config: Config, logger: Logger): Promise<void> {
  return new WorkerProcess(config, logger).run();
}
