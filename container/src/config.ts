// The one reader of the environment: parses, validates, defaults and freezes every setting.
// A bad value stops start-up with a CONFIG_INVALID error naming the variable; nothing else reads process.env.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ServerError } from './errors';
import { INFERENCE_OUTPUT_KEYS, type InferenceOutputKey } from './vocabulary';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  /** SAGEMAKER_BASE_DIR: root of every SageMaker path (model/, input/, output/). */
  readonly baseDir: string;
  /** SAGEMAKER_BIND_TO_PORT: the public port nginx listens on. */
  readonly port: number;
  /** MODEL_SERVER_WORKERS (alias SAGEMAKER_MODEL_SERVER_WORKERS): worker processes behind nginx. */
  readonly workers: number;
  /** MODEL_SERVER_THREADS: inference threads (each with its own onnxruntime session) per worker process. */
  readonly threads: number;
  /** MODEL_SERVER_INTRA_OP_THREADS: onnxruntime intra-op threads per session. */
  readonly intraOpThreads: number;
  /** MODEL_SERVER_TIMEOUT (alias SAGEMAKER_MODEL_SERVER_TIMEOUT): seconds one invocation may take end to end. */
  readonly timeoutSeconds: number;
  /** SAGEMAKER_MAX_PAYLOAD_IN_MB: largest request body in MiB; 0 means no limit. */
  readonly maxPayloadMb: number;
  /** SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT: response type when Accept is missing or a wildcard; undefined mirrors the request. */
  readonly defaultAccept: string | undefined;
  /** SAGEMAKER_INFERENCE_OUTPUT: classifier keys in the response, in order. */
  readonly inferenceOutput: readonly InferenceOutputKey[];
  /** SAGEMAKER_BATCH: set by SageMaker in batch transform. */
  readonly batch: boolean;
  /** SAGEMAKER_BATCH_STRATEGY: the job's strategy when it set one (reported by /execution-parameters). */
  readonly batchStrategy: 'MULTI_RECORD' | 'SINGLE_RECORD' | undefined;
  /** SAGEMAKER_MAX_CONCURRENT_TRANSFORMS: the job's concurrency when it set one (reported by /execution-parameters). */
  readonly maxConcurrentTransforms: number | undefined;
  /** LOG_LEVEL: pino level. */
  readonly logLevel: LogLevel;
  /** MODEL_SERVER_RUN_DIR: the one writable directory for nginx.conf, sockets, pid and temp files. */
  readonly runDir: string;
  /** MODEL_SERVER_MAX_QUEUE: invocations that may wait for a thread, per worker, before 503 OVERLOADED. */
  readonly maxQueue: number;
  /** MODEL_SERVER_MAX_BATCH: queued invocations a free thread runs as one ONNX call; 1 turns batching off. */
  readonly maxBatch: number;
  /** SAGEMAKER_MULTI_MODEL: multi-model endpoint mode (the /models API; no model at start). */
  readonly multiModel: boolean;
  /** MODEL_SERVER_MODEL_COPIES: in multi-model mode, how many workers hold each loaded model (at most the workers). */
  readonly modelCopies: number;
  /** MODEL_SERVER_MEMORY_LIMIT_MB: memory this server may use, in bytes (default: the cgroup limit, else the machine's memory). */
  readonly memoryLimitBytes: number;
  /** SAGEMAKER_PROGRAM: the file in the model's code/ folder that holds its inference code (default inference.mjs, .js or .cjs). */
  readonly program?: string;
  /** SAGEMAKER_SUBMIT_DIRECTORY when it is a local folder: where the single model's code lives instead of <model>/code. */
  readonly submitDirectory?: string;
  /** MODEL_SERVER_GRACE_PERIOD: seconds SIGTERM waits for in-flight requests before forcing exit. */
  readonly graceSeconds: number;
  /** MODEL_SERVER_NGINX: the nginx executable (a name on PATH or a path). */
  readonly nginxBinary: string;
  /** PATH, where a bare MODEL_SERVER_NGINX name is looked up (besides /usr/sbin, where Debian puts nginx). */
  readonly searchPath: readonly string[];
  /** MODEL_SERVER_UPSTREAM and its companions: proxy mode (another scoring server behind nginx), else undefined. */
  readonly upstream: UpstreamConfig | undefined;
}

type Env = Readonly<Record<string, string | undefined>>;

