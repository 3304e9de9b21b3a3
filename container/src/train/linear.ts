// Ridge regression on standardised features, solved exactly: (XᵀX/n + l2·I) w = Xᵀ(y - ȳ)/n, by Cholesky.
import { standardiser, type Standardiser } from './logistic';

export interface LinearModel extends Standardiser {
  /** Weights for standardised inputs [features]. */
  weights: Float64Array;
  bias: number;
  features: number;
}

export function fitRidge(x: Float64Array, y: Float64Array, rows: number, features: number, l2: number): LinearModel {
  const { mean, scale } = standardiser(x, rows, features);
  const f = features;
  const a = new Float64Array(f * f);
  const rhs = new Float64Array(f);
  let yMean = 0;
  for (let r = 0; r < rows; r++) yMean += y[r];
  yMean /= rows;
  const xs = new Float64Array(f);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < f; c++) xs[c] = (x[r * f + c] - mean[c]) / scale[c];
    const yc = y[r] - yMean;
    for (let i = 0; i < f; i++) {
      rhs[i] += xs[i] * yc;
      for (let j = 0; j <= i; j++) a[i * f + j] += xs[i] * xs[j];
    }
  }
  for (let i = 0; i < f; i++) {
    for (let j = 0; j <= i; j++) a[i * f + j] /= rows;
    rhs[i] /= rows;
    // A tiny floor keeps constant or duplicated columns solvable when l2 is 0.
    a[i * f + i] += Math.max(l2, 1e-10);
  }
  // Cholesky: a = L Lᵀ (lower triangle, in place).
  for (let i = 0; i < f; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i * f + j];
      for (let k = 0; k < j; k++) sum -= a[i * f + k] * a[j * f + k];
      a[i * f + j] = i === j ? Math.sqrt(Math.max(sum, 1e-300)) : sum / a[j * f + j];
    }
  }
  const z = new Float64Array(f);
  for (let i = 0; i < f; i++) {
    let sum = rhs[i];
    for (let k = 0; k < i; k++) sum -= a[i * f + k] * z[k];
    z[i] = sum / a[i * f + i];
  }
  const weights = new Float64Array(f);
  for (let i = f - 1; i >= 0; i--) {
    let sum = z[i];
    for (let k = i + 1; k < f; k++) sum -= a[k * f + i] * weights[k];
    weights[i] = sum / a[i * f + i];
  }
  return { mean, scale, weights, bias: yMean, features };
}

export function predictLinear(model: LinearModel, x: Float64Array, rows: number): Float64Array {
  const f = model.features;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = model.bias;
    for (let c = 0; c < f; c++) s += ((x[r * f + c] - model.mean[c]) / model.scale[c]) * model.weights[c];
    out[r] = s;
  }
  return out;
}
