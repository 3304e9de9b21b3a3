// The one seam between the HTTP edge and whatever answers: a Model, and the typed Invocation the edge
// resolves each request into. The ONNX pool implements it (inference/pool.ts), for models with and without
// their own code alike; proxy mode needs none, as nginx sends invocations to the scorer directly.
// Nothing here knows HTTP headers, and nothing above it knows a tensor session.
import type { WireError } from '../errors';
import type { Receipt } from '../receipts';
import type { InferenceOutputKey, ModelDescription, OutputStyle } from '../vocabulary';

/** Where a model comes from: what the supervisor asks every worker to hold. */
export interface ModelSpec {
  /** The name it is served under ("model" for the single-model endpoint). */
  name: string;
  /** The model's folder (laid out like /opt/ml/model). */
  dir: string;
  /** The .onnx file (the first tree model file); absent only when the model's inference code has its own modelFn (found when that loads). */
  modelFile?: string;
  /** XGBoost or LightGBM model files, converted to ONNX when the model loads. */
  treeFiles?: string[];
  modelJsonFile?: string;
  /** The model's inference code (code/inference.mjs, .js, .cjs or SAGEMAKER_PROGRAM), when it has some. */
  codeFile?: string;
}

/** What the request holds: a body and the decoder (canonical media type) with its parameters, or named fields. */
export type InvocationInput =
  | { kind: 'body'; mediaType: string; params: Readonly<Record<string, string>>; body: Uint8Array }
  /** One row given by feature name (GET /predict_parameters). */
  | { kind: 'fields'; fields: Readonly<Record<string, string>> };

/** An answer on the Open Inference Protocol's infer path: the model_name (and model_version) it carries. */
export interface ProtocolAnswer {
  modelName: string;
  version?: string;
}

/** How the answer is written: the encoder (canonical media type) and the classifier keys, in order. */
export interface InvocationOutput {
  mediaType: string;
  keys: readonly InferenceOutputKey[];
  /** One JSON record object rather than the type's list of records (GET /predict_parameters). */
  single?: boolean;
  /** The model's output style (SageMaker XGBoost's for XGBoost models, by default). */
  style?: OutputStyle;
  /** SAGEMAKER_INFERENCE_OUTPUT was set (SageMaker XGBoost's style writes its keys rather than the raw output). */
  selected?: boolean;
  /**
   * Set on POST /v2/models/{name}/infer: the body must be a V2 tensor request, and the answer a V2 response
   * naming the model as given here, with binary tensor data where the request asks for it.
   */
  protocol?: ProtocolAnswer;
}

/** One request, resolved once at the edge; the model side never sees a header. */
export interface Invocation {
  requestId: string;
  model: string;
  input: InvocationInput;
  output: InvocationOutput;
  /** Tensor (KServe V2) requests are answered with application/json: whether the caller accepts that. */
  tensorsAcceptable: boolean;
  /** X-Amzn-SageMaker-Custom-Attributes as the caller sent it (for users' inference code). */
  attributes?: string;
  /** Where the worker records that this invocation went to the model (see receipts.ts), when nginx keyed it. */
  receipt?: Receipt;
}

/** How the pool ran an invocation, for the metrics. */
export interface AnswerTiming {
  /** Milliseconds from arrival at the pool to a thread taking it. */
  queuedMs: number;
  /** Milliseconds the thread spent on the run that answered it. */
  runMs: number;
  /** Invocations that thread run held (1: it ran alone). */
  batch: number;
  /** Where it ran: an inference thread, or the worker's own thread (small batches, MODEL_SERVER_INLINE). */
  where: 'thread' | 'inline';
}

/** A model's answer to one invocation: bytes to send, or a catalogue error. */
export type Answer =
  | {
      ok: true;
      /** The answer's bytes; an answer under 64 KiB may be a latin1 string of them (one character per byte). */
      body: Uint8Array | string;
      contentType: string;
      records: number;
      /** Invocations that shared this model call (opportunistic batching). */
      batch?: number;
      /** contentType is complete as it is (users' code chose it): no charset is added. */
      exactType?: boolean;
      /** Response headers users' code set (context.setHeader), or the binary tensor extension's. */
      headers?: Record<string, string>;
      timing?: AnswerTiming;
    }
  | {
      ok: false;
      error: WireError;
      records?: number;
      /** Unexpected failures: detail for the server log only. */
      detail?: string;
      headers?: Record<string, string>;
      timing?: AnswerTiming;
    };

/** What the edge talks to. */
export interface Model {
  readonly name: string;
  /** Resolves with the description once the model can be invoked; rejects with the load failure. */
  ready(): Promise<ModelDescription>;
  /** The description once ready, else undefined. */
  describe(): ModelDescription | undefined;
  /**
   * Answers one invocation. `whenGone`, when given, is called with a function that drops the invocation
   * if it has not started yet; the edge calls that function if the caller goes away first. (A callback
   * rather than an AbortSignal: an AbortController per request cost more than the rest of the hop.)
   */
  invoke(invocation: Invocation, whenGone?: (drop: () => void) => void): Promise<Answer>;
  /** Releases the model once in-flight work is done, waiting at most waitMs for it. */
  close(waitMs?: number): Promise<void>;
}
