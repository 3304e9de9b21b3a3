// Split finding on a node's histogram, as XGBoost 1.7's hist evaluator does it: second-order gain with
// lambda, alpha and max_delta_step, min_child_weight on both sides, missing values sent each way to learn
// their default direction, and categorical features split one category against the rest (fewer than
// max_cat_to_onehot categories) or by a partition of categories sorted by their leaf weight.
import { binCount, type Cuts } from './bins';

export interface SplitParams {
  lambda: number;
  alpha: number;
  maxDeltaStep: number;
  minChildWeight: number;
  maxCatToOnehot: number;
  maxCatThreshold: number;
}

/** The best split found for a node; lossChg 0 when there is none. */
export interface Split {
  lossChg: number;
  feature: number;
  /** Numeric: values in bins 0..bin go left (x < threshold); -1 sends every observed value right. */
  bin: number;
  threshold: number;
  defaultLeft: boolean;
  /** Categorical: the categories that go right (XGBoost's convention), sorted. */
  categories?: number[];
  leftG: number;
  leftH: number;
  rightG: number;
  rightH: number;
}

export const emptySplit = (): Split => ({ lossChg: 0, feature: 0, bin: 0, threshold: 0, defaultLeft: false, leftG: 0, leftH: 0, rightG: 0, rightH: 0 });

function thresholdL1(g: number, alpha: number): number {
  if (g > alpha) return g - alpha;
  if (g < -alpha) return g + alpha;
  return 0;
}

/** XGBoost's CalcWeight: the leaf's optimal step, 0 below min_child_weight, capped by max_delta_step. */
export function leafWeight(p: SplitParams, g: number, h: number): number {
  if (h < p.minChildWeight || h <= 0) return 0;
  let w = -thresholdL1(g, p.alpha) / (h + p.lambda);
  if (p.maxDeltaStep !== 0 && Math.abs(w) > p.maxDeltaStep) w = w > 0 ? p.maxDeltaStep : -p.maxDeltaStep;
  return w;
}

/** XGBoost's CalcGainGivenWeight for the weight CalcWeight gives (the hist evaluator's form). */
export function nodeGain(p: SplitParams, g: number, h: number): number {
  if (h <= 0) return 0;
  if (p.maxDeltaStep === 0) {
    const t = thresholdL1(g, p.alpha);
    return (t * t) / (h + p.lambda);
  }
  const w = leafWeight(p, g, h);
  return -(2 * g * w + (h + p.lambda) * w * w);
}

/**
 * The best split of a node over `features`, from its histogram at `base`. Candidates are tried feature by
 * feature in increasing order; a later one replaces the best only with a strictly larger gain, which is
 * XGBoost's tie rule (the lower feature index wins).
 */
export function findSplit(p: SplitParams, cuts: Cuts, slot2: Int32Array, hist: Float64Array, base: number, G: number, H: number, features: Int32Array | number[]): Split {
  const best = emptySplit();
  const rootGain = nodeGain(p, G, H);
  const mcw = p.minChildWeight;
  const consider = (gain: number, feature: number, bin: number, threshold: number, defaultLeft: boolean, lg: number, lh: number, categories?: number[]): void => {
    const loss = Math.fround(gain - rootGain);
    if (!(loss > best.lossChg) || !Number.isFinite(loss)) return;
    best.lossChg = loss;
    best.feature = feature;
    best.bin = bin;
    best.threshold = threshold;
    best.defaultLeft = defaultLeft;
    best.categories = categories;
    best.leftG = lg;
    best.leftH = lh;
    best.rightG = G - lg;
    best.rightH = H - lh;
  };
  for (let k = 0; k < features.length; k++) {
    const f = features[k];
    const nb = binCount(cuts, f);
    const s0 = base + slot2[f];
    if (cuts.categorical[f]) {
      categoricalSplits(p, hist, s0, nb, G, H, f, consider);
      continue;
    }
    const v0 = cuts.ptr[f];
    // Forward: bins 0..i left, the rest and the missing values right.
    let lg = 0;
    let lh = 0;
    for (let i = 0; i < nb; i++) {
      lg += hist[s0 + 2 * i];
      lh += hist[s0 + 2 * i + 1];
      const rg = G - lg;
      const rh = H - lh;
      if (lh >= mcw && rh >= mcw) consider(nodeGain(p, lg, lh) + nodeGain(p, rg, rh), f, i, cuts.values[v0 + i], false, lg, lh);
    }
    // Backward, only when the node has missing values in f: bins i.. right, the rest and the missing left.
    if (lg === G && lh === H) continue;
    let rg = 0;
    let rh = 0;
    for (let i = nb - 1; i >= 0; i--) {
      rg += hist[s0 + 2 * i];
      rh += hist[s0 + 2 * i + 1];
      const lg2 = G - rg;
      const lh2 = H - rh;
      if (lh2 >= mcw && rh >= mcw) consider(nodeGain(p, rg, rh) + nodeGain(p, lg2, lh2), f, i - 1, i === 0 ? cuts.min[f] : cuts.values[v0 + i - 1], true, lg2, lh2);
    }
  }
  return best;
}

