// A model with its own inference code, inside an inference thread: each request goes through the
// module's hooks (transformFn, or inputFn -> predictFn -> outputFn), any hook left out doing what the
// server does without code. Hooks see plain values; what they throw becomes the status they asked for,
// or a 500 naming the hook, never a stack trace to the caller.
import * as ort from 'onnxruntime-node';
import { recordObject } from '../codecs/json';
import { RESPONSE_TYPES } from '../codecs/registry';
import { encodeValue } from '../codecs/values';
import { encodeV2 } from '../codecs/v2';
import { ServerError } from '../errors';
import type { Answer, Invocation } from '../models/model';
import { concatMatrices, INFERENCE_OUTPUT_KEYS, slicePredictions, type HookName, type Matrix, type Predictions, type TensorData } from '../vocabulary';
import { decodeInput, encodePredictions, failure, text } from './invoke';
import { native } from './native-guard';
import type { ThreadTask } from './protocol';
import { createSession, type OnnxSession } from './session';
import { codeName, type UserCode } from './user-code';

/** Headers users' code may not set: the server owns framing and identity. */
const RESERVED_HEADERS = new Set(['content-length', 'content-type', 'transfer-encoding', 'connection', 'keep-alive', 'x-request-id', 'date', 'server']);
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const QUIET = { logSeverityLevel: 4 } as const;

/** A session as users' code gets it: onnxruntime's, with runs counted as native work (see native-guard.ts). */
export class GuardedSession {
  constructor(readonly session: ort.InferenceSession) {}

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  get inputMetadata(): readonly ort.InferenceSession.ValueMetadata[] {
    return this.session.inputMetadata;
  }

  get outputMetadata(): readonly ort.InferenceSession.ValueMetadata[] {
    return this.session.outputMetadata;
  }