function fail(variable: string, value: string, expected: string): never {
  throw new ServerError('CONFIG_INVALID', `${variable}=${JSON.stringify(value)} is invalid: expected ${expected}`);
}

/** First variable of `names` that is set and non-empty, with its name (aliases share one setting). */
function pick(env: Env, ...names: string[]): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value.trim() !== '') return { name, value: value.trim() };
  }
  return undefined;
}

function integer(env: Env, names: string[], fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const found = pick(env, ...names);
  if (!found) return fallback;
  if (!/^\d+$/.test(found.value)) fail(found.name, found.value, `a whole number from ${min} to ${max}`);
  const n = Number(found.value);
  if (n < min || n > max) fail(found.name, found.value, `a whole number from ${min} to ${max}`);
  return n;
}

function decimal(env: Env, names: string[], fallback: number, min: number, max: number): number {
  const found = pick(env, ...names);
  if (!found) return fallback;
  if (!/^\d+(\.\d+)?$/.test(found.value)) fail(found.name, found.value, `a number from ${min} to ${max}`);
  const n = Number(found.value);
  if (n < min || n > max) fail(found.name, found.value, `a number from ${min} to ${max}`);
  return n;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const found = pick(env, name);
  if (!found) return fallback;
  const v = found.value.toLowerCase();
  if (['true', '1', 'yes'].includes(v)) return true;
  if (['false', '0', 'no'].includes(v)) return false;
  return fail(found.name, found.value, 'true or false');
}

/**
 * CPUs this process may use: the scheduler's view, capped by a cgroup v2/v1 CPU quota, because inside a
 * container os.cpus() reports the host's cores (a default that AWS's own containers got wrong).
 */
export function usableCpus(): number {
  let cpus = os.availableParallelism();
  const quota = readCgroupQuota();
  if (quota !== undefined) cpus = Math.min(cpus, Math.max(1, Math.ceil(quota)));
  return cpus;
}

function readCgroupQuota(): number | undefined {
  try {
    const [max, period] = fs.readFileSync('/sys/fs/cgroup/cpu.max', 'utf8').trim().split(/\s+/);
    if (max !== 'max' && Number(period) > 0) return Number(max) / Number(period);
    return undefined;
  } catch {
    // cgroup v1 layout, or not Linux
  }
  try {
    const quota = Number(fs.readFileSync('/sys/fs/cgroup/cpu/cpu.cfs_quota_us', 'utf8'));
    const period = Number(fs.readFileSync('/sys/fs/cgroup/cpu/cpu.cfs_period_us', 'utf8'));
    if (quota > 0 && period > 0) return quota / period;
  } catch {
    // no cgroup CPU limit visible
  }
  return undefined;
}

const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/;

