// The one reader of the environment for `serve`: parses, validates, defaults and freezes every setting
// (proxy mode's come from proxy.ts, read from here). A bad value stops start-up with a CONFIG_INVALID error
// naming the variable; nothing else reads process.env. `train` reads its own few settings (training.ts).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ServerError } from '../errors';
import { modelDir } from '../paths';
import { INFERENCE_OUTPUT_KEYS, SERVER_OUTPUT_KEYS, type InferenceOutputKey } from '../vocabulary';
import { parseServeArguments } from './arguments';
import { boolean, decimal, fail, integer, logLevel, pick, type Env, type LogLevel } from './env';
import { hostMemoryBytes, usableCpus } from './host';
import { upstreamSettings, type UpstreamConfig } from './proxy';

export interface Config {
  /** SAGEMAKER_BASE_DIR: root of every SageMaker path (model/, input/, output/). */
  readonly baseDir: string;
  /** SAGEMAKER_BIND_TO_PORT (or serve --http_port): the public port nginx listens on. */
  readonly port: number;
  /** MODEL_SERVER_MODEL_DIR (or serve --model_dir): the single model's folder (default $SAGEMAKER_BASE_DIR/model; KServe's is /mnt/models). */
  readonly modelDir: string;
  /** MODEL_SERVER_MODEL_NAME (or serve --model_name): the single model's own name on the Open Inference Protocol's paths (it answers as "model" too). */
  readonly modelName: string;
  /** MODEL_SERVER_METRICS: Prometheus metrics at GET /metrics (the workers report each answered request to the primary). */
  readonly metrics: boolean;
  /** MODEL_SERVER_EMF and its companions: CloudWatch Embedded Metric Format lines in the log, per interval and model; undefined when off. */
  readonly emf: EmfConfig | undefined;
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
  /** Whether SAGEMAKER_INFERENCE_OUTPUT is set (SageMaker XGBoost's style answers its raw output when it is not). */
  readonly inferenceOutputSelected: boolean;
  /**
   * MODEL_SERVER_OUTPUT_STYLE: how answers are written. auto: SageMaker XGBoost's container's way for
   * XGBoost models, the server's own for the others; xgboost: the container's way for every tree model;
   * server: the server's own for every model.
   */
  readonly outputStyle: 'auto' | 'server' | 'xgboost';
  /** SAGEMAKER_INFERENCE_ENSEMBLE: several XGBoost files in the model folder are one model (k-fold); false serves the first. */
  readonly inferenceEnsemble: boolean;
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
  /** MODEL_SERVER_NGINX_WORKERS: nginx worker processes. */
  readonly nginxWorkers: number;
  /** MODEL_SERVER_INLINE: small batches of small tabular models without code run on the worker's own thread (single-model default). */
  readonly inline: boolean;
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

export interface EmfConfig {
  /** MODEL_SERVER_EMF_NAMESPACE: the CloudWatch namespace of the metrics. */
  readonly namespace: string;
  /** MODEL_SERVER_EMF_INTERVAL: seconds each line sums up (one line per model and interval). */
  readonly intervalSeconds: number;
}

/** A model name on a URL path and in a log line (SageMaker's own names are tokens like these). */
export const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,255}$/;

const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/;

/** The settings of `serve`, from the environment and its arguments (`argv`: --model_name=..., which win). */
/**
 * nginx's worker processes by default. Serving models: one per three CPUs, at least one. nginx spends
 * about half of what a Node worker does per request (22 against 40 µs), so about a third of the CPUs'
 * work under full load is nginx's; and on 2 cores one nginx worker against two cut the Node workers' CPU
 * per request by a fifth and nginx's by a third at 40 connections, with no scenario slower (npm run
 * bench; docs/performance.md). Proxy mode: every invocation crosses nginx twice (two
 * layers) and the scorer needs CPUs too; one nginx process per two CPUs used 15% less CPU per request
 * than one per CPU on 2 cores.
 */
function nginxWorkers(upstream: UpstreamConfig | undefined): number {
  return upstream ? Math.max(1, Math.floor(upstream.concurrency / 2)) : Math.max(1, Math.ceil(usableCpus() / 3));
}