  /** session.run, taking ort.Tensor values or plain {type, dims, data} objects. */
  run(feeds: Record<string, unknown>, fetches?: readonly string[]): Promise<ort.InferenceSession.ReturnType> {
    const tensors: Record<string, ort.Tensor> = {};
    for (const [name, value] of Object.entries(feeds)) tensors[name] = toOrtTensor(name, value);
    return native(() => (fetches ? this.session.run(tensors, [...fetches], QUIET) : this.session.run(tensors, QUIET)));
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

function isTensorLike(value: unknown): value is { type: string; dims: readonly number[]; data: unknown } {
  return typeof value === 'object' && value !== null && 'dims' in value && 'data' in value && 'type' in value;
}

function toOrtTensor(name: string, value: unknown): ort.Tensor {
  if (value instanceof ort.Tensor) return value;
  if (!isTensorLike(value)) throw new ServerError('INVALID_TENSOR', `input "${name}" is not a tensor: give an ort.Tensor (context.ort.Tensor) or {type, dims, data}`);
  try {
    return new ort.Tensor(value.type as 'float32', value.data as Float32Array, value.dims);
  } catch (err) {
    throw new ServerError('INVALID_TENSOR', `input "${name}" is not a tensor onnxruntime takes: ${(err as Error).message}`);
  }
}

/** What every hook's context holds; hooks of a request also get the request's own (RequestContext). */
export class LoadContext {
  readonly ort = ort;
  constructor(
    readonly modelName: string,
    readonly modelDir: string,
    private readonly intraOpThreads: number,
  ) {}

  /** An onnxruntime session of another file, for modelFn: its runs count as native work like the model's own. */
  async loadSession(file: string, options: ort.InferenceSession.SessionOptions = {}): Promise<GuardedSession> {
    return new GuardedSession(await createSessionWith(file, this.intraOpThreads, options));
  }
}

async function createSessionWith(file: string, intraOpThreads: number, options: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
  if (Object.keys(options).length === 0) return createSession({ modelFile: file, intraOpThreads });
  return ort.InferenceSession.create(file, { intraOpNumThreads: intraOpThreads, interOpNumThreads: 1, ...QUIET, ...options });
}

export class RequestContext extends LoadContext {
  readonly requestId: string;
  /** X-Amzn-SageMaker-Custom-Attributes as the caller sent it. */
  readonly customAttributes: string | undefined;
  /** The response type the server negotiated from Accept (what outputFn's `accept` says too). */
  readonly accept: string;
  readonly headers: Record<string, string> = {};

  constructor(base: LoadContext, invocation: Invocation) {
    super(base.modelName, base.modelDir, 0);
    this.requestId = invocation.requestId;
    this.customAttributes = invocation.attributes;
    this.accept = invocation.output.mediaType;
  }

  override loadSession(): Promise<GuardedSession> {
    throw new Error('loadSession belongs in modelFn: load sessions once, not per request');
  }

  /** Sets a response header (X-Amzn-SageMaker-Custom-Attributes reaches the caller this way). */
  setHeader(name: string, value: string | number): void {
    const text = String(value);
    if (!TOKEN.test(name) || RESERVED_HEADERS.has(name.toLowerCase())) throw new Error(`setHeader: ${JSON.stringify(name)} is not a header the model's code may set`);
    if (/[\r\n\0]/.test(text) || text.length > 8192) throw new Error(`setHeader: the value of ${name} holds a line break or is over 8 KiB`);
    this.headers[name] = text;
  }
}

/** Built-in predictions the server wrote: the built-in outputFn encodes them exactly as without code. */
const builtinPredictions = new WeakSet<object>();
/** Tensors a built-in predictFn returned for KServe V2 requests (the request's id and outputs ride along). */
const tensorAnswers = new WeakMap<object, TensorData[]>();

/** A hook failed: its status when it gave one, else a 500 naming it; the stack goes to the log only. */
function hookFailure(err: unknown, hook: HookName, file: string): Answer {
  if (err instanceof ServerError) return failure(err);
  const e = err as { statusCode?: unknown; status?: unknown; message?: unknown; stack?: unknown; name?: unknown };
  const status = typeof e?.statusCode === 'number' ? e.statusCode : typeof e?.status === 'number' ? e.status : undefined;
  const reason = (typeof e?.message === 'string' ? e.message : String(err)).slice(0, 2000);
  const detail = `${hook} in ${file}: ${typeof e?.stack === 'string' ? e.stack : reason}`;
  if (status !== undefined && Number.isInteger(status) && status >= 400 && status <= 599) {
    // A status the code chose is an answer, not a fault: 4xx are logged as the request's warning only.
    return { ok: false, error: { code: 'INFERENCE_CODE_ERROR', message: reason, status }, ...(status >= 500 ? { detail } : {}) };
  }
  const kind = typeof e?.name === 'string' && e.name !== 'Error' ? `${e.name}: ` : '';
  return { ok: false, error: { code: 'INFERENCE_CODE_ERROR', message: `${hook} in ${codeName(file)} failed: ${kind}${reason}` }, detail };
}

class HookError {
  constructor(
    readonly hook: HookName,
    readonly cause: unknown,
  ) {}
}

/** Runs one hook; what it throws is tagged with its name. */
async function call<T>(hook: HookName, run: () => T | Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw new HookError(hook, err);
  }
}

const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;

/** A hook's answer as bytes: a string, bytes, {body, contentType}, or a value the server writes as the negotiated type. */
function toAnswer(value: unknown, accept: string, context: RequestContext, hook: HookName): Answer {
  let body: unknown = value;
  let contentType = accept;
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && 'body' in value && Object.keys(value).every((k) => k === 'body' || k === 'contentType')) {
    const v = value as { body: unknown; contentType?: unknown };
    body = v.body;
    if (v.contentType !== undefined) {
      if (typeof v.contentType !== 'string' || !/^[\x21-\x7e]+\/[\x20-\x7e]+$/.test(v.contentType)) throw new HookError(hook, new Error(`returned contentType ${JSON.stringify(v.contentType)}, which is not a media type`));
      contentType = v.contentType;
    }
  }
  const headers = Object.keys(context.headers).length > 0 ? { headers: context.headers } : {};
  if (typeof body === 'string') return { ok: true, body: new TextEncoder().encode(body), contentType, exactType: contentType !== accept, records: 1, ...headers };
  if (isBytes(body)) return { ok: true, body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength).slice(), contentType, exactType: true, records: 1, ...headers };
  if (body instanceof ArrayBuffer) return { ok: true, body: new Uint8Array(body.slice(0)), contentType, exactType: true, records: 1, ...headers };
  const encoded = encodeValue(body, contentType);
  if (encoded === undefined) {
    throw new ServerError('NOT_ACCEPTABLE', `${hook} returned a value (not a string or bytes), which the server writes as ${RESPONSE_TYPES.join(', ')}; the request asked for ${contentType}`);
  }
  return { ok: true, body: new TextEncoder().encode(encoded), contentType, records: Array.isArray(body) ? body.length : 1, ...headers };
}

/** Built-in predictions as users' outputFn sees them: one object per row (every key), or {score}. */
function predictionRecords(p: Predictions): Record<string, unknown>[] {
  const records = new Array(p.rows);
  for (let r = 0; r < p.rows; r++) records[r] = recordObject(p, { keys: INFERENCE_OUTPUT_KEYS }, r);
  return records;
}

function isMatrix(v: unknown): v is Matrix {
  return typeof v === 'object' && v !== null && 'rows' in v && 'width' in v && 'values' in v && (v.values instanceof Float32Array || v.values instanceof Float64Array);
}

