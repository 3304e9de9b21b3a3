// The cluster primary: checks the set-up, runs nginx, and has its Supervisor keep the workers and their
// models; on SIGTERM it drains and exits. It never loads a model itself.
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../config';
import { ServerError, type WireError } from '../errors';
import type { Logger } from '../logger';
import type { ModelSpec } from '../models/model';
import { codeDirOf, modelDir, modelFolder, runPaths } from '../paths';
import type { ModelDescription } from '../vocabulary';
import { ModelTable } from './model-table';
import { findNginx, startNginx, testNginxConf, writeNginxConf } from './nginx';
import { Supervisor } from './supervisor';

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

/** The single-model endpoint's one model: named "model", from $BASE/model. */
function singleModel(config: Config): ModelSpec {
  const dir = modelDir(config.baseDir);
  return { name: 'model', dir, ...modelFolder(dir, codeDirOf(dir, config.submitDirectory), config.program, true) };
}

export class Primary {
  private readonly started = performance.now();
  private readonly supervisor: Supervisor;
  private readonly table: ModelTable;
  private nginx: ChildProcess | undefined;
  private stopping = false;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly nginxBinary: string,
    private readonly nginxConf: string,
  ) {
    this.supervisor = new Supervisor(config, logger, {
      ready: (models) => this.logReady(models),
      fatal: (error) => this.fatal(error),
      control: (slot, message) => void this.table.handle(message.request).then((reply) => this.supervisor.reply(slot, { type: 'control-reply', id: message.id, reply })),
    });
    this.table = new ModelTable(config, logger, this.supervisor);
  }

  /** Serves `model` on every worker, or (multi-model) starts with none. */
  run(model: ModelSpec | undefined): void {
    process.on('SIGTERM', () => this.shutdown(0, 'SIGTERM'));
    process.on('SIGINT', () => this.shutdown(0, 'SIGINT'));
    if (model) this.supervisor.holdEverywhere(model);
    this.supervisor.start();
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

  private logReady(models: ModelDescription[]): void {
    const { config } = this;
    const m = models[0];
    if (!m) {
      const facts = { multiModel: true, workers: config.workers, threadsPerModel: config.threads, modelCopies: config.modelCopies, memoryLimitMb: Math.round(config.memoryLimitBytes / 2 ** 20), port: config.port, readyMs: Math.round(performance.now() - this.started) };
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

  /** nginx first (it stops accepting and lets in-flight requests complete), then the workers. */
  private shutdown(code: number, reason: string): void {
    if (this.stopping) return;
    this.stopping = true;
    this.logger.info({ reason }, 'shutting down: draining in-flight requests');
    this.supervisor.drain();
    const force = setTimeout(() => {
      this.logger.error({ graceSeconds: this.config.graceSeconds }, 'grace period over (MODEL_SERVER_GRACE_PERIOD): killing what is left');
      this.signalNginx('SIGKILL');
      this.supervisor.killAll();
      process.exit(code === 0 ? 1 : code);
    }, this.config.graceSeconds * 1000);
    force.unref();
    const finish = () => {
      clearTimeout(force);
      this.logger.info({ code }, 'stopped');
      process.exit(code);
    };
    const stopWorkers = () => this.supervisor.stopAll(finish);
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
  let binary: string;
  let conf: string;
  let model: ModelSpec | undefined;
  try {
    binary = findNginx(config.nginxBinary, config.searchPath);
    model = config.multiModel ? undefined : singleModel(config);
    prepareRunDir(config);
    conf = writeNginxConf(config);
    testNginxConf(binary, config, conf);
  } catch (err) {
    const error = err instanceof ServerError ? err.toWire() : { code: 'INTERNAL_ERROR' as const, message: String(err) };
    logger.fatal({ code: error.code }, error.message);
    process.exit(1);
  }
  new Primary(config, logger, binary, conf).run(model);
}
