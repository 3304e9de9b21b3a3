// Renders nginx.conf from the settings, checks it, and runs nginx as a child of the primary with its
// stderr turned into JSON log lines.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { payloadLimitBytes, type Config } from '../config/serving';
import { ServerError } from '../errors';
import { writeLogLines, type Logger } from '../logger';
import { runPaths } from '../paths';
import { upstreamUrl } from '../upstream/address';

/** The template ships at the top of the project (beside package.json), two levels above the compiled cluster/. */
export const TEMPLATE = path.resolve(__dirname, '../../../nginx.conf');

const INSTALL_HINT = 'install it: apt-get install -y nginx (Debian/Ubuntu), dnf install -y nginx (Amazon Linux/RHEL), brew install nginx (macOS); or set MODEL_SERVER_NGINX to its path';

/** Absolute path of the nginx executable, or NGINX_MISSING saying how to install it. */
export function findNginx(binary: string, searchPath: readonly string[]): string {
  const candidates = binary.includes('/') ? [binary] : [...searchPath, '/usr/sbin', '/usr/local/sbin', '/sbin'].map((dir) => path.join(dir, binary));
  for (const candidate of candidates) {
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  throw new ServerError('NGINX_MISSING', `nginx was not found (${binary.includes('/') ? binary : `"${binary}" on PATH or in /usr/sbin`}): ${INSTALL_HINT}`);
}

/** split_clients lines drawing one of `copies` copies per request, evenly (the last takes the rest). */
function copySplit(copies: number): string {
  const share = Math.floor(10000 / copies) / 100;
  return Array.from({ length: copies }, (_, copy) => `        ${copy === copies - 1 ? '*' : `${share}%`} ${copy};`).join('\n');
}

/** LOG_LEVEL as the levels whose request lines nginx writes (proxy mode's access log). */
const LOG_LEVELS_SHOWN: Record<Config['logLevel'], string[]> = {
  trace: ['debug', 'info', 'warn', 'error'],
  debug: ['debug', 'info', 'warn', 'error'],
  info: ['info', 'warn', 'error'],
  warn: ['warn', 'error'],
  error: ['error'],
  fatal: [],
  silent: [],
};

/** Proxy mode's placeholders: where the scorer is, and how nginx talks to it. */
function scorerValues(config: Config): Record<string, string> {
  const upstream = config.upstream!;
  const { address } = upstream;
  if (address.kind === 'tcp' && address.port === 0) throw new ServerError('INTERNAL_ERROR', "the scorer's port must be chosen before nginx.conf is rendered");
  const server = address.kind === 'unix' ? `unix:${address.path}` : `${address.host}:${address.port}`;
  return {
    SCORER_SERVER: server,
    SCORER_HOST: address.kind === 'unix' ? 'localhost' : server,
    SCORER_URL: upstreamUrl(address),
    SCORER_INVOCATIONS_PATH: upstream.invocationsPath,
    SCORER_TIMEOUT: `${Math.round(config.timeoutSeconds * 1000)}ms`,
    LOG_LEVELS_ON: LOG_LEVELS_SHOWN[config.logLevel].map((level) => `        ${level} 1;`).join('\n'),
  };
}

/** Keeps the lines between {{#NAME}} and {{/NAME}} when `flags[NAME]` is set, and drops them otherwise. */
function sections(template: string, flags: Record<string, boolean>): string {
  return template.replace(/^[ \t]*\{\{#([A-Z_]+)\}\}[ \t]*\n([\s\S]*?)^[ \t]*\{\{\/\1\}\}[ \t]*\n/gm, (_whole, name: string, body: string) => (flags[name] ? body : ''));
}

export function renderNginxConf(config: Config, template = fs.readFileSync(TEMPLATE, 'utf8')): string {
  const limit = payloadLimitBytes(config);
  const paths = runPaths(config.runDir);
  // max_fails=0: a refused connection is retried on another worker at once and leaves no memory behind,
  // so a worker is used again as soon as it (re)starts.
  const servers = Array.from({ length: config.workers }, (_, slot) => `        server unix:${paths.workerSocket(slot)} max_fails=0;`).join('\n');
  // Bodies stay in memory up to the limit; with no limit, up to 100 MiB before nginx uses temp files.
  const buffer = limit === undefined ? 100 * 1024 * 1024 : Math.max(limit, 16 * 1024);
  const values: Record<string, string> = {
    RUN_DIR: config.runDir,
    PORT: String(config.port),
    NGINX_WORKER_PROCESSES: String(config.nginxWorkers),
    GRACE_SECONDS: String(Math.max(1, Math.ceil(config.graceSeconds))),
    UPSTREAM_SERVERS: servers,
    // Idle upstream connections each nginx worker keeps. Fewer than its concurrent requests means a new
    // connection (and a close) for every request over the cache: at 40 concurrent clients a cache of 16
    // cost the ceiling server 22% of its throughput (npm run bench).
    UPSTREAM_KEEPALIVE: String(Math.max(128, config.workers * config.threads * 16)),
    CLIENT_MAX_BODY_SIZE: limit === undefined ? '0' : String(limit),
    CLIENT_BODY_BUFFER_SIZE: String(buffer),
    PROXY_TIMEOUT_SECONDS: String(Math.ceil(config.timeoutSeconds) + 5),
    MODELS_TIMEOUT_SECONDS: String(Math.max(Math.ceil(config.timeoutSeconds), 360) + 5),
    MODEL_COPY_SPLIT: copySplit(config.modelCopies),
    MODEL_INVOKE_UPSTREAM: config.modelCopies >= config.workers ? 'model_server' : 'model_holders',
    // The Open Inference Protocol's model paths: every worker holds the single model; in multi-model mode, as invoke.
    OIP_MODEL_UPSTREAM: config.multiModel && config.modelCopies < config.workers ? 'model_holders' : 'model_server',
    TIMEOUT_SECONDS: String(config.timeoutSeconds),
    PAYLOAD_LIMIT_TEXT: limit === undefined ? 'unlimited' : `${config.maxPayloadMb} MB (${limit} bytes)`,
    ...(config.upstream ? scorerValues(config) : {}),
  };
  return sections(template, { PROXY: config.upstream !== undefined, METRICS: config.metrics }).replace(/\{\{([A-Z_]+)\}\}/g, (whole, name: string) => {
    const value = values[name];
    if (value === undefined) throw new ServerError('NGINX_FAILED', `nginx.conf template has an unknown placeholder ${whole}`);
    return value;
  });
}

/** Writes the rendered config and nginx's temp folders into the run directory; returns the config path. */
export function writeNginxConf(config: Config): string {
  const paths = runPaths(config.runDir);
  for (const dir of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) fs.mkdirSync(path.join(paths.nginxTemp, dir), { recursive: true });
  fs.writeFileSync(paths.nginxConf, renderNginxConf(config));
  return paths.nginxConf;
}

function nginxArgs(config: Config, conf: string): string[] {
  // -e stderr: nginx otherwise opens its compiled-in error log path before reading the config, which
  // fails on a read-only filesystem.
  return ['-c', conf, '-p', `${config.runDir}/`, '-e', 'stderr'];
}

/** `nginx -t`: catches a bad rendered config (or a port nginx cannot use) before any worker starts. */
export function testNginxConf(binary: string, config: Config, conf: string): void {
  const result = spawnSync(binary, [...nginxArgs(config, conf), '-t', '-q'], { encoding: 'utf8' });
  if (result.status !== 0) {
    const output = `${result.stderr ?? ''}${result.stdout ?? ''}`.trim().replace(/\s+/g, ' ');
    throw new ServerError('NGINX_FAILED', `nginx rejected the configuration rendered at ${conf}: ${output || `exit code ${result.status}`}`);
  }
}

const LEVEL = /\[(emerg|alert|crit|error|warn|notice|info|debug)\]/;
/** A worker socket that does not exist yet: that worker is still loading its models (not a fault). */
const WORKER_NOT_LISTENING = /connect\(\) to unix:\S+worker-\d+\.sock failed \(2: No such file or directory\)/;

/**
 * nginx's output, line by line: its request lines (proxy mode's access log, already JSON in the log's
 * shape) are passed on as they are, in batches; its own messages become JSON lines at their level.
 */
function forwardOutput(stream: Readable, logger: Logger): void {
  const log = logger.child({ source: 'nginx' });
  const message = (line: string) => {
    const level = LEVEL.exec(line)?.[1];
    const msg = line.replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d /, '');
    if (WORKER_NOT_LISTENING.test(line)) log.debug(msg);
    else if (level === 'emerg' || level === 'alert' || level === 'crit' || level === 'error') log.error(msg);
    else if (level === 'warn') log.warn(msg);
    else if (line.trim() !== '') log.info(msg);
  };
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const text = rest + chunk;
    const end = text.lastIndexOf('\n') + 1;
    rest = text.slice(end);
    // Under load a chunk is a buffer of request lines and nothing else: pass it on whole.
    const complete = text.slice(0, end);
    if (!/(^|\n)[^{\n]/.test(complete)) {
      if (complete) writeLogLines(complete);
      return;
    }
    let json = '';
    for (let from = 0; from < end; ) {
      const nl = text.indexOf('\n', from) + 1;
      const line = text.slice(from, nl);
      from = nl;
      if (line.startsWith('{')) {
        json += line;
        continue;
      }
      if (json) writeLogLines(json);
      json = '';
      message(line.slice(0, -1));
    }
    if (json) writeLogLines(json);
  });
  stream.on('end', () => {
    if (rest) message(rest);
  });
}

export function startNginx(binary: string, config: Config, conf: string, logger: Logger): ChildProcess {
  // Own process group: a Ctrl-C in a terminal reaches the primary, which then stops nginx gracefully.
  const child = spawn(binary, nginxArgs(config, conf), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  forwardOutput(child.stdout!, logger);
  forwardOutput(child.stderr!, logger);
  return child;
}
