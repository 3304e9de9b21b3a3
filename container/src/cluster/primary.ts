// The cluster primary: checks the set-up, renders and runs nginx, forks and respawns workers, tracks
// readiness, and on SIGTERM drains and exits. It never loads the model itself.
import type { ChildProcess } from 'node:child_process';
import cluster, { type Worker } from 'node:cluster';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../config';
import { ServerError, type WireError } from '../errors';
import type { HealthState } from '../http/app';
import type { Logger } from '../logger';
import { modelDir, resolveModelFile, runPaths } from '../paths';
import { isWorkerMessage, type PrimaryToWorker } from './messages';
import { findNginx, startNginx, testNginxConf, writeNginxConf } from './nginx';

/**
 * nginx started as root runs its worker processes as "nobody", which must be able to reach the worker
 * sockets: every directory above the run directory needs the others-execute bit.
 */
function checkRunDirReachable(runDir: string): void {
  if (process.getuid?.() !== 0) return;
  for (let dir = path.dirname(runDir); ; dir = path.dirname(dir)) {
    const mode = fs.statSync(dir).mode;
    if ((mode & 0o001) === 0) {
      throw new ServerError('CONFIG_INVALID', `MODEL_SERVER_RUN_DIR=${runDir} is inside ${dir} (mode ${(mode & 0o777).toString(8)}), which nginx's worker processes (user nobody) cannot enter; use a directory under /tmp, or chmod o+x ${dir}`);
    }
    if (dir === path.dirname(dir)) return;
  }
}

/** Refuses to share a run directory with a live nginx; clears what a dead one left behind. */
function prepareRunDir(config: Config): void {
  fs.mkdirSync(config.runDir, { recursive: true, mode: 0o755 });
  fs.chmodSync(config.runDir, 0o755);
  checkRunDirReachable(config.runDir);
  const { nginxPid } = runPaths(config.runDir);
  let pid = 0;
  try {
    pid = Number(fs.readFileSync(nginxPid, 'utf8'));
  } catch {
    return;
  }
  let alive = false;
  try {
    if (pid > 0) {
      process.kill(pid, 0);
      alive = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('nginx');
    }
  } catch {
    alive = false;
  }
  if (alive) {
    throw new ServerError('CONFIG_INVALID', `MODEL_SERVER_RUN_DIR=${config.runDir} is in use by another running server (nginx pid ${pid}); stop it or set another MODEL_SERVER_RUN_DIR`);
  }
  fs.rmSync(nginxPid, { force: true });
}

