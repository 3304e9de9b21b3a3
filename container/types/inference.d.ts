// Types of the hooks a model's inference code (code/inference.mjs, .js or .cjs) may export. Every hook is
// optional and may be sync or async; a hook left out does what the server does without code.
// In a JavaScript module, point an editor at them with JSDoc:
//   /** @type {import('/opt/program/container/types/inference').OutputFn} */
//   export const outputFn = (prediction, accept, context) => ...
// (in this repository: container/types/inference.d.ts). AWS's inference toolkit names are in brackets.

import type * as ort from 'onnxruntime-node';

/** A tensor as plain data: what the server hands hooks, and what it takes back besides ort.Tensor. */
export interface TensorLike {
  /** onnxruntime's type name: 'float32', 'float64', 'int64', 'int32', 'uint8', 'bool', 'string', ... */
  type: string;
  dims: readonly number[];
  data: Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array | string[];
}

/** Tensors by name: inputs for a session run, or its outputs. */
export type Tensors = Record<string, TensorLike | ort.Tensor>;

/** Rows decoded by the built-in codecs (CSV, JSON, JSON Lines, /predict_parameters) for a tabular model. */
export interface Rows {
  rows: number;
  /** Values per row (the model's features). */
  width: number;
  /**
   * Row-major, in the model input's precision. For a mixed-type model (string or integer columns, one
   * input per column): a Float64Array of every column, 0 in the string columns.
   */
  values: Float32Array | Float64Array;
  /** Mixed-type models only: the string columns' text, row-major over the string columns alone. */
  strings?: string[];
}

/** One row of a built-in classifier prediction, as outputFn receives it. */
export interface ClassificationRecord {
  predicted_label: string | number;
  /** The highest class probability. */
  probability: number;
  /** Every class's probability, in `labels` order. */
  probabilities: number[];
  labels: (string | number)[];
}

/** One row of a built-in regressor prediction, as outputFn receives it. */
export interface RegressionRecord {
  score: number;
}

/** The onnxruntime session of the model folder's .onnx file (the default model). */
export interface Session {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly ort.InferenceSession.ValueMetadata[];
  readonly outputMetadata: readonly ort.InferenceSession.ValueMetadata[];
  /** session.run: feeds by input name (ort.Tensor or TensorLike); all outputs unless `fetches` names some. */
  run(feeds: Tensors, fetches?: readonly string[]): Promise<Record<string, ort.Tensor>>;
  release(): Promise<void>;
}

/** What every hook gets as its last argument. */
export interface LoadContext {
  /** The name the model is served under ("model" for a single-model endpoint). */
  readonly modelName: string;
  /** The model's folder (/opt/ml/model, or the url it was loaded from on a multi-model endpoint). */
  readonly modelDir: string;
  /** The server's onnxruntime-node: build tensors with new context.ort.Tensor(type, data, dims). */
  readonly ort: typeof ort;
  /** An onnxruntime session of another file (modelFn only): use this rather than ort.InferenceSession.create,
   *  so that a request stuck past MODEL_SERVER_TIMEOUT can be stopped safely. */
  loadSession(file: string, options?: ort.InferenceSession.SessionOptions): Promise<Session>;
}

/** What request hooks (inputFn, predictFn, outputFn, transformFn) get as their last argument. */
export interface RequestContext extends LoadContext {
  /** The request id (X-Amzn-SageMaker-Inference-Id or X-Request-Id, else a fresh one): in every log line. */
  readonly requestId: string;
  /** X-Amzn-SageMaker-Custom-Attributes as the caller sent it. */
  readonly customAttributes: string | undefined;
  /** The response media type the server chose from Accept. */
  readonly accept: string;
  /** Sets a response header: X-Amzn-SageMaker-Custom-Attributes reaches the caller only this way.
   *  Content-Type comes from outputFn's answer; Content-Length, Connection, X-Request-Id and X-Accel-* /
   *  X-Model-Server-* (which nginx acts on) are the server's. */
  setHeader(name: string, value: string | number): void;
}

/** A response body: text, bytes, {body, contentType}, or any value the server writes as JSON, CSV or JSON Lines
 *  (whichever Accept chose). */
export type Answer = string | Uint8Array | ArrayBuffer | { body: string | Uint8Array | ArrayBuffer; contentType?: string } | unknown;

/** [model_fn] Loads the model once per inference thread. Default: the folder's .onnx file as a Session. */
export type ModelFn<M = unknown> = (modelDir: string, context: LoadContext) => M | Promise<M>;

/** [model_warmup_fn] Runs once per thread before the model is declared ready (/ping answers 200 after it). */
export type WarmupFn<M = Session> = (model: M, context: LoadContext) => void | Promise<void>;

/** [input_fn] Decodes the request body. Default: the built-in codecs (Rows, or Tensors for KServe V2).
 *  Return Rows, a list of number lists, or Tensors by input name for the built-in predictFn. */
export type InputFn<I = unknown> = (body: Buffer, contentType: string, context: RequestContext) => I | Promise<I>;

/** [predict_fn] Runs the model. Default: Rows through the tabular path (a list of ClassificationRecord or
 *  RegressionRecord reaches outputFn), Tensors through session.run (Tensors reach outputFn). */
export type PredictFn<I = unknown, M = Session, P = unknown> = (input: I, model: M, context: RequestContext) => P | Promise<P>;

/** [output_fn] Writes the answer. Default: the built-in codecs. */
export type OutputFn<P = unknown> = (prediction: P, accept: string, context: RequestContext) => Answer | Promise<Answer>;

/** [transform_fn] The whole request at once; cannot be combined with inputFn, predictFn or outputFn. */
export type TransformFn<M = Session> = (model: M, body: Buffer, contentType: string, accept: string, context: RequestContext) => Answer | Promise<Answer>;

/**
 * What the module may export. Besides the hooks:
 * - consumes: request media types it reads (default: any type when it has inputFn or transformFn, else the
 *   built-in ones); other types are answered 415.
 * - produces: response media types it writes (default: any type when it has outputFn or transformFn, else
 *   the built-in ones); an Accept none of them meets is answered 406.
 * - batchSafe: true lets queued requests share one model run (the built-in predictFn only); default false.
 */
export interface InferenceModule {
  modelFn?: ModelFn;
  warmupFn?: WarmupFn<any>;
  inputFn?: InputFn;
  predictFn?: PredictFn<any, any>;
  outputFn?: OutputFn<any>;
  transformFn?: TransformFn<any>;
  consumes?: string | string[];
  produces?: string | string[];
  batchSafe?: boolean;
}

/** An error a hook may throw to choose the status (400-599); its message is the answer's message. */
export interface HookError extends Error {
  statusCode: number;
}