export function loadConfig(env: Env = process.env): Config {
  const batch = boolean(env, 'SAGEMAKER_BATCH', false);

  const port = integer(env, ['SAGEMAKER_BIND_TO_PORT'], 8080, 1, 65535);

  let defaultAccept: string | undefined;
  const accept = pick(env, 'SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT');
  if (accept) {
    defaultAccept = accept.value.split(';')[0].trim().toLowerCase();
    if (!MEDIA_TYPE.test(defaultAccept)) fail(accept.name, accept.value, 'a media type such as text/csv');
  }

  const output = pick(env, 'SAGEMAKER_INFERENCE_OUTPUT');
  let inferenceOutput: InferenceOutputKey[] = ['predicted_label'];
  if (output) {
    const keys = output.value.split(',').map((k) => k.trim().toLowerCase());
    for (const key of keys) {
      if (!(INFERENCE_OUTPUT_KEYS as readonly string[]).includes(key)) {
        fail(output.name, output.value, `a comma-separated list of ${INFERENCE_OUTPUT_KEYS.join(', ')} (unknown key "${key}")`);
      }
    }
    if (new Set(keys).size !== keys.length) fail(output.name, output.value, 'each key at most once');
    inferenceOutput = keys as InferenceOutputKey[];
  }

  const level = pick(env, 'LOG_LEVEL');
  const logLevel = (level?.value.toLowerCase() ?? 'info') as LogLevel;
  if (level && !LOG_LEVELS.includes(logLevel)) fail(level.name, level.value, `one of ${LOG_LEVELS.join(', ')}`);

  const run = pick(env, 'MODEL_SERVER_RUN_DIR');
  // The default names the port, so two servers on one machine need no setting to keep apart.
  const runDir = path.resolve(run?.value ?? path.join(os.tmpdir(), `model-server-${port}`));
  // Unix socket paths are limited to 107 bytes; the longest one the server creates is worker-NNN.sock.
  if (Buffer.byteLength(path.join(runDir, 'worker-999.sock')) > 107) {
    fail('MODEL_SERVER_RUN_DIR', runDir, 'a path of at most 90 bytes (it holds unix sockets)');
  }

  const base = pick(env, 'SAGEMAKER_BASE_DIR');

  const strategy = pick(env, 'SAGEMAKER_BATCH_STRATEGY');
  let batchStrategy: Config['batchStrategy'];
  if (strategy) {
    const v = strategy.value.toUpperCase().replace(/[^A-Z]/g, '');
    if (v === 'MULTIRECORD') batchStrategy = 'MULTI_RECORD';
    else if (v === 'SINGLERECORD') batchStrategy = 'SINGLE_RECORD';
    else fail(strategy.name, strategy.value, 'MULTI_RECORD or SINGLE_RECORD');
  }
  const concurrent = pick(env, 'SAGEMAKER_MAX_CONCURRENT_TRANSFORMS');

  const multiModel = boolean(env, 'SAGEMAKER_MULTI_MODEL', false);
  const upstream = upstreamSettings(env, runDir, multiModel);
  // In proxy mode the workers answer /ping and /execution-parameters only: two are enough to survive one restarting.
  const workers = integer(env, ['MODEL_SERVER_WORKERS', 'SAGEMAKER_MODEL_SERVER_WORKERS'], upstream ? Math.min(2, usableCpus()) : usableCpus(), 1, 512);
  const config: Config = {
    baseDir: path.resolve(base?.value ?? '/opt/ml'),
    port,
    workers,
    threads: integer(env, ['MODEL_SERVER_THREADS'], 1, 1, 256),
    intraOpThreads: integer(env, ['MODEL_SERVER_INTRA_OP_THREADS'], 1, 1, 256),
    // Batch transform allows up to 3600 s per request (the job's InvocationsTimeoutInSeconds, which the
    // container cannot see): default to that, so the container never cuts short what SageMaker allows.
    timeoutSeconds: decimal(env, ['MODEL_SERVER_TIMEOUT', 'SAGEMAKER_MODEL_SERVER_TIMEOUT'], batch ? 3600 : 60, 0.1, 3600),
    maxPayloadMb: decimal(env, ['SAGEMAKER_MAX_PAYLOAD_IN_MB'], batch ? 100 : 6, 0, 100000),
    defaultAccept,
    inferenceOutput,
    batch,
    batchStrategy,
    maxConcurrentTransforms: concurrent ? integer(env, ['SAGEMAKER_MAX_CONCURRENT_TRANSFORMS'], 1, 1, 10000) : undefined,
    logLevel,
    runDir,
    maxQueue: integer(env, ['MODEL_SERVER_MAX_QUEUE'], 1024, 0, 1_000_000),
    maxBatch: integer(env, ['MODEL_SERVER_MAX_BATCH'], 32, 1, 1024),
    multiModel,
    // Copies cannot exceed the workers that could hold them.
    modelCopies: integer(env, ['MODEL_SERVER_MODEL_COPIES'], 1, 1, workers),
    memoryLimitBytes: memoryLimit(env),
    ...inferenceCode(env),
    graceSeconds: decimal(env, ['MODEL_SERVER_GRACE_PERIOD'], 25, 0, 3600),
    nginxBinary: pick(env, 'MODEL_SERVER_NGINX')?.value ?? 'nginx',
    searchPath: Object.freeze((env.PATH ?? '').split(path.delimiter).filter(Boolean)),
    upstream,
  };
  return Object.freeze(config);
}

/**
 * SAGEMAKER_PROGRAM and SAGEMAKER_SUBMIT_DIRECTORY, as the SageMaker Python SDK sets them. The program is a
 * JavaScript module inside the code folder; a submit directory that is not a local folder (the SDK's s3://
 * form) is left alone: nothing is downloaded at start, the code is read from <model>/code.
 */
