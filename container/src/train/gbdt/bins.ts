// Histogram bins: each numeric feature's values cut at quantiles (at most max_bin bins; every distinct value
// its own bin when there are no more than that), each category its own bin, and the training matrix turned
// into bin numbers. A bin's upper bound is the threshold XGBoost's split compares with (x < cut goes left).
import type { Table } from './table';

export interface Cuts {
  features: number;
  /** Feature f's bin upper bounds are values[ptr[f] .. ptr[f+1]), ascending; the last lies above every value. */
  ptr: Int32Array;
  values: Float32Array;
  /** Per feature: a threshold below every value (a split sending every observed value right compares with it). */
  min: Float32Array;
  categorical: boolean[];
}

/** Bin numbers: 16 bits while every feature's bins fit in 65,536 histogram slots, 32 beyond. */
export type BinArray = Uint16Array | Uint32Array;

/**
 * The bins of a training matrix: row-major [rows, features], each cell its histogram slot (feature f's
 * bin b is slot slot2[f]/2 + b; a missing value is the slot after the feature's last bin).
 */
export interface Binned {
  cuts: Cuts;
  rows: number;
  features: number;
  /** Shared memory (the histogram threads read it). */
  bins: BinArray;
  /**
   * The same cells feature by feature [features, rows], for partitioning a node's rows by one feature:
   * reading one column of ascending rows touches far fewer cache lines than striding through rows.
   */
  columns: BinArray;
  /** Twice each feature's first slot: a histogram holds `slots` (gradient, hessian) pairs. */
  slot2: Int32Array;
  slots: number;
}

export const binCount = (cuts: Cuts, f: number): number => cuts.ptr[f + 1] - cuts.ptr[f];

/** XGBoost's sentinel above the maximum, and its value below the minimum. */
const above = (max: number) => Math.fround(max + Math.abs(max) + 1e-6);
const below = (min: number) => Math.fround(min - (Math.abs(min) + 1e-5));

/** Cut points of one numeric feature from its sorted values. */
function numericCuts(sorted: Float32Array, maxBin: number, out: number[]): void {
  const n = sorted.length;
  if (n === 0) {
    out.push(above(0));
    return;
  }
  let unique = 1;
  for (let i = 1; i < n && unique <= maxBin; i++) if (sorted[i] !== sorted[i - 1]) unique++;
  if (unique <= maxBin) {
    for (let i = 1; i < n; i++) if (sorted[i] !== sorted[i - 1]) out.push(sorted[i]);
  } else {
    // Equal-frequency cuts: bin i ends at the value of rank i·n/max_bin, duplicates merged.
    let last = sorted[0];
    for (let i = 1; i < maxBin; i++) {
      const v = sorted[Math.floor((i * n) / maxBin)];
      if (v > last) {
        out.push(v);
        last = v;
      }
    }
  }
  out.push(above(sorted[n - 1]));
}

/**
 * Sorts float32 values (no NaN) ascending: an LSD radix sort on their bits, three passes of 11, 11 and 10
 * bits, several times faster than a comparison sort on the million values of a large feature.
 */
export function sortFloat32(values: Float32Array, scratch: Float32Array): Float32Array {
  const n = values.length;
  const keys = new Uint32Array(values.buffer, values.byteOffset, n);
  const other = new Uint32Array(scratch.buffer, scratch.byteOffset, n);
  // Order-preserving keys: negative numbers have every bit flipped, the others their sign bit set.
  for (let i = 0; i < n; i++) keys[i] = keys[i] & 0x80000000 ? ~keys[i] >>> 0 : (keys[i] | 0x80000000) >>> 0;
  const count = new Int32Array(2048);
  let from = keys;
  let to = other;
  for (const [shift, bits] of [[0, 11], [11, 11], [22, 10]]) {
    const mask = (1 << bits) - 1;
    count.fill(0);
    for (let i = 0; i < n; i++) count[(from[i] >>> shift) & mask]++;
    let sum = 0;
    for (let d = 0; d <= mask; d++) {
      const c = count[d];
      count[d] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) to[count[(from[i] >>> shift) & mask]++] = from[i];
    const t = from;
    from = to;
    to = t;
  }
  for (let i = 0; i < n; i++) from[i] = from[i] & 0x80000000 ? (from[i] & 0x7fffffff) >>> 0 : ~from[i] >>> 0;
  return new Float32Array(from.buffer, from.byteOffset, n);
}

/** One numeric feature's cuts and minimum threshold, from column f of a row-major matrix. */
export function featureCuts(x: Float32Array, rows: number, F: number, f: number, maxBin: number, scratch: Float32Array, scratch2: Float32Array): { values: number[]; min: number } {
  let n = 0;
  for (let r = 0, at = f; r < rows; r++, at += F) {
    const v = x[at];
    if (v === v) scratch[n++] = v;
  }
  const sorted = sortFloat32(scratch.subarray(0, n), scratch2);
  const values: number[] = [];
  numericCuts(sorted, maxBin, values);
  return { values, min: n > 0 ? below(sorted[0]) : 0 };
}

/** Cuts assembled from each feature's (numeric ones computed by `numeric`, maybe on other threads). */
export function assembleCuts(t: Table, numeric: (f: number) => { values: ArrayLike<number>; min: number }): Cuts {
  const F = t.features;
  const ptr = new Int32Array(F + 1);
  const values: number[] = [];
  const min = new Float32Array(F);
  const categorical = t.categories.map((c) => c !== undefined);
  for (let f = 0; f < F; f++) {
    ptr[f] = values.length;
    const categories = t.categories[f];
    if (categories) {
      // A category's code is its bin; a category never seen gets a bin of its own all the same (empty).
      for (let c = 0; c < Math.max(1, categories.length); c++) values.push(c);
      min[f] = -1;
      continue;
    }
    const cut = numeric(f);
    for (let i = 0; i < cut.values.length; i++) values.push(cut.values[i]);
    min[f] = cut.min;
  }
  ptr[F] = values.length;
  return { features: F, ptr, values: Float32Array.from(values), min, categorical };
}

/** Bin of value v in feature f: the number of cuts (the sentinel aside) at or below v. */
export function binOf(cuts: Cuts, f: number, v: number): number {
  const lo0 = cuts.ptr[f];
  const nb = cuts.ptr[f + 1] - lo0;
  if (v !== v) return nb;
  if (cuts.categorical[f]) return v >= 0 && v < nb ? v : nb;
  let lo = 0;
  let hi = nb - 1;
  const values = cuts.values;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (values[lo0 + mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Rows [from, to) of `x` into `bins` (row-major) and `columns` (feature-major), as histogram slots. */
export function binRows(cuts: Cuts, slot2: Int32Array, x: Float32Array, bins: BinArray, columns: BinArray, from: number, to: number): void {
  const F = cuts.features;
  const rows = columns.length / F;
  for (let r = from; r < to; r++) {
    const at = r * F;
    for (let f = 0; f < F; f++) {
      const slot = slot2[f] / 2 + binOf(cuts, f, x[at + f]);
      bins[at + f] = slot;
      columns[f * rows + r] = slot;
    }
  }
}

/** Histogram layout: each feature's bins then its missing-value slot. */
export function slotLayout(cuts: Cuts): { slot2: Int32Array; slots: number } {
  const F = cuts.features;
  const slot2 = new Int32Array(F + 1);
  let slots = 0;
  for (let f = 0; f < F; f++) {
    slot2[f] = 2 * slots;
    slots += binCount(cuts, f) + 1;
  }
  slot2[F] = 2 * slots;
  return { slot2, slots };
}
