// One regression tree as XGBoost's RegTree holds it: nodes in allocation order (a split's children are
// the next two ids), splits `x < threshold` (float32) or category sets (a category in the set goes right),
// a default direction for missing values, and leaf values that already include the learning rate.

export interface Tree {
  /** Children of a split; -1 at a leaf. */
  left: number[];
  right: number[];
  parent: number[];
  /** The split's feature (0 at a leaf). */
  feature: number[];
  /** A numeric split's threshold (float32), NaN for a categorical split; a leaf's value. */
  value: number[];
  /** A numeric split's last bin going left (training rows are routed by bin); -1: every value goes right. */
  bin: number[];
  defaultLeft: boolean[];
  /** A categorical split's categories (they go right), sorted. */
  categories: (number[] | undefined)[];
  /** The node's weight before the learning rate (XGBoost's base_weights), the split's gain, the hessian sum. */
  baseWeight: number[];
  lossChg: number[];
  sumHess: number[];
}

export function newTree(): Tree {
  return { left: [], right: [], parent: [], feature: [], value: [], bin: [], defaultLeft: [], categories: [], baseWeight: [], lossChg: [], sumHess: [] };
}

/** Appends a leaf; returns its id. */
export function addLeaf(t: Tree, parent: number, value: number, baseWeight: number, sumHess: number): number {
  t.left.push(-1);
  t.right.push(-1);
  t.parent.push(parent);
  t.feature.push(0);
  t.value.push(Math.fround(value));
  t.bin.push(0);
  t.defaultLeft.push(false);
  t.categories.push(undefined);
  t.baseWeight.push(Math.fround(baseWeight));
  t.lossChg.push(0);
  t.sumHess.push(sumHess);
  return t.left.length - 1;
}

/** Whether a category code goes left (XGBoost: a category in the set goes right; any other value left). */
function categoryLeft(categories: number[], v: number): boolean {
  let lo = 0;
  let hi = categories.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (categories[mid] === v) return false;
    if (categories[mid] < v) lo = mid + 1;
    else hi = mid - 1;
  }
  return true;
}

/** The leaf a row of float32 values reaches. */
export function leafOf(t: Tree, x: Float32Array, at: number): number {
  let n = 0;
  while (t.left[n] >= 0) {
    const v = x[at + t.feature[n]];
    let left: boolean;
    if (v !== v) left = t.defaultLeft[n];
    else {
      const cats = t.categories[n];
      left = cats ? categoryLeft(cats, v) : v < t.value[n];
    }
    n = left ? t.left[n] : t.right[n];
  }
  return n;
}

/** Adds the tree's leaf values to margins[r·stride + offset] for every row of x (float32 sums, as XGBoost's). */
export function addPredictions(t: Tree, x: Float32Array, features: number, rows: number, margins: Float32Array, stride: number, offset: number): void {
  for (let r = 0; r < rows; r++) margins[r * stride + offset] += t.value[leafOf(t, x, r * features)];
}
