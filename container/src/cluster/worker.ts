// One worker process: its inference thread pool and the HTTP app on its own unix socket behind nginx.
// It listens at once and answers 503 until every thread has loaded and warmed the model; nginx then tries
// another worker, so callers never wait on a cold one.
import * as fs from 'node:fs';
import * as http from 'node:http';
import { workerSlot, type Config } from '../config';
import { ServerError, type WireError } from '../errors';
import type { HealthState } from '../http/app';
import { createHandler } from '../http/handler';
import { InferencePool } from '../inference/pool';
import type { Logger } from '../logger';
import { findModelJson, modelDir, resolveModelFile, runPaths } from '../paths';
import { isPrimaryMessage, type WorkerToPrimary } from './messages';

function send(message: WorkerToPrimary): void {
  process.send?.(message);
}

/** If the primary dies without shutting us down (SIGKILL), stop nginx and exit rather than linger. */
function watchPrimary(config: Config, logger: Logger): void {
  // prepend: Node's cluster module has its own 'disconnect' listener that exits the process at once.
  process.prependListener('disconnect', () => {
    try {
      const pid = Number(fs.readFileSync(runPaths(config.runDir).nginxPid, 'utf8'));
      if (pid > 0) process.kill(pid, 'SIGTERM');
    } catch {
      // nginx already gone
    }
    logger.error('the primary process is gone; worker exiting');
    process.exit(1);
  });
}

export async function runWorker(config: Config, baseLogger: Logger): Promise<void> {
  const started = performance.now();
  const slot = workerSlot();
  const logger = baseLogger.child({ worker: slot });
  // The terminal's Ctrl-C reaches the whole process group; the primary coordinates the shutdown.
  process.on('SIGINT', () => undefined);
  watchPrimary(config, logger);

  let health: HealthState = 'starting';
  let poolReady = false;
  let server: http.Server | undefined;
  let pool: InferencePool | undefined;

  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    health = 'draining';
    const exit = () => (pool ? pool.close(config.graceSeconds * 1000) : Promise.resolve()).finally(() => process.exit(0));
    if (server) server.close(() => void exit());
    else void exit();
    server?.closeIdleConnections();
  };
  process.on('message', (message) => {
    if (!isPrimaryMessage(message)) return;
    if (message.type === 'health') health = message.state;
    if (message.type === 'shutdown') shutdown();
  });
  // A SIGTERM sent to the whole process group (pkill, kill -- -PGID) reaches workers too: finish what is
  // in flight and exit, as on the primary's own shutdown message.
  process.on('SIGTERM', shutdown);

  try {
    const dir = modelDir(config.baseDir);
    const modelFile = resolveModelFile(dir);
    pool = new InferencePool({
      init: { modelFile, modelJsonFile: findModelJson(modelFile, dir), intraOpThreads: config.intraOpThreads, inferenceOutput: config.inferenceOutput },
      threads: config.threads,
      maxQueue: config.maxQueue,
      maxBatch: config.maxBatch,
      timeoutMs: config.timeoutSeconds * 1000,
      logger,
    });
    const handler = createHandler({
      config,
      logger,
      invoke: (task) => pool!.invoke(task),
      bodies: pool.bodies,
      // Ready only when the whole server is (the primary says so) and this worker's own threads are warm.
      health: () => (health === 'ready' && !poolReady ? 'starting' : health),
    });
    server = http.createServer(handler);
    // Longer than nginx's upstream keepalive_timeout (60 s), so nginx closes idle connections first.
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    server.requestTimeout = 0;
    // nginx keeps its upstream connections alive, so this should be rare; debug shows it.
    server.on('connection', () => logger.debug('nginx opened a connection to this worker'));
    const socket = runPaths(config.runDir).workerSocket(slot);
    fs.rmSync(socket, { force: true });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen({ path: socket, exclusive: true }, () => resolve());
    });
    // nginx's worker processes may run as an unprivileged user; they must be able to connect.
    fs.chmodSync(socket, 0o666);
    send({ type: 'worker-listening', slot });

    const model = await pool.ready();
    poolReady = true;
    send({ type: 'worker-ready', slot, model, threads: config.threads, ms: Math.round(performance.now() - started) });
  } catch (err) {
    // Start-up errors go to the primary's log, not to a caller, so unexpected ones keep their message.
    const error: WireError = err instanceof ServerError ? err.toWire() : { code: 'INTERNAL_ERROR', message: String((err as Error)?.message ?? err) };
    send({ type: 'worker-fatal', slot, error });
    // Stop the threads first: exiting with onnxruntime sessions still loading aborts the process natively.
    await pool?.close().catch(() => undefined);
    server?.close();
    setTimeout(() => process.exit(1), 50);
  }
}
