// Ridge regression on standardised (and one-hot encoded) features held as a Design, solved exactly with
// an unpenalised intercept: (XᵀX/n + l2·I) w = Xᵀ(y - ȳ)/n, by Cholesky.
import { denseDesign, standardise, standardiser, type Design, type Standardiser } from './design';

export interface LinearFit {
  /** Weights [model columns]. */
  weights: Float64Array;
  bias: number;
}

/** A fit on dense rows: weights [features] for inputs standardised by mean and scale. */
export interface LinearModel extends Standardiser, LinearFit {
  features: number;
}

/** fitRidgeDesign on dense rows [rows, features], standardised first. */
export function fitRidge(x: Float64Array, y: Float64Array, rows: number, features: number, l2: number): LinearModel {
  const s = standardiser(x, rows, features);
  return { ...s, ...fitRidgeDesign(denseDesign(standardise(x, rows, s), rows, features), y, l2), features };
}

/**
 * The ridge solution on a design's rows. The intercept is solved with the weights (model column `width`,
 * not penalised): one-hot columns are not centred, so it is not simply the mean of y.
 */
export function fitRidgeDesign(d: Design, y: Float64Array, l2: number): LinearFit {
  const { rows, slots: p, index, value } = d;
  const f = d.width;
  const m = f + 1;
  const a = new Float64Array(m * m);
  const rhs = new Float64Array(m);
  let yMean = 0;
  for (let r = 0; r < rows; r++) yMean += y[r];
  yMean /= rows;
  for (let r = 0; r < rows; r++) {
    const at = r * p;
    const yc = y[r] - yMean;
    rhs[f] += yc;
    a[f * m + f] += 1;
    // Model columns come in increasing order within a row, so (i, j) with j <= i is the lower triangle.
    for (let q = 0; q < p; q++) {
      const i = index[at + q];
      if (i < 0) continue;
      const v = value[at + q];
      rhs[i] += v * yc;
      a[f * m + i] += v;
      for (let t = 0; t <= q; t++) {
        const j = index[at + t];
        if (j >= 0) a[i * m + j] += v * value[at + t];
      }
    }
  }
  for (let i = 0; i < m; i++) {
    for (let j = 0; j <= i; j++) a[i * m + j] /= rows;
    rhs[i] /= rows;
    // A tiny floor keeps constant or duplicated columns solvable when l2 is 0.
    if (i < f) a[i * m + i] += Math.max(l2, 1e-10);
  }
  // Cholesky: a = L Lᵀ (lower triangle, in place).
  for (let i = 0; i < m; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = a[i * m + j];
      for (let k = 0; k < j; k++) sum -= a[i * m + k] * a[j * m + k];
      a[i * m + j] = i === j ? Math.sqrt(Math.max(sum, 1e-300)) : sum / a[j * m + j];
    }
  }
  const z = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let sum = rhs[i];
    for (let k = 0; k < i; k++) sum -= a[i * m + k] * z[k];
    z[i] = sum / a[i * m + i];
  }
  const solution = new Float64Array(m);
  for (let i = m - 1; i >= 0; i--) {
    let sum = z[i];
    for (let k = i + 1; k < m; k++) sum -= a[k * m + i] * solution[k];
    solution[i] = sum / a[i * m + i];
  }
  return { weights: solution.slice(0, f), bias: yMean + solution[f] };
}

/** Scores of a design's rows. */
export function designScores(fit: LinearFit, d: Design): Float64Array {
  const { rows, slots: p, index, value } = d;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = fit.bias;
    for (let q = 0; q < p; q++) {
      const c = index[r * p + q];
      if (c >= 0) s += value[r * p + q] * fit.weights[c];
    }
    out[r] = s;
  }
  return out;
}

/** Scores for raw (unstandardised) inputs: the reference the ONNX graph must match. */
export function predictLinear(model: LinearModel, x: Float64Array, rows: number): Float64Array {
  return designScores(model, denseDesign(standardise(x, rows, model), rows, model.features));
}
