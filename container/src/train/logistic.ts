// Multinomial logistic regression with L2, fitted by gradient descent on standardised (and one-hot
// encoded) features held as a Design. Deterministic: the same data always gives the same model bytes.
import { denseDesign, standardise, standardiser, type Design, type Standardiser } from './design';

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

/** What gradient descent fits: weights [model columns, classes] and intercepts [classes]. */
export interface LogisticFit {
  weights: Float64Array;
  bias: Float64Array;
  classes: number;
}

/** A fit on dense rows: weights [features, classes] for inputs standardised by mean and scale. */
export interface LogisticModel extends Standardiser, LogisticFit {
  features: number;
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

/** Class probabilities [rows, classes] of a design's rows. */
export function designProbabilities(fit: LogisticFit, d: Design): Float64Array {
  const k = fit.classes;
  const { rows, slots: p, index, value } = d;
  const z = new Float64Array(rows * k);
  for (let r = 0; r < rows; r++) {
    const at = r * p;
    for (let j = 0; j < k; j++) {
      let s = fit.bias[j];
      for (let q = 0; q < p; q++) {
        const c = index[at + q];
        if (c >= 0) s += value[at + q] * fit.weights[c * k + j];
      }
      z[r * k + j] = s;
    }
  }
  softmaxRows(z, rows, k);
  return z;
}

/** Class probabilities [rows, classes] for raw (unstandardised) inputs: the reference the ONNX graph must match. */
export function predictProbabilities(model: LogisticModel, x: Float64Array, rows: number): Float64Array {
  return designProbabilities(model, denseDesign(standardise(x, rows, model), rows, model.features));
}

/** fitLogisticDesign on dense rows [rows, features], standardised first. */
export async function fitLogistic(x: Float64Array, y: Int32Array, rows: number, features: number, classes: number, options: LogisticOptions): Promise<LogisticModel> {
  const s = standardiser(x, rows, features);
  const fit = await fitLogisticDesign(denseDesign(standardise(x, rows, s), rows, features), y, classes, options);
  return { ...s, ...fit, features };
}

/**
 * Fits weights for `y` (class indices 0..classes-1) on a design's rows. Async only so that a signal
 * handler can run between epochs; the arithmetic is deterministic.
 */
export async function fitLogisticDesign(d: Design, y: Int32Array, classes: number, options: LogisticOptions): Promise<LogisticFit> {
  const { rows, slots: p, index, value } = d;
  const k = classes;
  const weights = new Float64Array(d.width * k);
  const bias = new Float64Array(k);
  const batch = options.miniBatchSize && options.miniBatchSize < rows ? options.miniBatchSize : rows;
  const z = new Float64Array(batch * k);
  const gradW = new Float64Array(d.width * k);
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
        const at = order[start + b] * p;
        for (let j = 0; j < k; j++) {
          let s = bias[j];
          for (let q = 0; q < p; q++) {
            const c = index[at + q];
            if (c >= 0) s += value[at + q] * weights[c * k + j];
          }
          z[b * k + j] = s;
        }
      }
      softmaxRows(z, n, k);
      gradW.fill(0);
      gradB.fill(0);
      for (let b = 0; b < n; b++) {
        const r = order[start + b];
        const at = r * p;
        loss -= Math.log(Math.max(z[b * k + y[r]], 1e-300));
        for (let j = 0; j < k; j++) {
          const err = z[b * k + j] - (y[r] === j ? 1 : 0);
          gradB[j] += err;
          for (let q = 0; q < p; q++) {
            const c = index[at + q];
            if (c >= 0) gradW[c * k + j] += err * value[at + q];
          }
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
  return { weights, bias, classes };
}
