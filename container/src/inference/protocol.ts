// The typed messages between a worker process (main thread) and its inference threads.
// Everything here is structured-clone safe: plain objects, typed arrays, WireError (never Error instances).
import type { InferenceOutputKey } from '../config';
import type { WireError } from '../errors';

/** Bodies smaller than this are copied to and from threads rather than transferred (moving has a fixed cost). */
export const SMALL = 64 * 1024;

/** piscina workerData: what every thread needs to load and serve the model. */
export interface ThreadInit {
  modelFile: string;
  modelJsonFile?: string;
  intraOpThreads: number;
  inferenceOutput: readonly InferenceOutputKey[];
}

export interface TensorInfo {
  name: string;
  /** onnxruntime type name (float32, int64, string, ...), or "sequence/map" for non-tensor values. */
  type: string;
  shape: (number | string)[];
}

export type ModelKind = 'classifier' | 'regressor' | 'tensor';

/** What a thread reports about the model it loaded; logged at start-up and used by the HTTP layer's info. */
export interface ModelDescription {
  file: string;
  kind: ModelKind;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /** Feature count for tabular models, when fixed. */
  features: number | null;
  featureNames?: string[];
  labels?: (string | number)[];
  /** False when the warm-up run could not be made (a non-tabular model whose inputs need real values). */
  warmed: boolean;
  /**
   * Set when the label output is names[argmax(probabilities)] in the graph: the server then computes it
   * from the probabilities (same answer, without onnxruntime building a string per row).
   */
  labelsFromProbabilities?: boolean;
  warmupError?: string;
}

/** One invocation: the raw body (possibly a shared slot, see shared-bodies.ts) and the negotiated media types; the thread decodes, runs and encodes. */
export interface InvokeTask {
  body: Uint8Array;
  /** The request's Content-Type header as sent (parameters such as charset included); the registry has a codec for its type. */
  contentType: string;
  /** Response media type for rows, chosen by Accept negotiation (the registry has a codec for it). */
  accept: string;
  /** Whether Accept allows the JSON that V2 tensor requests are answered with. */
  v2Acceptable: boolean;
  /** GET /predict_parameters: one row given by feature name; the answer is one JSON record. */
  query?: Record<string, string>;
  /** Epoch ms after which the caller has been answered 504: the thread skips work not yet begun. */
  deadline?: number;
}

/** Several queued invocations handed to one thread at once (opportunistic batching). */
export interface BatchTask {
  batch: InvokeTask[];
}

export type InvokeResult =
  | {
      ok: true;
      /** The answer's bytes; between thread and worker, an answer under 64 KiB is a latin1 string of them (one character per byte). */
      body: Uint8Array | string;
      contentType: string;
      records: number;
      /** Invocations that shared this ONNX call. */
      batch?: number;
    }
  | { ok: false; error: WireError; records?: number; /** Unexpected failures: detail for the server log only. */ detail?: string };

/** Posted by a thread on its parentPort (piscina re-emits these as the pool's 'message' events). */
export type ThreadEvent =
  | { type: 'thread-ready'; threadId: number; model: ModelDescription; loadMs: number }
  | { type: 'thread-load-failed'; threadId: number; error: WireError };
