// One worker process: its models (each with its own inference thread pool), the shared body slots, and
// the HTTP edge on its own unix socket behind nginx. It listens only once the models the supervisor
// asked for are loaded and warm: until then nginx finds no socket and sends requests to another worker
// (a POST a worker has received is never passed on, so a worker must not take one it cannot serve).
import * as fs from 'node:fs';
import * as http from 'node:http';
import { workerSlot, type Config } from '../config';
import { ServerError, type WireError } from '../errors';
import { answerClientErrors } from '../http/client-error';
import { createHandler } from '../http/handler';
import { OnnxModel } from '../inference/pool';
import { SMALL } from '../inference/protocol';
import type { Logger } from '../logger';
import type { ModelSpec } from '../models/model';
import { ModelRegistry } from '../models/registry';
import { runPaths } from '../paths';
import { SharedBodies } from '../shared-bodies';
import type { HealthState } from '../vocabulary';
import { isPrimaryMessage, type PrimaryToWorker, type WorkerToPrimary } from './messages';

/** Shared body slots per worker (64 KiB each: 8 MiB of address space, resident only where used). */
const BODY_SLOTS = 128;

function send(message: WorkerToPrimary): void {
  process.send?.(message);
}

const wire = (err: unknown): WireError => (err instanceof ServerError ? err.toWire() : { code: 'INTERNAL_ERROR', message: String((err as Error)?.message ?? err) });

export class WorkerProcess {
  private readonly slot = workerSlot();
  private readonly logger: Logger;
  private readonly models = new ModelRegistry();
  private readonly bodies = new SharedBodies(BODY_SLOTS, SMALL);
  /** The models the supervisor asked this worker to hold: it is ready when every one of them is. */
  private readonly required = new Set<string>();
  /** The server's state as the primary last said it. */
  private serverState: HealthState = 'starting';
  private server: http.Server | undefined;
  private listening: Promise<void> | undefined;
  private stopping = false;
  private readonly started = performance.now();

  constructor(
    private readonly config: Config,
    baseLogger: Logger,
  ) {
    this.logger = baseLogger.child({ worker: this.slot });
  }

  /** Ready only when the whole server is (the primary says so) and this worker's models are warm. */
  health(): HealthState {
    if (this.serverState !== 'ready') return this.serverState;
    for (const name of this.required) if (this.models.state(name) !== 'ready') return 'starting';
    return 'ready';
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
        send({ type: 'worker-fatal', slot: this.slot, error: wire(err) });
        this.server?.close();
        setTimeout(() => process.exit(1), 50);
      },
    );
  }

  private onMessage(message: PrimaryToWorker): void {
    if (message.type === 'health') this.serverState = message.state;
    else if (message.type === 'shutdown') this.shutdown();
    else void this.load(message.spec);
  }

  private async load(spec: ModelSpec): Promise<void> {
    const { config } = this;
    this.required.add(spec.name);
    const model = new OnnxModel(spec, {
      threads: config.threads,
      intraOpThreads: config.intraOpThreads,
      maxQueue: config.maxQueue,
      maxBatch: config.maxBatch,
      timeoutMs: config.timeoutSeconds * 1000,
      bodies: this.bodies,
      logger: this.logger,
    });
    try {
      const description = await this.models.add(model);
      send({ type: 'model-ready', slot: this.slot, model: description, ms: Math.round(performance.now() - this.started) });
      this.listenWhenReady();
    } catch (err) {
      // Load errors go to the primary's log, not to a caller, so unexpected ones keep their message.
      send({ type: 'model-failed', slot: this.slot, name: spec.name, error: wire(err) });
      // Stop its threads: exiting with onnxruntime sessions still loading aborts the process natively.
      await this.models.remove(spec.name).catch(() => undefined);
    }
  }

  private async listen(): Promise<void> {
    const handler = createHandler({ config: this.config, logger: this.logger, models: this.models, bodies: this.bodies, health: () => this.health() });
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

  /** If the primary dies without shutting us down (SIGKILL), stop nginx and exit rather than linger. */
  private watchPrimary(): void {
    // prepend: Node's cluster module has its own 'disconnect' listener that exits the process at once.
    process.prependListener('disconnect', () => {
      try {
        const pid = Number(fs.readFileSync(runPaths(this.config.runDir).nginxPid, 'utf8'));
        if (pid > 0) process.kill(pid, 'SIGTERM');
      } catch {
        // nginx already gone
      }
      this.logger.error('the primary process is gone; worker exiting');
      process.exit(1);
    });
  }
}

export function runWorker(config: Config, logger: Logger): Promise<void> {
  return new WorkerProcess(config, logger).run();
}