function inferenceCode(env: Env): { program?: string; submitDirectory?: string } {
  const out: { program?: string; submitDirectory?: string } = {};
  const program = pick(env, 'SAGEMAKER_PROGRAM');
  if (program) {
    const value = program.value;
    if (/\.py$/i.test(value)) fail(program.name, value, 'a JavaScript module (.mjs, .js or .cjs): this server runs hooks written in JavaScript, not Python');
    if (!/\.(mjs|cjs|js)$/i.test(value) || path.isAbsolute(value) || value.split(/[\\/]/).includes('..')) {
      fail(program.name, value, 'a .mjs, .js or .cjs file name inside the code folder, such as inference.mjs');
    }
    out.program = value;
  }
  const submit = pick(env, 'SAGEMAKER_SUBMIT_DIRECTORY');
  if (submit && !/^[a-z][a-z0-9+.-]*:\/\//i.test(submit.value)) {
    if (!path.isAbsolute(submit.value)) fail(submit.name, submit.value, 'an absolute folder path (such as /opt/ml/model/code) or an s3:// URI');
    if (!fs.existsSync(submit.value) || !fs.statSync(submit.value).isDirectory()) fail(submit.name, submit.value, 'an existing folder holding the inference code');
    out.submitDirectory = submit.value;
  }
  return out;
}

/** MODEL_SERVER_MEMORY_LIMIT_MB, else the cgroup's memory limit, else the machine's memory. */
function memoryLimit(env: Env): number {
  const set = pick(env, 'MODEL_SERVER_MEMORY_LIMIT_MB');
  if (set) return integer(env, ['MODEL_SERVER_MEMORY_LIMIT_MB'], 0, 64, 16 * 1024 * 1024) * 1024 * 1024;
  for (const file of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    try {
      const value = Number(fs.readFileSync(file, 'utf8').trim());
      // cgroup v1 reports "no limit" as a huge number.
      if (Number.isFinite(value) && value > 0 && value < os.totalmem()) return value;
    } catch {
      // not this cgroup layout
    }
  }
  return os.totalmem();
}

/**
 * SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT must name a type the model writes: checked once the model has
 * said what it produces (config itself knows no codecs).
 */
export function checkDefaultAccept(config: Config, model: { produces: readonly string[]; aliases: Readonly<Record<string, string>> }): void {
  const wanted = config.defaultAccept;
  const type = model.aliases[wanted ?? ''] ?? wanted ?? '';
  const family = `${type.split('/')[0]}/*`;
  // A model whose own code writes any type ("*/*", or a family such as "image/*") takes any type it covers.
  if (wanted !== undefined && !model.produces.includes(type) && !model.produces.includes('*/*') && !model.produces.includes(family)) {
    fail('SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT', wanted, `one of ${model.produces.join(', ')}`);
  }
}

/** Limit in bytes, or undefined when SAGEMAKER_MAX_PAYLOAD_IN_MB=0 (no limit). */
export function payloadLimitBytes(config: Config): number | undefined {
  return config.maxPayloadMb === 0 ? undefined : Math.floor(config.maxPayloadMb * 1024 * 1024);
}

/** Set by the primary on each forked worker: which socket slot (0..workers-1) the worker owns. */
export function workerSlot(env: Env = process.env): number {
  const slot = Number(env.MODEL_SERVER_WORKER_SLOT);
  if (!Number.isInteger(slot) || slot < 0) {
    throw new ServerError('INTERNAL_ERROR', 'MODEL_SERVER_WORKER_SLOT is not set: workers are started by the primary only');
  }
  return slot;
}

/** The settings `train` uses. Training reads only these, so a serve-only variable never fails a training job. */
export interface TrainingConfig {
  /** SAGEMAKER_BASE_DIR: root of the training layout (input/, model/, output/). */
  readonly baseDir: string;
  /** LOG_LEVEL: pino level. */
  readonly logLevel: LogLevel;
}

/** SAGEMAKER_BASE_DIR alone: it cannot be invalid, so `train` knows where output/failure goes even when a setting is bad. */
export function trainingBaseDir(env: Env = process.env): string {
  return path.resolve(pick(env, 'SAGEMAKER_BASE_DIR')?.value ?? '/opt/ml');
}

/** `train`'s settings, checked by the same rules as serving's; a bad value is a TRAINING_CONFIG_INVALID naming the variable. */
export function loadTrainingConfig(env: Env = process.env): TrainingConfig {
  try {
    const level = pick(env, 'LOG_LEVEL');
    const logLevel = (level?.value.toLowerCase() ?? 'info') as LogLevel;
    if (level && !LOG_LEVELS.includes(logLevel)) fail(level.name, level.value, `one of ${LOG_LEVELS.join(', ')}`);
    return Object.freeze({ baseDir: trainingBaseDir(env), logLevel });
  } catch (err) {
    if (err instanceof ServerError && err.code === 'CONFIG_INVALID') throw new ServerError('TRAINING_CONFIG_INVALID', err.message);
    throw err;
  }
}