export function loadConfig(environment: Env = process.env, argv: readonly string[] = []): Config {
  const env: Env = { ...environment, ...parseServeArguments(argv) };
  const batch = boolean(env, 'SAGEMAKER_BATCH', false);

  const port = integer(env, ['--http_port', 'SAGEMAKER_BIND_TO_PORT'], 8080, 1, 65535);

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
  const style = pick(env, 'MODEL_SERVER_OUTPUT_STYLE');
  const outputStyle = (style?.value.toLowerCase() ?? 'auto') as Config['outputStyle'];
  if (style && !['auto', 'server', 'xgboost'].includes(outputStyle)) fail(style.name, style.value, 'auto, server or xgboost');
  const xgboostOnly = inferenceOutput.filter((k) => !SERVER_OUTPUT_KEYS.includes(k));
  if (outputStyle === 'server' && xgboostOnly.length > 0) {
    fail(output!.name, output!.value, `the server's own keys (${SERVER_OUTPUT_KEYS.join(', ')}) with MODEL_SERVER_OUTPUT_STYLE=server; ${xgboostOnly.join(', ')} belong to SageMaker XGBoost's output style`);
  }

  const run = pick(env, 'MODEL_SERVER_RUN_DIR');
  // The default names the port, so two servers on one machine need no setting to keep apart.
  const runDir = path.resolve(run?.value ?? path.join(os.tmpdir(), `model-server-${port}`));
  // Unix socket paths are limited to 107 bytes; the longest one the server creates is worker-NNN.sock (17
  // bytes with its slash), so 90 bytes leave room.
  if (Buffer.byteLength(runDir) > 90) {
    fail('MODEL_SERVER_RUN_DIR', runDir, 'a path of at most 90 bytes (it holds unix sockets)');
  }

  const base = pick(env, 'SAGEMAKER_BASE_DIR');
  const baseDir = path.resolve(base?.value ?? '/opt/ml');
  const dir = pick(env, '--model_dir', 'MODEL_SERVER_MODEL_DIR');
  if (dir && !path.isAbsolute(dir.value)) fail(dir.name, dir.value, 'an absolute folder path, such as /mnt/models');
  const name = pick(env, '--model_name', 'MODEL_SERVER_MODEL_NAME');
  if (name && !MODEL_NAME.test(name.value)) fail(name.name, name.value, 'letters, digits, ".", "_" and "-", starting with a letter or digit, at most 256');

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
    baseDir,
    port,
    modelDir: dir ? path.resolve(dir.value) : modelDir(baseDir),
    modelName: name?.value ?? 'model',
    metrics: boolean(env, 'MODEL_SERVER_METRICS', true),
    emf: emfSettings(env),
    workers,
    threads: integer(env, ['MODEL_SERVER_THREADS'], 1, 1, 256),
    intraOpThreads: integer(env, ['MODEL_SERVER_INTRA_OP_THREADS'], 1, 1, 256),
    // Batch transform allows up to 3600 s per request (the job's InvocationsTimeoutInSeconds, which the
    // container cannot see): default to that, so the container never cuts short what SageMaker allows.
    timeoutSeconds: decimal(env, ['MODEL_SERVER_TIMEOUT', 'SAGEMAKER_MODEL_SERVER_TIMEOUT'], batch ? 3600 : 60, 0.1, 3600),
    maxPayloadMb: decimal(env, ['SAGEMAKER_MAX_PAYLOAD_IN_MB'], batch ? 100 : 6, 0, 100000),
    defaultAccept,
    inferenceOutput,
    inferenceOutputSelected: output !== undefined,
    outputStyle,
    inferenceEnsemble: boolean(env, 'SAGEMAKER_INFERENCE_ENSEMBLE', true),
    batch,
    batchStrategy,
    maxConcurrentTransforms: concurrent ? integer(env, ['SAGEMAKER_MAX_CONCURRENT_TRANSFORMS'], 1, 1, 10000) : undefined,
    logLevel: logLevel(env),
    runDir,
    maxQueue: integer(env, ['MODEL_SERVER_MAX_QUEUE'], 1024, 0, 1_000_000),
    maxBatch: integer(env, ['MODEL_SERVER_MAX_BATCH'], 32, 1, 1024),
    // Off by default on a multi-model endpoint, where every model would hold one more session per worker.
    inline: boolean(env, 'MODEL_SERVER_INLINE', !multiModel),
    multiModel,
    nginxWorkers: integer(env, ['MODEL_SERVER_NGINX_WORKERS'], nginxWorkers(upstream), 1, 512),
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

/** MODEL_SERVER_EMF=true turns the CloudWatch lines on; the interval and namespace are read only then. */
function emfSettings(env: Env): EmfConfig | undefined {
  if (!boolean(env, 'MODEL_SERVER_EMF', false)) return undefined;
  const namespace = pick(env, 'MODEL_SERVER_EMF_NAMESPACE')?.value ?? 'ModelServer';
  if (!/^[\x20-\x7e]{1,255}$/.test(namespace) || namespace.startsWith('AWS/')) fail('MODEL_SERVER_EMF_NAMESPACE', namespace, 'a CloudWatch namespace: 1 to 255 printable ASCII characters, not starting with AWS/');
  return Object.freeze({ namespace, intervalSeconds: integer(env, ['MODEL_SERVER_EMF_INTERVAL'], 60, 1, 3600) });
}

/** MODEL_SERVER_MEMORY_LIMIT_MB, else what the host allows (the cgroup's limit, else the machine's memory). */
function memoryLimit(env: Env): number {
  if (pick(env, 'MODEL_SERVER_MEMORY_LIMIT_MB')) return integer(env, ['MODEL_SERVER_MEMORY_LIMIT_MB'], 0, 64, 16 * 1024 * 1024) * 1024 * 1024;
  return hostMemoryBytes();
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
