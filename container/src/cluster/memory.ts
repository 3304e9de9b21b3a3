// The memory budget of a multi-model endpoint: each model holds a share of the memory the server may use
// (MODEL_SERVER_MEMORY_LIMIT_MB), estimated before it loads and given back when it is unloaded; a load
// whose share does not fit beside the server's own memory and the shares held is refused with 507.
// Resident memory alone cannot decide it: it does not shrink the moment a model is released, so after
// SageMaker unloads models to make room (its answer to a 507) the refused model would still not fit. The
// figures below are measured by `npm run bench:memory` (docs/multi-model.md has the table).
import { readModelMetadata } from '../onnx/reader';

const MB = 2 ** 20;

/** A worker's first model loads onnxruntime's library and state, which stay (measured 32-33 MB). */
export const RUNTIME_BYTES = 40 * MB;

/** One inference thread holding a model: its V8 isolate, the model's pipeline, onnxruntime's session (measured 11-13 MB). */
const THREAD_BYTES = 20 * MB;

/**
 * What one session makes of the model file's bytes, at most while it loads: tensor weights a little more
 * than once (measured up to 1.4 times the file while loading, 1.1 after), tree ensemble far more
 * (onnxruntime builds its own trees from the node attributes: up to 11 times the file, 7 after).
 */
const WEIGHTS_FACTOR = 1.5;
const TREES_FACTOR = 14;
const TREES = /^TreeEnsemble/;

/** What the budget knows of a model before it loads: its file's size and whether it holds tree ensembles. */
export interface ModelWeight {
  fileBytes: number;
  trees: boolean;
}

/** Reads it from the model's file (its size, and its op types without its weights); a folder whose code loads its own files has none. */
export function modelWeight(modelFile: string | undefined, size: (file: string) => number): ModelWeight {
  if (!modelFile) return { fileBytes: 0, trees: false };
  let trees = false;
  try {
    trees = readModelMetadata(modelFile).opTypes.some((op) => TREES.test(op));
  } catch {
    // not readable as ONNX: the load itself will say so
  }
  return { fileBytes: size(modelFile), trees };
}

/**
 * XGBoost or LightGBM files, which become one tree ensemble when they load: counted as if their bytes were
 * the ensemble's ONNX file, which errs high (the ONNX graph is smaller than JSON or text files).
 */
export function treeWeight(files: readonly string[], size: (file: string) => number): ModelWeight {
  return { fileBytes: files.reduce((n, file) => n + size(file), 0), trees: true };
}

/** A session on a worker's own thread (MODEL_SERVER_INLINE): no isolate of its own, onnxruntime's session state. */
const INLINE_SESSION_BYTES = 4 * MB;

/**
 * The share of the budget a model holds: every thread of every worker holding it has its own session, and
 * so does each worker's own thread when `inline` (the model may run small batches there: see
 * inference/inline.ts, whose conditions the caller checks as far as the files tell).
 */
export function modelShare(weight: ModelWeight, holders: number, threads: number, inline = false): number {
  const weights = (weight.trees ? TREES_FACTOR : WEIGHTS_FACTOR) * weight.fileBytes;
  return Math.ceil(holders * threads * (weights + THREAD_BYTES) + (inline ? holders * (weights + INLINE_SESSION_BYTES) : 0));
}
