// Multinomial logistic regression with L2, fitted by full-batch gradient descent on standardised features.
// Deterministic: no randomness, so the same data always gives the same model bytes.

export interface LogisticOptions {
  /** L2 penalty on the weights (not the intercepts). */
  l2: number;
  /** Gradient-descent passes over the data. */
  epochs: number;
  learningRate: number;
  /** Rows per gradient step; 0 = all rows. */
  miniBatchSize?: number;
  /** Stop when an epoch improves the training loss by less than this (0: run every epoch). */
  tolerance?: number;
  /** Seeds the mini-batch order. */
  seed?: number;
  /** Called between epochs; returning true stops training (SIGTERM). */
  shouldStop?: () => boolean;
}

export class TrainingStopped extends Error {}

/** A small deterministic PRNG (mulberry32), so a seed always gives the same mini-batch order. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Standardiser {
  mean: Float64Array;
  scale: Float64Array;
}

export interface LogisticModel extends Standardiser {
  /** Weights, row-major [features, classes], for standardised inputs. */
  weights: Float64Array;
  /** Intercepts [classes]. */
  bias: Float64Array;
  features: number;
  classes: number;
}

/** Column means and standard deviations (1 where a column is constant, so it passes through unscaled). */
export function standardiser(x: Float64Array, rows: number, cols: number): Standardiser {
  const mean = new Float64Array(cols);
  const scale = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) mean[c] += x[r * cols + c];
  for (let c = 0; c < cols; c++) mean[c] /= rows;
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) scale[c] += (x[r * cols + c] - mean[c]) ** 2;
  for (let c = 0; c < cols; c++) {
    const sd = Math.sqrt(scale[c] / rows);
    scale[c] = sd > 1e-12 ? sd : 1;
  }
  return { mean, scale };
}

/** Softmax over each row of `z` [rows, k], in place. */
export function softmaxRows(z: Float64Array, rows: number, k: number): void {
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let j = 0; j < k; j++) max = Math.max(max, z[r * k + j]);
    let sum = 0;
    for (let j = 0; j < k; j++) {
      const e = Math.exp(z[r * k + j] - max);
      z[r * k + j] = e;
      sum += e;
    }
    for (let j = 0; j < k; j++) z[r * k + j] /= sum;
  }
}

/** Class probabilities [rows, classes] for raw (unstandardised) inputs: the reference the ONNX graph must match. */
export function predictProbabilities(model: LogisticModel, x: Float64Array, rows: number): Float64Array {
  const { features: f, classes: k } = model;
  const z = new Float64Array(rows * k);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < k; j++) {
      let s = model.bias[j];
      for (let c = 0; c < f; c++) s += ((x[r * f + c] - model.mean[c]) / model.scale[c]) * model.weights[c * k + j];
      z[r * k + j] = s;
    }
  }
  softmaxRows(z, rows, k);
  return z;
}

/**
 * Fits weights for `y` (class indices 0..classes-1) on `x` [rows, features]. Async only so that a signal
 * handler can run between epochs; the arithmetic is deterministic.
 */
export async function fitLogistic(x: Float64Array, y: Int32Array, rows: number, features: number, classes: number, options: LogisticOptions): Promise<LogisticModel> {
  const { mean, scale } = standardiser(x, rows, features);
  const f = features;
  const k = classes;
  const xs = new Float64Array(rows * f);
  for (let r = 0; r < rows; r++) for (let c = 0; c < f; c++) xs[r * f + c] = (x[r * f + c] - mean[c]) / scale[c];

  const weights = new Float64Array(f * k);
  const bias = new Float64Array(k);
  const batch = options.miniBatchSize && options.miniBatchSize < rows ? options.miniBatchSize : rows;
  const z = new Float64Array(batch * k);
  const gradW = new Float64Array(f * k);
  const gradB = new Float64Array(k);
  const order = Int32Array.from({ length: rows }, (_, i) => i);
  const random = prng(options.seed ?? 0);
  let previousLoss = Infinity;
  let lastYield = performance.now();

  for (let epoch = 0; epoch < options.epochs; epoch++) {
    if (batch < rows) {
      for (let i = rows - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
    }
    let loss = 0;
    for (let start = 0; start < rows; start += batch) {
      const n = Math.min(batch, rows - start);
      for (let b = 0; b < n; b++) {
        const r = order[start + b];
        for (let j = 0; j < k; j++) {
          let s = bias[j];
          for (let c = 0; c < f; c++) s += xs[r * f + c] * weights[c * k + j];
          z[b * k + j] = s;
        }
      }
      softmaxRows(z, n, k);
      gradW.fill(0);
      gradB.fill(0);
      for (let b = 0; b < n; b++) {
        const r = order[start + b];
        loss -= Math.log(Math.max(z[b * k + y[r]], 1e-300));
        for (let j = 0; j < k; j++) {
          const err = z[b * k + j] - (y[r] === j ? 1 : 0);
          gradB[j] += err;
          for (let c = 0; c < f; c++) gradW[c * k + j] += err * xs[r * f + c];
        }
      }
      for (let i = 0; i < weights.length; i++) weights[i] -= options.learningRate * (gradW[i] / n + options.l2 * weights[i]);
      for (let j = 0; j < k; j++) bias[j] -= options.learningRate * (gradB[j] / n);
    }
    loss /= rows;
    if (options.tolerance && previousLoss - loss >= 0 && previousLoss - loss < options.tolerance) break;
    previousLoss = loss;
    // Let signal handlers run every ~50 ms of work.
    if (performance.now() - lastYield > 50) {
      await new Promise((resolve) => setImmediate(resolve));
      lastYield = performance.now();
    }
    if (options.shouldStop?.()) throw new TrainingStopped('training stopped by SIGTERM before it finished');
  }
  return { mean, scale, weights, bias, features, classes };
}
