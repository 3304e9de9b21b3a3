// XGBoost 1.7's evaluation metrics, computed as it computes them: on the transformed float32 predictions,
// summed in double, with its clamps (1e-16 in the log losses) and its AUC (ties as one step, one-vs-rest
// weighted by class prevalence for several classes) and its area under the precision-recall curve.
import type { MetricName } from './params';

const EPS = 1e-16;

/** preds: [rows, groups] as the objective's evalTransform gives them; labels: one per row. */
export function evaluate(metric: MetricName, preds: Float32Array, labels: Float32Array, rows: number, groups: number): number {
  switch (metric) {
    case 'rmse': {
      let s = 0;
      for (let r = 0; r < rows; r++) {
        const d = labels[r] - preds[r];
        s += d * d;
      }
      return Math.sqrt(s / rows);
    }
    case 'mae': {
      let s = 0;
      for (let r = 0; r < rows; r++) s += Math.abs(labels[r] - preds[r]);
      return s / rows;
    }
    case 'logloss': {
      let s = 0;
      for (let r = 0; r < rows; r++) {
        const y = labels[r];
        const p = preds[r];
        if (p < EPS) s += -y * Math.log(EPS) - (1 - y) * Math.log(1 - EPS);
        else if (1 - p < EPS) s += -y * Math.log(1 - EPS) - (1 - y) * Math.log(EPS);
        // A 0/1 label needs one logarithm (the other term is 0).
        else if (y === 1) s -= Math.log(p);
        else if (y === 0) s -= Math.log(1 - p);
        else s += -(y * Math.log(p) + (1 - y) * Math.log(1 - p));
      }
      return s / rows;
    }
    case 'error': {
      let wrong = 0;
      for (let r = 0; r < rows; r++) if ((preds[r] > 0.5 ? 1 : 0) !== labels[r]) wrong++;
      return wrong / rows;
    }
    case 'poisson-nloglik': {
      let s = 0;
      for (let r = 0; r < rows; r++) {
        const y = labels[r];
        const p = Math.max(preds[r], EPS);
        s += logGamma(y + 1) + p - Math.log(p) * y;
      }
      return s / rows;
    }
    case 'mlogloss': {
      let s = 0;
      for (let r = 0; r < rows; r++) {
        const p = preds[r * groups + labels[r]];
        s -= Math.log(Math.max(p, EPS));
      }
      return s / rows;
    }
    case 'merror': {
      let wrong = 0;
      for (let r = 0; r < rows; r++) {
        let best = 0;
        for (let k = 1; k < groups; k++) if (preds[r * groups + k] > preds[r * groups + best]) best = k;
        if (best !== labels[r]) wrong++;
      }
      return wrong / rows;
    }
    case 'auc':
    case 'aucpr': {
      const pr = metric === 'aucpr';
      if (groups === 1) return binaryArea(preds, (r) => labels[r], rows, 1, 0, pr).area;
      // One class against the rest, each weighted by its prevalence.
      let sum = 0;
      let positives = 0;
      for (let k = 0; k < groups; k++) {
        const a = binaryArea(preds, (r) => (labels[r] === k ? 1 : 0), rows, groups, k, pr);
        if (!(a.normaliser > 0)) return NaN;
        sum += a.area * a.positives;
        positives += a.positives;
      }
      return positives > 0 ? sum / positives : NaN;
    }
  }
}

/** Whether the channel has what the metric needs (an AUC needs both classes). */
interface Area {
  area: number;
  positives: number;
  normaliser: number;
}

/**
 * ROC or PR area of column `column` of `preds` against 0/1 labels. Equal scores are one step of the curve
 * (as XGBoost's scan over predictions sorted in descending order): positives' and negatives' scores are
 * sorted apart and walked down together, distinct value by distinct value.
 */
function binaryArea(preds: Float32Array, label: (r: number) => number, rows: number, stride: number, column: number, pr: boolean): Area {
  let totalPos = 0;
  for (let r = 0; r < rows; r++) totalPos += label(r);
  const totalNeg = rows - totalPos;
  if (totalPos <= 0 || totalNeg <= 0) return { area: NaN, positives: totalPos, normaliser: 0 };
  const pos = new Float32Array(totalPos);
  const neg = new Float32Array(totalNeg);
  for (let r = 0, i = 0, j = 0; r < rows; r++) {
    const v = preds[r * stride + column];
    if (label(r) === 1) pos[i++] = v;
    else neg[j++] = v;
  }
  pos.sort();
  neg.sort();
  const step = pr ? (f0: number, f1: number, t0: number, t1: number) => prArea(f0, f1, t0, t1, totalPos) : (f0: number, f1: number, t0: number, t1: number) => (Math.abs(f1 - f0) * (t0 + t1)) / 2;
  let i = totalPos - 1;
  let j = totalNeg - 1;
  let tp = 0;
  let fp = 0;
  let area = 0;
  while (i >= 0 || j >= 0) {
    const v = i < 0 ? neg[j] : j < 0 ? pos[i] : Math.max(pos[i], neg[j]);
    const tpPrev = tp;
    const fpPrev = fp;
    while (i >= 0 && pos[i] === v) {
      tp++;
      i--;
    }
    while (j >= 0 && neg[j] === v) {
      fp++;
      j--;
    }
    if (tp === tpPrev && fp === fpPrev) {
      // NaN scores (a diverged model) match nothing: step over them rather than loop.
      if (i >= 0) i--;
      if (j >= 0) j--;
      continue;
    }
    area += step(fpPrev, fp, tpPrev, tp);
  }
  return { area: pr ? area : area / (fp * tp), positives: totalPos, normaliser: fp * tp };
}

/** One step of XGBoost's precision-recall area (Davis and Goadrich's interpolation between points). */
function prArea(fpPrev: number, fp: number, tpPrev: number, tp: number, totalPos: number): number {
  const prPrev = tpPrev / totalPos;
  const prNow = tp / totalPos;
  let a: number;
  let b: number;
  if (tp === tpPrev) {
    a = 1;
    b = 0;
  } else {
    const h = (fp - fpPrev) / (tp - tpPrev);
    a = 1 + h;
    b = (fpPrev - h * tpPrev) / totalPos;
  }
  if (b !== 0) return (prNow - prPrev - (b / a) * (Math.log(a * prNow + b) - Math.log(a * prPrev + b))) / a;
  return (prNow - prPrev) / a;
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7): the Poisson log-likelihood's log(y!). */
export function logGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}