/** Rows given as a list of number lists (or one number list: one row) as a Matrix. */
function rowsToMatrix(v: unknown[]): Matrix | undefined {
  const rows = v.every((x) => typeof x === 'number') ? [v as number[]] : v;
  if (rows.length === 0 || !rows.every((r) => Array.isArray(r) && r.every((x) => typeof x === 'number'))) return undefined;
  const width = (rows[0] as number[]).length;
  if (!rows.every((r) => (r as number[]).length === width)) throw new ServerError('WRONG_FEATURE_COUNT', `the rows inputFn returned have different lengths (the first has ${width})`);
  const values = new Float32Array(rows.length * width);
  rows.forEach((r, i) => values.set(r as number[], i * width));
  return { rows: rows.length, width, values };
}

/** A model with inference code, as one thread runs it. */
export class HookRunner {
  constructor(
    private readonly code: UserCode,
    /** The folder's model as the server loaded it; absent when modelFn loaded the model. */
    private readonly session: OnnxSession | undefined,
    /** What predictFn and transformFn get: modelFn's result, else the session (guarded). */
    private readonly model: unknown,
    private readonly base: LoadContext,
  ) {}

  private get file(): string {
    return this.code.description.file;
  }

  /** One invocation through the hooks. */
  async invoke(task: ThreadTask): Promise<Answer> {
    if (Date.now() > task.deadline) return { ok: false, error: { code: 'TIMEOUT', message: 'the deadline passed before a thread was free' } };
    const { invocation } = task;
    const context = new RequestContext(this.base, invocation);
    try {
      const { transformFn } = this.code.hooks;
      if (transformFn) {
        const { body, type } = this.rawBody(invocation);
        return toAnswer(await call('transformFn', () => transformFn(this.model, body, type, context.accept, context)), context.accept, context, 'transformFn');
      }
      const input = await this.input(invocation, context);
      const prediction = await this.predict(input, context);
      return await this.output(prediction, invocation, context);
    } catch (err) {
      const answer = err instanceof HookError ? hookFailure(err.cause, err.hook, this.file) : failure(err);
      if (!answer.ok && Object.keys(context.headers).length > 0) answer.headers = context.headers;
      return answer;
    }
  }

  /**
   * Queued invocations of a batch-safe module: each through its own inputFn and outputFn, and the rows of
   * those left to the built-in predictFn through the session in one run.
   */
  async invokeBatch(tasks: readonly ThreadTask[]): Promise<Answer[]> {
    if (this.code.hooks.transformFn || this.code.hooks.predictFn || !this.session) {
      const answers: Answer[] = [];
      for (const task of tasks) answers.push(await this.invoke(task));
      return answers;
    }
    const contexts = tasks.map((t) => new RequestContext(this.base, t.invocation));
    const answers: Answer[] = new Array(tasks.length);
    const inputs: (Matrix | undefined)[] = [];
    for (let i = 0; i < tasks.length; i++) {
      try {
        if (Date.now() > tasks[i].deadline) throw new ServerError('TIMEOUT', 'the deadline passed before a thread was free');
        const input = await this.input(tasks[i].invocation, contexts[i]);
        inputs.push(isMatrix(input) ? input : undefined);
        if (!isMatrix(input)) answers[i] = await this.output(await this.predict(input, contexts[i]), tasks[i].invocation, contexts[i]);
      } catch (err) {
        inputs.push(undefined);
        answers[i] = err instanceof HookError ? hookFailure(err.cause, err.hook, this.file) : failure(err);
      }
    }
    const members = inputs.flatMap((m, i) => (m && m.width === inputs.find(Boolean)?.width ? [i] : []));
    let shared: Predictions | undefined;
    if (members.length > 1) shared = await this.session.predict(concatMatrices(members.map((i) => inputs[i]!))).catch(() => undefined);
    let row = 0;
    for (let i = 0; i < tasks.length; i++) {
      const m = inputs[i];
      if (!m) continue;
      const from = row;
      if (shared && members.includes(i)) row += m.rows;
      try {
        const prediction = shared && members.includes(i) ? slicePredictions(shared, from, from + m.rows) : await this.session.predict(m);
        builtinPredictions.add(prediction);
        const answer = await this.output(prediction, tasks[i].invocation, contexts[i]);
        answers[i] = answer.ok && shared && members.includes(i) ? { ...answer, batch: members.length } : answer;
      } catch (err) {
        answers[i] = err instanceof HookError ? hookFailure(err.cause, err.hook, this.file) : failure(err);
      }
    }
    return answers;
  }

