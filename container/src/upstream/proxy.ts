// Proxy mode as the primary runs it: the scorer (started and supervised when MODEL_SERVER_UPSTREAM_COMMAND
// is set) and the health of its health path, which decides /ping. nginx carries the invocations itself.
import * as fs from 'node:fs';
import type { UpstreamConfig } from '../config/proxy';
import type { Config } from '../config/serving';
import type { WireError } from '../errors';
import type { Logger } from '../logger';
import { runPaths } from '../paths';
import { upstreamUrl } from './address';
import { HealthMonitor, type HealthResult } from './health';
import { ScorerProcess } from './scorer';

export interface ProxyEvents {
  /** What /ping should say: null while the scorer is healthy, else why not (sent on every change). */
  health(problem: WireError | null): void;
  /** The scorer's health path answered 2xx for the first time. */
  ready(): void;
  /** The scorer exited, or could not be started: serve must stop. */
  fatal(error: WireError): void;
}

/** While the scorer has never been healthy, say so this often. */
const WAITING_LOG_MS = 10_000;

export class ProxyUpstream {
  private readonly upstream: UpstreamConfig;
  private readonly scorer: ScorerProcess | undefined;
  private readonly monitor: HealthMonitor;
  private everHealthy = false;
  private lastProblem: string | undefined;
  private lastWaitingLog = performance.now();

  constructor(
    config: Config,
    private readonly logger: Logger,
    private readonly events: ProxyEvents,
  ) {
    this.upstream = config.upstream!;
    const { address, healthPath, command } = this.upstream;
    this.scorer = command === undefined ? undefined : new ScorerProcess(this.upstream, runPaths(config.runDir).upstreamPid, logger, {
      exited: (how) => events.fatal({ code: 'UPSTREAM_FAILED', message: `the scorer (MODEL_SERVER_UPSTREAM_COMMAND) ${how}; stopping the server so the platform replaces it` }),
    });
    this.monitor = new HealthMonitor(address, healthPath, (result, changed) => this.onHealth(result, changed));
  }

  /** Facts for the ready line. */
  describe(): Record<string, unknown> {
    const { address, invocationsPath, healthPath } = this.upstream;
    return { upstream: upstreamUrl(address), invocations: invocationsPath, health: healthPath, ...(this.scorer ? { scorerPid: this.scorer.pid } : {}) };
  }

  start(): void {
    this.scorer?.start();
    this.monitor.start();
  }

  /** Stops asking for health, then stops the scorer (SIGTERM, SIGKILL at `deadline`) if serve started it. */
  stop(deadline: number): Promise<void> {
    this.monitor.stop();
    return this.scorer ? this.scorer.stop(deadline) : Promise.resolve();
  }

  kill(): void {
    this.scorer?.kill();
  }

  private onHealth(result: HealthResult, changed: boolean): void {
    if (result.ok) this.openSocket();
    if (result.ok && changed) {
      if (!this.everHealthy) {
        this.everHealthy = true;
        this.events.ready();
      } else {
        this.logger.info({ upstream: upstreamUrl(this.upstream.address) }, `the scorer is healthy again: ${result.detail}; /ping answers 200`);
      }
    } else if (!result.ok && changed && this.everHealthy) {
      this.logger.warn({ upstream: upstreamUrl(this.upstream.address) }, `the scorer is not healthy: ${result.detail}; /ping answers 503`);
    } else if (!result.ok && !this.everHealthy && performance.now() - this.lastWaitingLog >= WAITING_LOG_MS) {
      this.lastWaitingLog = performance.now();
      this.logger.info(`waiting for the scorer: ${result.detail}`);
    }
    const problem = result.ok ? undefined : `the scorer is not healthy: ${result.detail}`;
    if (changed || problem !== this.lastProblem) this.events.health(problem === undefined ? null : { code: 'UPSTREAM_UNHEALTHY', message: problem });
    this.lastProblem = problem;
  }

  /**
   * nginx started as root serves from worker processes running as "nobody": a scorer's unix socket made
   * by root (mode 755 by default) would refuse them while the primary's health probe succeeds. Checked on
   * every healthy probe, since a scorer that restarts makes a new socket.
   */
  private openSocket(): void {
    const { address } = this.upstream;
    if (address.kind !== 'unix' || process.getuid?.() !== 0) return;
    try {
      if ((fs.statSync(address.path).mode & 0o666) !== 0o666) fs.chmodSync(address.path, 0o666);
    } catch (err) {
      this.logger.warn({ socket: address.path }, `could not open the scorer's socket to nginx's worker processes (chmod 666): ${(err as Error).message}`);
    }
  }
}
