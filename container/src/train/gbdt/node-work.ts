// The per-node work of growing a tree, as plain functions any trainer thread runs on shared memory:
// partitioning a node's rows by its split, and evaluating a split's two children (the sibling's histogram
// taken from the parent's by subtraction first). Chunks of these never touch the same rows or histograms.
import { binCount, type Cuts } from './bins';
import { findSplit, type Split, type SplitParams } from './split';

/**
 * Stable partition of rows[from, to) by a split on feature f (left first), using `scratch` at the same
 * positions for the right side; returns where the right side starts. `last` is the last bin going left of a
 * numeric split; `categories` (sorted) go right in a categorical one.
 */
export function partitionRows(cuts: Cuts, slot2: Int32Array, columns: Uint16Array | Uint32Array, rowsTotal: number, rows: Int32Array, scratch: Int32Array, from: number, to: number, f: number, last: number, defaultLeft: boolean, categories: ArrayLike<number> | undefined): number {
  const column = columns.subarray(f * rowsTotal, (f + 1) * rowsTotal);
  // Cells hold histogram slots: feature f's bins start at slot2[f] / 2, its missing slot follows them.
  const first = slot2[f] / 2;
  const missing = first + binCount(cuts, f);
  let w = from;
  let k = from;
  if (categories) {
    const set = new Uint8Array(binCount(cuts, f));
    for (let i = 0; i < categories.length; i++) set[categories[i]] = 1;
    for (let i = from; i < to; i++) {
      const r = rows[i];
      const b = column[r];
      const left = b === missing ? defaultLeft : set[b - first] === 0;
      if (left) rows[w++] = r;
      else scratch[k++] = r;
    }
  } else {
    const lastSlot = first + last;
    for (let i = from; i < to; i++) {
      const r = rows[i];
      const b = column[r];
      const left = b === missing ? defaultLeft : b <= lastSlot;
      if (left) rows[w++] = r;
      else scratch[k++] = r;
    }
  }
  rows.set(scratch.subarray(from, k), w);
  return w;
}

/** Values per evaluated split in the shared output: loss change, feature, bin, threshold, default left, left G, left H, categories. */
export const SPLIT_VALUES = 8;

/** Writes a split into out[at ..] and its categories into cats[catAt ..]. */
export function writeSplit(s: Split, out: Float64Array, at: number, cats: Int32Array, catAt: number): void {
  out[at] = s.lossChg;
  out[at + 1] = s.feature;
  out[at + 2] = s.bin;
  out[at + 3] = s.threshold;
  out[at + 4] = s.defaultLeft ? 1 : 0;
  out[at + 5] = s.leftG;
  out[at + 6] = s.leftH;
  out[at + 7] = s.categories ? s.categories.length : -1;
  if (s.categories) cats.set(s.categories, catAt);
}

export function readSplit(out: Float64Array, at: number, cats: Int32Array, catAt: number, G: number, H: number): Split {
  const count = out[at + 7];
  return {
    lossChg: out[at],
    feature: out[at + 1],
    bin: out[at + 2],
    threshold: out[at + 3],
    defaultLeft: out[at + 4] === 1,
    ...(count >= 0 ? { categories: Array.from(cats.subarray(catAt, catAt + count)) } : {}),
    leftG: out[at + 5],
    leftH: out[at + 6],
    rightG: G - out[at + 5],
    rightH: H - out[at + 6],
  };
}

/**
 * A split's children: the parent's histogram minus the built child's becomes the sibling's (in place),
 * then each child's best split over its feature set.
 */
export function evaluateChildren(p: SplitParams, cuts: Cuts, slot2: Int32Array, slots: number, parent: Float64Array, parentBase: number, built: Float64Array, builtBase: number, builtIsLeft: boolean, stats: ArrayLike<number>, leftFeatures: Int32Array, rightFeatures: Int32Array): [Split, Split] {
  const size = 2 * slots;
  for (let s = 0; s < size; s++) parent[parentBase + s] -= built[builtBase + s];
  const [lh, lb, rh, rb] = builtIsLeft ? [built, builtBase, parent, parentBase] : [parent, parentBase, built, builtBase];
  return [findSplit(p, cuts, slot2, lh, lb, stats[0], stats[1], leftFeatures), findSplit(p, cuts, slot2, rh, rb, stats[2], stats[3], rightFeatures)];
}