  /** The body and its media type as the caller sent them (inputFn and transformFn read raw bytes). */
  private rawBody(invocation: Invocation): { body: Buffer; type: string } {
    const { input } = invocation;
    if (input.kind === 'fields') return { body: Buffer.from(JSON.stringify(input.fields)), type: 'application/json' };
    // A copy: the body may sit in a shared slot that is reused once this invocation is answered.
    return { body: Buffer.from(input.body), type: input.mediaType };
  }

  private async input(invocation: Invocation, context: RequestContext): Promise<unknown> {
    const { inputFn } = this.code.hooks;
    if (inputFn) {
      const { body, type } = this.rawBody(invocation);
      return call('inputFn', () => inputFn(body, type, context));
    }
    const decoded = decodeInput(this.session, invocation);
    if (decoded.kind === 'rows') return decoded.matrix;
    // KServe V2 tensors: by name, as onnxruntime takes them; the request's id and outputs ride along.
    const feeds: Record<string, TensorData> = {};
    for (const t of decoded.request.inputs) feeds[t.name] = t;
    v2Requests.set(feeds, decoded.request);
    return feeds;
  }

  private async predict(input: unknown, context: RequestContext): Promise<unknown> {
    const { predictFn } = this.code.hooks;
    if (predictFn) return call('predictFn', () => predictFn(input, this.model, context));
    return this.builtinPredict(input);
  }

  /** What the server does without a predictFn: rows through the tabular path, named tensors through the session. */
  private async builtinPredict(input: unknown): Promise<unknown> {
    const session = this.session;
    if (!session) {
      const model = this.model as { run?: unknown };
      if (typeof model?.run === 'function') return (model as GuardedSession).run(input as Record<string, unknown>);
      throw new HookError('predictFn', new Error('modelFn returned a model without a run(feeds) method, so the server cannot run it: add a predictFn'));
    }
    const matrix = isMatrix(input) ? input : Array.isArray(input) ? rowsToMatrix(input) : undefined;
    if (matrix) {
      const p = await session.predict(matrix);
      builtinPredictions.add(p);
      return p;
    }
    if (typeof input === 'object' && input !== null && Object.values(input).length > 0 && Object.values(input).every(isTensorLike)) {
      const request = v2Requests.get(input);
      const tensors = Object.entries(input).map(([name, t]) => {
        const tensor = toOrtTensor(name, t);
        return { name, type: tensor.type, dims: [...tensor.dims], data: tensor.data as TensorData['data'] };
      });
      const outputs = await session.runTensors(tensors, request?.outputs);
      const byName: Record<string, TensorData> = {};
      for (const o of outputs) byName[o.name] = o;
      tensorAnswers.set(byName, outputs);
      if (request) v2Requests.set(byName, request);
      return byName;
    }
    throw new HookError('inputFn', new Error('returned a value the built-in predictFn cannot run: give rows (a list of number lists), or tensors by input name ({name: {type, dims, data}}), or add a predictFn'));
  }

  private async output(prediction: unknown, invocation: Invocation, context: RequestContext): Promise<Answer> {
    const { outputFn } = this.code.hooks;
    const accept = context.accept;
    if (outputFn) {
      const shown = typeof prediction === 'object' && prediction !== null && builtinPredictions.has(prediction) ? predictionRecords(prediction as Predictions) : prediction;
      const value = await call('outputFn', () => outputFn(shown, accept, context));
      return toAnswer(value, accept, context, 'outputFn');
    }
    const headers = Object.keys(context.headers).length > 0 ? { headers: context.headers } : {};
    if (typeof prediction === 'object' && prediction !== null && builtinPredictions.has(prediction)) {
      return { ...encodePredictions(invocation.output, prediction as Predictions), ...headers } as Answer;
    }
    const tensors = typeof prediction === 'object' && prediction !== null ? tensorAnswers.get(prediction) : undefined;
    if (tensors) {
      const request = v2Requests.get(prediction as object);
      if (request && this.session) return { ...runV2Answer(tensors, invocation, request.id), ...headers } as Answer;
      return { ...text(encodeV2(tensors, invocation.model), 'application/json', tensors[0]?.dims[0] ?? 1), ...headers } as Answer;
    }
    return toAnswer(prediction, accept, context, 'predictFn');
  }
}

/** KServe V2 requests remembered by the feeds built for them (their id and the outputs asked for). */
const v2Requests = new WeakMap<object, { id?: string; outputs?: string[] }>();

function runV2Answer(tensors: TensorData[], invocation: Invocation, id: string | undefined): Answer {
  if (!invocation.tensorsAcceptable) throw new ServerError('NOT_ACCEPTABLE', 'KServe V2 requests are answered with application/json, which Accept does not allow');
  return text(encodeV2(tensors, invocation.model, id), 'application/json', tensors[0]?.dims[0] ?? 1);
}

