// Proxy mode: the scorer as serve's supervised child (MODEL_SERVER_UPSTREAM_COMMAND, run by /bin/sh -c in
// its own process group), with its temporary directory under MODEL_SERVER_RUN_DIR, its output in the log
// as JSON lines, and a stop that leaves no process of its group behind.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { createInterface } from 'node:readline';
import type { UpstreamConfig } from '../config/proxy';
import type { Logger } from '../logger';
import { describeExit, signalGroup, stopGroup } from '../processes';

export interface ScorerEvents {
  /** The command ended (or could not be run) while serve was not stopping it. */
  exited(description: string): void;
}

export class ScorerProcess {
  private child: ChildProcess | undefined;
  private stopping: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(
    private readonly upstream: UpstreamConfig,
    private readonly pidFile: string,
    logger: Logger,
    private readonly events: ScorerEvents,
  ) {
    this.log = logger.child({ source: 'upstream' });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts the command with a fresh temporary directory, its port in $MODEL_SERVER_UPSTREAM_PORT. */
  start(): void {
    const { upstream } = this;
    fs.rmSync(upstream.tmpDir, { recursive: true, force: true });
    // Sticky and world-writable like /tmp, in case the scorer drops to another user.
    fs.mkdirSync(upstream.tmpDir, { recursive: true });
    fs.chmodSync(upstream.tmpDir, 0o1777);
    const env: Record<string, string> = { ...upstream.commandEnv };
    if (upstream.address.kind === 'tcp') env.MODEL_SERVER_UPSTREAM_PORT = String(upstream.address.port);
    // Its own process group (detached): signals for serve do not reach it until serve decides, and the
    // whole group, the scorer's own children included, can be stopped at once.
    const child = spawn('/bin/sh', ['-c', upstream.command!], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child = child;
    child.on('error', (err) => this.events.exited(`could not be started: ${err.message}`));
    child.on('exit', (code, signal) => {
      fs.rmSync(this.pidFile, { force: true });
      if (!this.stopping) this.events.exited(describeExit(code, signal));
    });
    if (child.pid) fs.writeFileSync(this.pidFile, String(child.pid));
    for (const [name, stream] of [['stdout', child.stdout!], ['stderr', child.stderr!]] as const) {
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => this.log.info({ stream: name }, line));
    }
    this.log.info({ scorerPid: child.pid, command: upstream.command, tmpDir: upstream.tmpDir, ...(env.MODEL_SERVER_UPSTREAM_PORT ? { port: Number(env.MODEL_SERVER_UPSTREAM_PORT) } : {}) }, 'started the scorer (MODEL_SERVER_UPSTREAM_COMMAND)');
  }

  /** SIGTERM to its group, SIGKILL at `deadline` (epoch ms); resolves once no process of it is left. */
  stop(deadline: number): Promise<void> {
    if (!this.stopping) {
      const pid = this.child?.pid;
      this.stopping = pid === undefined ? Promise.resolve() : stopGroup(pid, deadline, this.log).then(() => {
        this.log.info('the scorer has stopped');
      });
    }
    return this.stopping;
  }

  /** SIGKILL to its whole group, now (the grace period is over). */
  kill(): void {
    if (this.child?.pid) signalGroup(this.child.pid, 'SIGKILL');
  }
}