export function runPrimary(config: Config, logger: Logger): void {
  const started = performance.now();
  let state: HealthState = 'starting';
  let shuttingDown = false;
  let everReady = false;
  let nginx: ChildProcess | undefined;
  const workers = new Map<number, Worker>();
  const readySlots = new Set<number>();
  const restarts = new Map<number, number>();
  const readySince = new Map<number, number>();

  /** IPC to a worker that may be exiting this very moment: a failed send is not an error of ours. */
  const tell = (w: Worker, message: PrimaryToWorker) => {
    if (!w.isConnected()) return;
    try {
      w.send(message, (err: Error | null) => {
        if (err) logger.debug({ err: err.message }, 'message to an exiting worker not delivered');
      });
    } catch {
      // channel already closed
    }
  };
  const broadcast = (message: PrimaryToWorker) => {
    for (const w of workers.values()) tell(w, message);
  };

  const killNginxGroup = (signal: NodeJS.Signals) => {
    if (!nginx?.pid) return;
    try {
      process.kill(-nginx.pid, signal);
    } catch {
      // already gone
    }
  };

  const shutdown = (code: number, reason: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    state = 'draining';
    logger.info({ reason }, 'shutting down: draining in-flight requests');
    broadcast({ type: 'health', state });
    const force = setTimeout(() => {
      logger.error({ graceSeconds: config.graceSeconds }, 'grace period over (MODEL_SERVER_GRACE_PERIOD): killing what is left');
      killNginxGroup('SIGKILL');
      for (const w of workers.values()) w.process.kill('SIGKILL');
      process.exit(code === 0 ? 1 : code);
    }, config.graceSeconds * 1000);
    force.unref();

    const stopWorkers = () => {
      if (workers.size === 0) return finish();
      for (const w of workers.values()) {
        if (w.isConnected()) tell(w, { type: 'shutdown' });
        else w.process.kill('SIGTERM');
      }
    };
    const finish = () => {
      clearTimeout(force);
      logger.info({ code }, 'stopped');
      process.exit(code);
    };
    cluster.on('exit', () => {
      if (workers.size === 0) finish();
    });
    // nginx first: it stops accepting, lets in-flight requests complete, then the workers can go.
    if (nginx && nginx.exitCode === null && nginx.signalCode === null) {
      nginx.once('exit', stopWorkers);
      killNginxGroup('SIGQUIT');
    } else {
      stopWorkers();
    }
  };

  const fatal = (error: WireError) => {
    if (shuttingDown) return;
    logger.fatal({ code: error.code }, error.message);
    shutdown(1, error.code);
  };

  process.on('SIGTERM', () => shutdown(0, 'SIGTERM'));
  process.on('SIGINT', () => shutdown(0, 'SIGINT'));

  let binary: string;
  let conf: string;
  try {
    binary = findNginx(config.nginxBinary, config.searchPath);
    resolveModelFile(modelDir(config.baseDir));
    prepareRunDir(config);
    conf = writeNginxConf(config);
    testNginxConf(binary, config, conf);
  } catch (err) {
    const error = err instanceof ServerError ? err.toWire() : { code: 'INTERNAL_ERROR' as const, message: String(err) };
    logger.fatal({ code: error.code }, error.message);
    process.exit(1);
  }

  const fork = (slot: number) => {
    const worker = cluster.fork({ MODEL_SERVER_WORKER_SLOT: String(slot) });
    workers.set(slot, worker);
    worker.on('error', (err) => logger.debug({ worker: slot, err: err.message }, 'IPC error with a worker'));
    worker.on('message', (message: unknown) => {
      if (!isWorkerMessage(message)) return;
      if (message.type === 'worker-listening') {
        listening.add(slot);
        if (listening.size === config.workers) startNginxOnce();
        return;
      }
      if (message.type === 'worker-fatal') {
        if (!everReady) fatal(message.error);
        else logger.error({ worker: slot, code: message.error.code }, `replacement worker failed to start: ${message.error.message}`);
        return;
      }
      readySlots.add(slot);
      readySince.set(slot, Date.now());
      tell(worker, { type: 'health', state });
      if (everReady) {
        logger.info({ worker: slot, ms: message.ms }, 'replacement worker ready');
        return;
      }
      if (readySlots.size === config.workers) {
        everReady = true;
        state = 'ready';
        broadcast({ type: 'health', state });
        const m = message.model;
        logger.info(
          {
            model: m.file,
            kind: m.kind,
            inputs: m.inputs,
            outputs: m.outputs,
            features: m.featureNames ?? m.features,
            warmed: m.warmed,
            ...(m.warmupError ? { warmupError: m.warmupError } : {}),
            ...(m.labelsFromProbabilities ? { labelsFromProbabilities: true } : {}),
            workers: config.workers,
            threadsPerWorker: config.threads,
            port: config.port,
            readyMs: Math.round(performance.now() - started),
          },
          `ready: serving ${m.kind} ${m.file} on port ${config.port} with ${config.workers} worker(s) x ${config.threads} thread(s)`,
        );
      }
    });
    worker.on('exit', (code, signal) => {
      if (workers.get(slot) === worker) workers.delete(slot);
      readySlots.delete(slot);
      if (shuttingDown) return;
      if (!everReady) {
        // A fatal message, if any, has already been logged; otherwise say what happened.
        fatal({ code: 'INTERNAL_ERROR', message: `worker ${slot} exited during start-up (${signal ?? `code ${code}`})` });
        return;
      }
      // Back off on crash loops; a worker that had been serving for a minute starts the count again.
      if (Date.now() - (readySince.get(slot) ?? 0) > 60_000) restarts.set(slot, 0);
      const n = (restarts.get(slot) ?? 0) + 1;
      restarts.set(slot, n);
      const delay = Math.min(10_000, 250 * 2 ** Math.min(n - 1, 6));
      logger.error({ worker: slot, code, signal, restartInMs: delay }, `worker ${slot} died; starting a replacement`);
      setTimeout(() => {
        if (!shuttingDown) fork(slot);
      }, delay).unref();
    });
  };

  // nginx starts once every worker listens (they answer 503 until their model is warm), so it never
  // meets a missing socket: a refused connection in its log then always means a worker really died.
  const listening = new Set<number>();
  const startNginxOnce = () => {
    if (nginx || shuttingDown) return;
    nginx = startNginx(binary, config, conf, logger);
    nginx.on('error', (err) => fatal({ code: 'NGINX_FAILED', message: `nginx could not be started: ${err.message}` }));
    nginx.on('exit', (code, signal) => {
      // Its worker processes must not outlive the master.
      killNginxGroup('SIGKILL');
      if (!shuttingDown) fatal({ code: 'NGINX_FAILED', message: `nginx exited unexpectedly (${signal ?? `code ${code}`}); stopping the server so the platform restarts it` });
    });
  };

  for (let slot = 0; slot < config.workers; slot++) fork(slot);
}
