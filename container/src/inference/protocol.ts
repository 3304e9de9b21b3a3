// The typed messages between a worker process (main thread) and its inference threads.
// Everything here is structured-clone safe: plain objects, typed arrays, WireError (never Error instances).
import type { WireError } from '../errors';
import type { Answer, Invocation } from '../models/model';
import type { InferenceOutputKey, ModelDescription } from '../vocabulary';

/** Bodies smaller than this are copied to and from threads rather than transferred (moving has a fixed cost). */
export const SMALL = 64 * 1024;

/** piscina workerData: what every thread needs to load the model. */
export interface ThreadInit {
  name: string;
  /** The model's folder (what users' modelFn is given). */
  dir: string;
  /** Absent only when the model's code has a modelFn (see ModelSpec). */
  modelFile?: string;
  /** XGBoost or LightGBM files, read and converted to ONNX by each thread. */
  treeFiles?: string[];
  /** MODEL_SERVER_OUTPUT_STYLE and SAGEMAKER_INFERENCE_OUTPUT's keys: the model decides its style, and refuses keys its style has not. */
  outputStyle: 'auto' | 'server' | 'xgboost';
  outputKeys: readonly InferenceOutputKey[];
  modelJsonFile?: string;
  /** The model's inference code, loaded once per thread. */
  codeFile?: string;
  intraOpThreads: number;
}

/** One invocation for a thread; the body may be a shared slot (see shared-bodies.ts). */
export interface ThreadTask {
  invocation: Invocation;
  /** Epoch ms after which the caller has been answered 504: the thread skips work not yet begun. */
  deadline: number;
}

/**
 * What a pool hands a thread: one invocation, or several queued ones at once (opportunistic batching);
 * the thread answers with one Answer per task, in order.
 */
export interface Task {
  tasks: ThreadTask[];
  /** Tasks of a model with its own code carry the native-run flag of their thread (see native-guard.ts). */
  native?: Int32Array;
}

/** What a thread describes of the model it loaded (the worker adds the name and media types). */
export type ThreadModel = Omit<ModelDescription, 'name' | 'consumes' | 'produces' | 'aliases'>;

/** Posted by a thread on its parentPort (piscina re-emits these as the pool's 'message' events). */
export type ThreadEvent =
  | { type: 'thread-ready'; threadId: number; model: ThreadModel; loadMs: number }
  | { type: 'thread-load-failed'; threadId: number; error: WireError }
  /** Users' code left a promise rejection unhandled or threw outside a hook; the thread goes on. */
  | { type: 'code-fault'; threadId: number; message: string; detail: string };

export type { Answer };
