// What users' inference code is given: a context for every hook (the model's name and folder, onnxruntime,
// loadSession for modelFn) and, for the hooks of a request, the request's own (id, custom attributes, the
// negotiated Accept, setHeader); and sessions whose runs count as native work (see native-guard.ts).
import * as ort from 'onnxruntime-node';
import type { Invocation } from '../models/model';
import { native } from './native-guard';
import { createSession, QUIET, toOrtTensor } from './onnxruntime';

/** Headers users' code may not set: the server owns framing and identity. */
const RESERVED_HEADERS = new Set(['content-length', 'content-type', 'transfer-encoding', 'connection', 'keep-alive', 'x-request-id', 'date', 'server']);
/** Headers nginx acts on (X-Accel-Redirect sends the request elsewhere) or the server's own (see nginx.conf). */
const RESERVED_PREFIX = /^x-(accel|model-server)-/i;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

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
    if (Object.keys(options).length === 0) return new GuardedSession(await createSession(file, this.intraOpThreads));
    return new GuardedSession(await ort.InferenceSession.create(file, { intraOpNumThreads: this.intraOpThreads, interOpNumThreads: 1, ...QUIET, ...options }));
  }
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
    if (!TOKEN.test(name) || RESERVED_HEADERS.has(name.toLowerCase()) || RESERVED_PREFIX.test(name)) throw new Error(`setHeader: ${JSON.stringify(name)} is not a header the model's code may set`);
    if (/[\r\n\0]/.test(text) || text.length > 8192) throw new Error(`setHeader: the value of ${name} holds a line break or is over 8 KiB`);
    this.headers[name] = text;
  }

  /** The headers set, or undefined when none was (most requests). */
  headersSet(): Record<string, string> | undefined {
    for (const _ in this.headers) return this.headers;
    return undefined;
  }
}
