// Multinomial logistic regression with L2, fitted by full-batch gradient descent on standardised features.
// Deterministic: no randomness, so the same data always gives the same model bytes.

export interface LogisticOptions {
  /** L2 penalty on the weights (not the intercepts). */
  l2: number;
  /** Gradient-descent passes over the data. */
  epochs: number;
  learningRate: number;
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

/** Fits weights for `y` (class indices 0..classes-1) on `x` [rows, features]. */
export function fitLogistic(x: Float64Array, y: Int32Array, rows: number, features: number, classes: number, options: LogisticOptions): LogisticModel {
  const { mean, scale } = standardiser(x, rows, features);
  const xs = new Float64Array(rows * features);
  for (let r = 0; r < rows; r++) for (let c = 0; c < features; c++) xs[r * features + c] = (x[r * features + c] - mean[c]) / scale[c];

  const k = classes;
  const weights = new Float64Array(features * k);
  const bias = new Float64Array(k);
  const z = new Float64Array(rows * k);
  const gradW = new Float64Array(features * k);
  const gradB = new Float64Array(k);
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < k; j++) {
        let s = bias[j];
        for (let c = 0; c < features; c++) s += xs[r * features + c] * weights[c * k + j];
        z[r * k + j] = s;
      }
    }
    softmaxRows(z, rows, k);
    gradW.fill(0);
    gradB.fill(0);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < k; j++) {
        const err = z[r * k + j] - (y[r] === j ? 1 : 0);
        gradB[j] += err;
        for (let c = 0; c < features; c++) gradW[c * k + j] += err * xs[r * features + c];
      }
    }
    for (let i = 0; i < weights.length; i++) weights[i] -= options.learningRate * (gradW[i] / rows + options.l2 * weights[i]);
    for (let j = 0; j < k; j++) bias[j] -= options.learningRate * (gradB[j] / rows);
  }
  return { mean, scale, weights, bias, features, classes };
}