// Proxy mode: MODEL_SERVER_UPSTREAM and its companions.

/** Where the scorer listens: TCP on loopback (port 0: serve picks one when it starts the scorer), or a unix socket. */
export type UpstreamAddress = { readonly kind: 'tcp'; readonly host: string; readonly port: number } | { readonly kind: 'unix'; readonly path: string };

export interface UpstreamConfig {
  /** MODEL_SERVER_UPSTREAM: the scorer's address (its base path is folded into the two paths below). */
  readonly address: UpstreamAddress;
  /** MODEL_SERVER_UPSTREAM_INVOCATIONS_PATH under the base URL: where POST /invocations is forwarded. */
  readonly invocationsPath: string;
  /** MODEL_SERVER_UPSTREAM_HEALTH_PATH under the base URL: what GET /ping asks (2xx = healthy). */
  readonly healthPath: string;
  /** MODEL_SERVER_UPSTREAM_COMMAND: the scorer's start command (run with /bin/sh -c), when serve starts it. */
  readonly command: string | undefined;
  /** SAGEMAKER_SAFE_PORT_RANGE: the ports a port chosen by serve must come from. */
  readonly safePorts: { readonly from: number; readonly to: number } | undefined;
  /** The scorer's writable temporary directory: MODEL_SERVER_RUN_DIR/upstream-tmp. */
  readonly tmpDir: string;
  /** The command's environment: serve's own, with TMPDIR and the JVM's java.io.tmpdir pointing at tmpDir. */
  readonly commandEnv: Readonly<Record<string, string>>;
  /** What /execution-parameters reports as MaxConcurrentTransforms unless the job set it: the usable CPUs. */
  readonly concurrency: number;
}

const UPSTREAM_COMPANIONS = ['MODEL_SERVER_UPSTREAM_COMMAND', 'MODEL_SERVER_UPSTREAM_INVOCATIONS_PATH', 'MODEL_SERVER_UPSTREAM_HEALTH_PATH'];
const LOOPBACK = /^(127(?:\.\d{1,3}){3}|localhost|\[::1\])$/i;
/** Characters a path may hold: they are written into nginx.conf, so no quotes, spaces, braces, semicolons or `$`. */
const URL_PATH = /^\/[A-Za-z0-9\-._~%!&()*+,=:@/]*$/;
const HEALTH_PATH = /^\/[A-Za-z0-9\-._~%!&()*+,=:@/?]*$/;

function invalid(message: string): never {
  throw new ServerError('CONFIG_INVALID', message);
}

function upstreamAddress(value: string): { address: UpstreamAddress; basePath: string } {
  const name = 'MODEL_SERVER_UPSTREAM';
  const unix = /^unix:(.*)$/.exec(value);
  if (unix) {
    const socket = unix[1];
    if (!/^\/[A-Za-z0-9\-._/]+$/.test(socket)) fail(name, value, 'unix:/absolute/path/to.sock (letters, digits, - . _ / only)');
    if (Buffer.byteLength(socket) > 107) fail(name, value, 'a unix socket path of at most 107 bytes');
    return { address: { kind: 'unix', path: socket }, basePath: '' };
  }
  const url = /^([a-z]+):\/\/([^/:]+|\[[^\]]*\])(?::(\d*))?(\/.*)?$/i.exec(value);
  if (!url) fail(name, value, "the scorer's base URL, http://127.0.0.1:PORT[/base/path], or unix:/path/to.sock");
  const [, scheme, host, port, base = ''] = url;
  if (scheme.toLowerCase() !== 'http') fail(name, value, 'an http:// URL (the scorer runs in this container: TLS on loopback adds nothing), or unix:/path/to.sock');
  if (!LOOPBACK.test(host)) fail(name, value, 'a loopback address (127.0.0.1, localhost or [::1]) or unix:/path/to.sock: the scorer runs in this container');
  if (port === undefined || port === '') fail(name, value, `its port, such as http://${host}:9090 (or :0 to let serve choose one, with MODEL_SERVER_UPSTREAM_COMMAND)`);
  if (Number(port) > 65535) fail(name, value, 'a port from 0 to 65535');
  if (base !== '' && !URL_PATH.test(base)) fail(name, value, 'a base path of letters, digits and - . _ ~ % ! & ( ) * + , = : @ / only (no query string)');
  // nginx would resolve "localhost" to both 127.0.0.1 and ::1 and send half the requests where nothing listens.
  const address: UpstreamAddress = { kind: 'tcp', host: host.toLowerCase() === 'localhost' ? '127.0.0.1' : host, port: Number(port) };
  return { address, basePath: base.replace(/\/+$/, '') };
}

