// The dataset as the algorithms see it: numeric columns filled (a missing value takes the column's
// training mean) and standardised, categorical columns one-hot encoded (an empty or unseen category is all
// zeros, as scikit-learn's OneHotEncoder(handle_unknown="ignore") gives). Rows are held sparse, as
// (model column, value) pairs, so a category with thousands of values costs one pair per row. The
// exported graph computes the same thing (export.ts).
import type { Dataset } from './data';

export interface Standardiser {
  mean: Float64Array;
  scale: Float64Array;
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

/**
 * Rows as `slots` (model column, value) pairs each, row-major; a column of -1 is an empty slot (a missing
 * or unseen category). Model columns of a row come in increasing order.
 */
export interface Design {
  rows: number;
  /** Model columns: what the weights are indexed by. */
  width: number;
  slots: number;
  index: Int32Array;
  value: Float64Array;
}

/** Dense rows [rows, cols] as a design (every slot used, column c in slot c). */
export function denseDesign(x: Float64Array, rows: number, cols: number): Design {
  const index = new Int32Array(rows * cols);
  for (let i = 0; i < index.length; i++) index[i] = i % cols;
  return { rows, width: cols, slots: cols, index, value: x };
}

/** x standardised column by column: (x - mean) / scale. */
export function standardise(x: Float64Array, rows: number, s: Standardiser): Float64Array {
  const cols = s.mean.length;
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = (x[r * cols + c] - s.mean[c]) / s.scale[c];
  return out;
}

export interface Encoding extends Standardiser {
  /** Feature indices of the numeric columns (model columns 0..n-1, in this order). */
  numeric: number[];
  /** What a missing value of each numeric column becomes: its mean over the training rows that have one. */
  fill: Float64Array;
  /** Categorical columns: feature index, categories (sorted), and their first model column. */
  categorical: { feature: number; categories: string[]; offset: number }[];
  width: number;
  /** Whether the training data had a missing numeric value. */
  missing: boolean;
}

/** The numeric columns of `data`, missing values filled, as dense rows [rows, numeric columns]. */
function filledNumbers(data: Dataset, numeric: number[], fill: Float64Array, float32: boolean): Float64Array {
  const f = data.features.length;
  const n = numeric.length;
  const out = new Float64Array(data.rows * n);
  for (let r = 0; r < data.rows; r++) {
    for (let i = 0; i < n; i++) {
      const v = data.x[r * f + numeric[i]];
      const filled = v === v ? v : fill[i];
      out[r * n + i] = float32 ? Math.fround(filled) : filled;
    }
  }
  return out;
}

/** The encoding the training data gives: fill values, standardisation, categories. */
export function fitEncoding(data: Dataset): Encoding {
  const f = data.features.length;
  const numeric = data.kinds.flatMap((k, i) => (k === 'numeric' ? [i] : []));
  const fill = new Float64Array(numeric.length);
  let missing = false;
  numeric.forEach((feature, i) => {
    let sum = 0;
    let count = 0;
    for (let r = 0; r < data.rows; r++) {
      const v = data.x[r * f + feature];
      if (v === v) {
        sum += v;
        count += 1;
      } else missing = true;
    }
    fill[i] = sum / count;
  });
  const { mean, scale } = standardiser(filledNumbers(data, numeric, fill, false), data.rows, numeric.length);
  let offset = numeric.length;
  const categorical = data.kinds.flatMap((k, feature) => {
    if (k !== 'categorical') return [];
    const categories = [...new Set(data.text[feature]!.filter((t) => t !== ''))].sort();
    const column = { feature, categories, offset };
    offset += categories.length;
    return [column];
  });
  return { numeric, fill, mean, scale, categorical, width: offset, missing };
}

/** `data` (training or validation) through the encoding; `float32` rounds numbers as the graph's float input does. */
export function encode(data: Dataset, enc: Encoding, float32 = false): Design {
  const n = enc.numeric.length;
  const slots = n + enc.categorical.length;
  const numbers = standardise(filledNumbers(data, enc.numeric, enc.fill, float32), data.rows, enc);
  if (enc.categorical.length === 0) return denseDesign(numbers, data.rows, n);
  const index = new Int32Array(data.rows * slots);
  const value = new Float64Array(data.rows * slots);
  const lookups = enc.categorical.map((c) => new Map(c.categories.map((name, i) => [name, c.offset + i])));
  for (let r = 0; r < data.rows; r++) {
    const at = r * slots;
    for (let i = 0; i < n; i++) {
      index[at + i] = i;
      value[at + i] = numbers[r * n + i];
    }
    enc.categorical.forEach((c, j) => {
      index[at + n + j] = lookups[j].get(data.text[c.feature]![r]) ?? -1;
      value[at + n + j] = 1;
    });
  }
  return { rows: data.rows, width: enc.width, slots, index, value };
}
