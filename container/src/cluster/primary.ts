// The cluster primary: checks the set-up, runs nginx, and has its Supervisor keep the workers and their
// models; on SIGTERM it drains and exits. It never loads a model itself. In proxy mode it also runs the
// scorer (when serve starts it) and tells the workers whether the scorer is healthy.
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../config/serving';
import { ServerError, withMessage, type WireError } from '../errors';
import type { Logger } from '../logger';
import { MetricsCollector } from '../metrics/collector';
import { EmfWriter } from '../metrics/emf';
import { serveMetrics } from '../metrics/endpoint';
import type { ModelSpec } from '../models/model';
import { cleanRunDir, codeDirOf, modelFolder, runPaths } from '../paths';
import { resolveUpstream, upstreamUrl } from '../upstream/address';
import { ProxyUpstream } from '../upstream/proxy';
import type { ModelDescription } from '../vocabulary';
import { ModelTable } from './model-table';
import { findNginx, startNginx, testNginxConf, writeNginxConf } from './nginx';
import { Supervisor } from './supervisor';

/**
 * nginx started as root runs its worker processes as "nobody", which must be able to reach the worker
 * sockets: every directory above the run directory needs the others-execute bit.
 */
function checkRunDirReachable(runDir: string, variable = 'MODEL_SERVER_RUN_DIR', value = runDir): void {
  if (process.getuid?.() !== 0) return;
  for (let dir = path.dirname(runDir), last = ''; dir !== last; last = dir, dir = path.dirname(dir)) {
    // A folder that is not there yet (one a scorer creates for its socket) is left to its parents.
    const mode = fs.statSync(dir, { throwIfNoEntry: false })?.mode;
    if (mode !== undefined && (mode & 0o001) === 0) {
      throw new ServerError('CONFIG_INVALID', `${variable}=${value} is inside ${dir} (mode ${(mode & 0o777).toString(8)}), which nginx's worker processes (user nobody) cannot enter; use a directory under /tmp, or chmod o+x ${dir}`);
    }
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

/** The single-model endpoint's one model: named "model", from $BASE/model (or MODEL_SERVER_MODEL_DIR). */
function singleModel(config: Config): ModelSpec {
  const dir = config.modelDir;
  return { name: 'model', dir, ...modelFolder(dir, codeDirOf(dir, config.submitDirectory), config.program, true, config.inferenceEnsemble) };
}

/**
 * Proxy mode: the scorer gets SIGTERM once nginx has drained, or this long before the grace period ends
 * (half the grace period when that is shorter), and SIGKILL a second before it ends (a quarter of it when
 * shorter), so that serve still stops cleanly within the grace period.
 */
const SCORER_STOP_MS = 5000;
const SCORER_KILL_MS = 1000;

export class Primary {
  private readonly started = performance.now();
  private readonly supervisor: Supervisor;
  private readonly table: ModelTable;
  /** MODEL_SERVER_METRICS, MODEL_SERVER_EMF: every total, kept here so that no worker's death loses a count. */
  private readonly metrics: MetricsCollector | undefined;
  private readonly emf: EmfWriter | undefined;
  /** Proxy mode: the scorer and its health. */
  private readonly proxy: ProxyUpstream | undefined;
  private nginx: ChildProcess | undefined;
  private stopping = false;
  /** Proxy mode: the ready line waits for both the workers and the scorer. */
  private readonly readiness = { workers: false, scorer: false, logged: false };

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly nginxBinary: string,
    private readonly nginxConf: string,
  ) {
    this.metrics = config.metrics || config.emf ? new MetricsCollector(config.runDir) : undefined;
    if (config.emf && this.metrics) {
      const collector = this.metrics;
      this.emf = new EmfWriter(config.emf, () => this.supervisor.refreshMetrics().then(() => {
        collector.drain();
        return collector.inFlight();
      }));
      collector.alsoTo(this.emf);
    }
    this.supervisor = new Supervisor(config, logger, {
      ready: (models) => this.logReady(models),
      fatal: (error) => this.fatal(error),
      control: (slot, message) => void this.table.handle(message.request).then((reply) => this.supervisor.reply(slot, { type: 'control-reply', id: message.id, reply })),
    }, this.metrics);
    this.metrics?.watch(() => this.supervisor.pids());
    this.table = new ModelTable(config, logger, this.supervisor, this.metrics);
    if (config.upstream) {
      this.proxy = new ProxyUpstream(config, logger, {
        health: (problem) => this.supervisor.upstreamHealth(problem),
        ready: () => this.proxyReady('scorer'),
        fatal: (error) => this.fatal(error),
      });
      this.supervisor.upstreamHealth({ code: 'UPSTREAM_UNHEALTHY', message: 'the scorer has not been asked yet' });
    }
  }

  /** Serves `model` on every worker, or (multi-model) starts with none. */
  run(model: ModelSpec | undefined): void {
    process.on('SIGTERM', () => this.shutdown(0, 'SIGTERM'));
    process.on('SIGINT', () => this.shutdown(0, 'SIGINT'));
    if (model) this.supervisor.holdEverywhere(model);
    // The scorer first: it usually takes longest to start.
    this.proxy?.start();
    this.supervisor.start();
    this.emf?.start();
    if (this.metrics && this.config.metrics) {
      const collector = this.metrics;
      serveMetrics(runPaths(this.config.runDir).metricsSocket, collector, () => this.supervisor.refreshMetrics(), this.logger).catch((err: Error) =>
        this.fatal({ code: 'INTERNAL_ERROR', message: `the metrics endpoint could not listen on ${runPaths(this.config.runDir).metricsSocket}: ${err.message}` }),
      );
    }
    this.startNginx();
  }

  // nginx starts at once, so the port answers from the first moment: /ping is 503 (no worker socket yet)
  // until every worker holds its models and listens.
  private startNginx(): void {
    if (this.nginx || this.stopping) return;
    const nginx = startNginx(this.nginxBinary, this.config, this.nginxConf, this.logger);
    this.nginx = nginx;
    nginx.on('error', (err) => this.fatal({ code: 'NGINX_FAILED', message: `nginx could not be started: ${err.message}` }));
    nginx.on('exit', (code, signal) => {
      // Its worker processes must not outlive the master.
      this.signalNginx('SIGKILL');
      if (!this.stopping) this.fatal({ code: 'NGINX_FAILED', message: `nginx exited unexpectedly (${signal ?? `code ${code}`}); stopping the server so the platform restarts it` });
    });
  }

  private signalNginx(signal: NodeJS.Signals): void {
    if (!this.nginx?.pid) return;
    try {
      process.kill(-this.nginx.pid, signal);
    } catch {
      // already gone
    }
  }

  private proxyReady(part: 'workers' | 'scorer'): void {
    this.readiness[part] = true;
    const { config } = this;
    if (!this.readiness.workers || !this.readiness.scorer || this.readiness.logged || this.stopping) return;
    this.readiness.logged = true;
    const { address, invocationsPath, healthPath } = config.upstream!;
    this.logger.info(
      { ...this.proxy!.describe(), workers: config.workers, port: config.port, readyMs: Math.round(performance.now() - this.started) },
      `ready: proxying POST /invocations on port ${config.port} to ${upstreamUrl(address, invocationsPath)} (health: GET ${healthPath} answered 2xx) with ${config.workers} worker(s) for /ping`,
    );
  }

  private logReady(models: ModelDescription[]): void {
    const { config } = this;
    if (this.proxy) return this.proxyReady('workers');
    const m = models[0];
    if (!m) {
      const serverMemoryMb = Math.round(this.table.measureServer() / 2 ** 20);
      const facts = { multiModel: true, workers: config.workers, threadsPerModel: config.threads, modelCopies: config.modelCopies, memoryLimitMb: Math.round(config.memoryLimitBytes / 2 ** 20), serverMemoryMb, port: config.port, readyMs: Math.round(performance.now() - this.started) };
      this.logger.info(facts, `ready: multi-model endpoint on port ${config.port} with ${config.workers} worker(s), no model loaded (POST /models loads one)`);
      return;
    }
    this.logger.info(
      {
        model: m.file,
        kind: m.kind,
        inputs: m.inputs,
        outputs: m.outputs,
        features: m.featureNames ?? m.features,
        ...(m.columnTypes ? { columnTypes: m.columnTypes } : {}),
        ...(m.rowsRefused ? { rowsRefused: m.rowsRefused } : {}),
        warmed: m.warmed,
        ...(m.warmupError ? { warmupError: m.warmupError } : {}),
        ...(m.labelsFromProbabilities ? { labelsFromProbabilities: true } : {}),
        ...(m.tree ? { tree: m.tree } : {}),
        ...(m.outputStyle === 'xgboost' ? { outputStyle: 'xgboost' } : {}),
        workers: config.workers,
        threadsPerWorker: config.threads,
        port: config.port,
        readyMs: Math.round(performance.now() - this.started),
      },
      `ready: serving ${m.kind} ${m.file} on port ${config.port} with ${config.workers} worker(s) x ${config.threads} thread(s)`,
    );
  }

  private fatal(error: WireError): void {
    if (this.stopping) return;
    this.logger.fatal({ code: error.code }, error.message);
    this.shutdown(1, error.code);
  }

  /**
   * nginx first (it stops accepting and lets in-flight requests complete), then the workers and, in proxy
   * mode, the scorer: SIGTERM once nginx is done (or SCORER_STOP_MS before the grace period ends, so it
   * has time to exit cleanly), SIGKILL SCORER_KILL_MS before it ends.
   */
  private shutdown(code: number, reason: string): void {
    if (this.stopping) return;
    this.stopping = true;
    this.logger.info({ reason }, 'shutting down: draining in-flight requests');
    this.supervisor.drain();
    const graceMs = this.config.graceSeconds * 1000;
    const deadline = Date.now() + graceMs;
    const force = setTimeout(() => {
      this.logger.error({ graceSeconds: this.config.graceSeconds }, 'grace period over (MODEL_SERVER_GRACE_PERIOD): killing what is left');
      this.signalNginx('SIGKILL');
      this.supervisor.killAll();
      this.proxy?.kill();
      process.exit(code === 0 ? 1 : code);
    }, graceMs);
    force.unref();
    const finish = () => {
      clearTimeout(force);
      // The last, partial interval of CloudWatch lines (nothing is in flight any more).
      this.metrics?.drain();
      this.emf?.writeInterval(Date.now(), new Map());
      // Everything has stopped: a clean stop leaves no nginx.conf, socket or temp file behind.
      if (code === 0) cleanRunDir(this.config.runDir);
      this.logger.info({ code }, 'stopped');
      process.exit(code);
    };
    const stopScorer = () => this.proxy?.stop(deadline - Math.min(SCORER_KILL_MS, graceMs / 4)) ?? Promise.resolve();
    if (this.proxy) setTimeout(() => void stopScorer(), graceMs - Math.min(SCORER_STOP_MS, graceMs / 2)).unref();
    const stopWorkers = () => {
      let pending = 2;
      const done = () => {
        if (--pending === 0) finish();
      };
      this.supervisor.stopAll(done);
      void stopScorer().then(done);
    };
    const nginx = this.nginx;
    if (nginx && nginx.exitCode === null && nginx.signalCode === null) {
      nginx.once('exit', stopWorkers);
      this.signalNginx('SIGQUIT');
    } else {
      stopWorkers();
    }
  }
}

export function runPrimary(config: Config, logger: Logger): void {
  const failed = (err: unknown): never => {
    const error = withMessage(err);
    logger.fatal({ code: error.code }, error.message);
    process.exit(1);
  };
  let binary: string;
  let model: ModelSpec | undefined;
  try {
    binary = findNginx(config.nginxBinary, config.searchPath);
    // Proxy mode serves no ONNX model: the scorer answers.
    model = config.multiModel || config.upstream ? undefined : singleModel(config);
    prepareRunDir(config);
    const socket = config.upstream?.address.kind === 'unix' ? config.upstream.address.path : undefined;
    if (socket) checkRunDirReachable(socket, 'MODEL_SERVER_UPSTREAM', `unix:${socket}`);
  } catch (err) {
    failed(err);
  }
  // The scorer's port is decided (and checked free) before nginx.conf names it and before anything starts.
  resolveUpstream(config).then(({ config: resolved, warning }) => {
    if (warning) logger.warn(warning);
    const conf = writeNginxConf(resolved);
    testNginxConf(binary, resolved, conf);
    new Primary(resolved, logger, binary, conf).run(model);
  }, failed).catch(failed);
}