type Consider = (gain: number, feature: number, bin: number, threshold: number, defaultLeft: boolean, lg: number, lh: number, categories?: number[]) => void;

function categoricalSplits(p: SplitParams, hist: Float64Array, s0: number, nb: number, G: number, H: number, f: number, consider: Consider): void {
  const mcw = p.minChildWeight;
  if (nb < p.maxCatToOnehot) {
    // One category right, every other left; the missing values tried on each side.
    let fg = 0;
    let fh = 0;
    for (let i = 0; i < nb; i++) {
      fg += hist[s0 + 2 * i];
      fh += hist[s0 + 2 * i + 1];
    }
    const mg = G - fg;
    const mh = H - fh;
    for (let i = 0; i < nb; i++) {
      let rg = hist[s0 + 2 * i];
      let rh = hist[s0 + 2 * i + 1];
      if (H - rh >= mcw && rh >= mcw) consider(nodeGain(p, G - rg, H - rh) + nodeGain(p, rg, rh), f, 0, NaN, true, G - rg, H - rh, [i]);
      rg += mg;
      rh += mh;
      if (H - rh >= mcw && rh >= mcw) consider(nodeGain(p, G - rg, H - rh) + nodeGain(p, rg, rh), f, 0, NaN, false, G - rg, H - rh, [i]);
    }
    return;
  }
  // Partition: categories ordered by their own leaf weight; a prefix of that order goes right.
  const order = Array.from({ length: nb }, (_, i) => i);
  const weight = order.map((i) => leafWeight(p, hist[s0 + 2 * i], hist[s0 + 2 * i + 1]));
  order.sort((a, b) => weight[a] - weight[b] || a - b);
  const n = Math.min(p.maxCatThreshold, nb);
  let best = { gain: -Infinity, right: 0, defaultLeft: false, lg: 0, lh: 0 };
  // Forward: the first j+1 categories right; the others and the missing values left.
  let rg = 0;
  let rh = 0;
  for (let j = 0; j < n - 1; j++) {
    rg += hist[s0 + 2 * order[j]];
    rh += hist[s0 + 2 * order[j] + 1];
    const lg = G - rg;
    const lh = H - rh;
    if (lh >= mcw && rh >= mcw) {
      const gain = nodeGain(p, lg, lh) + nodeGain(p, rg, rh);
      if (gain > best.gain) best = { gain, right: j + 1, defaultLeft: true, lg, lh };
    }
  }
  // Backward: the last categories left; the first ones and the missing values right.
  let lg = 0;
  let lh = 0;
  for (let j = nb - 1; j > nb - n; j--) {
    lg += hist[s0 + 2 * order[j]];
    lh += hist[s0 + 2 * order[j] + 1];
    const rg2 = G - lg;
    const rh2 = H - lh;
    if (lh >= mcw && rh2 >= mcw) {
      const gain = nodeGain(p, lg, lh) + nodeGain(p, rg2, rh2);
      if (gain > best.gain) best = { gain, right: j, defaultLeft: false, lg, lh };
    }
  }
  if (best.right > 0) consider(best.gain, f, 0, NaN, best.defaultLeft, best.lg, best.lh, order.slice(0, best.right).sort((a, b) => a - b));
}