function upstreamPath(env: Env, name: string, fallback: string, pattern: RegExp, expected: string): string {
  const found = pick(env, name);
  if (!found) return fallback;
  if (!pattern.test(found.value)) fail(name, found.value, expected);
  return found.value;
}

/** SAGEMAKER_SAFE_PORT_RANGE, "XXXX-YYYY" inclusive (read in proxy mode only, where serve may pick a port). */
function safePortRange(env: Env): UpstreamConfig['safePorts'] {
  const found = pick(env, 'SAGEMAKER_SAFE_PORT_RANGE');
  if (!found) return undefined;
  const m = /^(\d{1,5})\s*-\s*(\d{1,5})$/.exec(found.value);
  const from = Number(m?.[1]);
  const to = Number(m?.[2]);
  if (!m || from < 1 || to > 65535 || from > to) fail(found.name, found.value, 'a port range "FROM-TO" with 1 <= FROM <= TO <= 65535');
  return { from, to };
}

function upstreamSettings(env: Env, runDir: string, multiModel: boolean): UpstreamConfig | undefined {
  const url = pick(env, 'MODEL_SERVER_UPSTREAM');
  if (!url) {
    const orphan = UPSTREAM_COMPANIONS.find((name) => pick(env, name));
    if (orphan) invalid(`${orphan} is set, but MODEL_SERVER_UPSTREAM is not: set MODEL_SERVER_UPSTREAM to the scorer's URL (http://127.0.0.1:PORT or unix:/path/to.sock) to turn on proxy mode`);
    return undefined;
  }
  if (multiModel) invalid('MODEL_SERVER_UPSTREAM (proxy mode) and SAGEMAKER_MULTI_MODEL=true cannot be combined: proxy mode fronts one scoring server at POST /invocations');
  const { address, basePath } = upstreamAddress(url.value);
  const pathRule = 'a path starting with / (letters, digits and - . _ ~ % ! & ( ) * + , = : @ / only)';
  const invocationsPath = basePath + upstreamPath(env, 'MODEL_SERVER_UPSTREAM_INVOCATIONS_PATH', '/invocations', URL_PATH, `${pathRule}, without a query string`);
  const healthPath = basePath + upstreamPath(env, 'MODEL_SERVER_UPSTREAM_HEALTH_PATH', '/ping', HEALTH_PATH, `${pathRule}, and ? for a query string`);
  const command = pick(env, 'MODEL_SERVER_UPSTREAM_COMMAND')?.value;
  if (address.kind === 'tcp' && address.port === 0 && command === undefined) {
    invalid(`MODEL_SERVER_UPSTREAM=${JSON.stringify(url.value)} has port 0 (serve chooses the port), which works only when serve starts the scorer: set MODEL_SERVER_UPSTREAM_COMMAND, which gets the port as $MODEL_SERVER_UPSTREAM_PORT`);
  }
  const tmpDir = path.join(runDir, 'upstream-tmp');
  // JAVA_TOOL_OPTIONS is split at white space.
  if (command !== undefined && /\s/.test(tmpDir)) fail('MODEL_SERVER_RUN_DIR', runDir, 'a path without white space in proxy mode (the scorer\'s temporary directory, inside it, goes into JAVA_TOOL_OPTIONS)');
  const inherited = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  const javaOptions = [inherited.JAVA_TOOL_OPTIONS?.trim(), `-Djava.io.tmpdir=${tmpDir}`].filter(Boolean).join(' ');
  return Object.freeze({
    address: Object.freeze(address),
    invocationsPath,
    healthPath,
    command,
    safePorts: safePortRange(env),
    tmpDir,
    commandEnv: Object.freeze({ ...inherited, TMPDIR: tmpDir, JAVA_TOOL_OPTIONS: javaOptions }),
    concurrency: usableCpus(),
  });
}
