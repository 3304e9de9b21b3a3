// What each supported objective does with the trees' sum (the margin): the library's own predict output,
// computed in the library's own precision and order of operations (XGBoost in float32, LightGBM in double),
// and which SageMaker XGBoost objective answers the same way (SAGEMAKER_INFERENCE_OUTPUT reads that).
import type { FloatArray } from '../vocabulary';

/** The objectives whose outputs SageMaker's XGBoost container knows how to answer (regression: any value). */
export type ContractObjective = 'binary:logistic' | 'binary:logitraw' | 'binary:hinge' | 'multi:softprob' | 'multi:softmax' | 'regression';

export interface Objective {
  /** As the library names it (binary:logistic, multiclass, ...). */
  name: string;
  contract: ContractObjective;
  /** Per-output transform of the margin; `softmax` transforms a row's outputs together. */
  transform: 'identity' | 'sigmoid' | 'exp' | 'hinge' | 'softmax' | 'argmax' | 'square-signed' | 'log1p-exp';
  /** LightGBM's sigmoid parameter (binary, multiclassova, cross_entropy). */
  sigmoid?: number;
}

const f = Math.fround;
const EXP_LIMIT = f(88.7);
const EPS = f(1e-16);

/** XGBoost's common::Sigmoid, step by step in float32. */
export function sigmoidF32(x: number): number {
  const e = f(Math.exp(Math.min(-x, EXP_LIMIT)));
  return f(1 / f(f(e + 1) + EPS));
}

/** XGBoost's ProbToMargin for base_score, in float32: what the stored base_score means in margin space. */
export function xgboostBaseMargin(objective: string, baseScore: number): number {
  const b = f(baseScore);
  if (objective === 'binary:logistic' || objective === 'reg:logistic') return f(-f(Math.log(f(f(1 / b) - 1))));
  if (['count:poisson', 'reg:gamma', 'reg:tweedie', 'survival:cox', 'survival:aft'].includes(objective)) return f(Math.log(b));
  return b;
}

/** XGBoost 1.x objectives by name; undefined for one the server does not predict. */
export function xgboostObjective(name: string): Objective | undefined {
  switch (name) {
    case 'binary:logistic':
      return { name, contract: 'binary:logistic', transform: 'sigmoid' };
    case 'binary:logitraw':
      return { name, contract: 'binary:logitraw', transform: 'identity' };
    case 'binary:hinge':
      return { name, contract: 'binary:hinge', transform: 'hinge' };
    case 'multi:softprob':
      return { name, contract: 'multi:softprob', transform: 'softmax' };
    case 'multi:softmax':
      return { name, contract: 'multi:softmax', transform: 'argmax' };
    case 'reg:logistic':
      return { name, contract: 'regression', transform: 'sigmoid' };
    case 'count:poisson':
    case 'reg:gamma':
    case 'reg:tweedie':
    case 'survival:cox':
    case 'survival:aft':
      return { name, contract: 'regression', transform: 'exp' };
    case 'reg:squarederror':
    case 'reg:linear':
    case 'reg:squaredlogerror':
    case 'reg:pseudohubererror':
    case 'reg:absoluteerror':
    case 'rank:pairwise':
    case 'rank:ndcg':
    case 'rank:map':
      return { name, contract: 'regression', transform: 'identity' };
    default:
      return undefined;
  }
}

/**
 * A LightGBM objective line ("binary sigmoid:1", "multiclass num_class:3", "regression sqrt"); undefined
 * for one the server does not predict.
 */
export function lightgbmObjective(line: string): Objective | undefined {
  const [name, ...params] = line.trim().split(/\s+/);
  const param = (key: string) => params.find((p) => p.startsWith(`${key}:`))?.slice(key.length + 1);
  const sigmoid = Number(param('sigmoid') ?? 1);
  switch (name) {
    case 'binary':
      return { name, contract: 'binary:logistic', transform: 'sigmoid', sigmoid };
    case 'multiclass':
      return { name, contract: 'multi:softprob', transform: 'softmax' };
    case 'multiclassova':
      return { name, contract: 'multi:softprob', transform: 'sigmoid', sigmoid };
    case 'cross_entropy':
      return { name, contract: 'regression', transform: 'sigmoid', sigmoid: 1 };
    case 'cross_entropy_lambda':
      return { name, contract: 'regression', transform: 'log1p-exp' };
    case 'poisson':
    case 'gamma':
    case 'tweedie':
      return { name, contract: 'regression', transform: 'exp' };
    case 'regression':
    case 'regression_l1':
    case 'huber':
    case 'fair':
    case 'quantile':
    case 'mape':
    case 'lambdarank':
    case 'rank_xendcg':
      return { name, contract: 'regression', transform: params.includes('sqrt') ? 'square-signed' : 'identity' };
    default:
      return undefined;
  }
}

/**
 * One booster's predict output for one row: margins m[at .. at+groups) into out[outAt ..). XGBoost
 * (float32 arrays) computes as its float code does; LightGBM (float64) as its double code does.
 */
export function transformRow(objective: Objective, m: FloatArray, at: number, groups: number, out: FloatArray, outAt: number): void {
  const single = m instanceof Float32Array;
  switch (objective.transform) {
    case 'identity':
      for (let g = 0; g < groups; g++) out[outAt + g] = m[at + g];
      return;
    case 'sigmoid':
      for (let g = 0; g < groups; g++) out[outAt + g] = single ? sigmoidF32(m[at + g]) : 1 / (1 + Math.exp(-(objective.sigmoid ?? 1) * m[at + g]));
      return;
    case 'exp':
      for (let g = 0; g < groups; g++) out[outAt + g] = Math.exp(m[at + g]);
      return;
    case 'square-signed':
      for (let g = 0; g < groups; g++) out[outAt + g] = Math.sign(m[at + g]) * m[at + g] * m[at + g];
      return;
    case 'log1p-exp':
      for (let g = 0; g < groups; g++) out[outAt + g] = Math.log1p(Math.exp(m[at + g]));
      return;
    case 'hinge':
      for (let g = 0; g < groups; g++) out[outAt + g] = m[at + g] > 0 ? 1 : 0;
      return;
    case 'argmax': {
      // std::max_element: the first of equal maxima.
      let best = 0;
      for (let g = 1; g < groups; g++) if (m[at + g] > m[at + best]) best = g;
      out[outAt] = best;
      return;
    }
    case 'softmax':
      softmax(m, at, groups, out, outAt, single);
  }
}

/** XGBoost's common::Softmax (float32 values, a double sum) or LightGBM's Common::Softmax (double). */
export function softmax(m: FloatArray, at: number, n: number, out: FloatArray, outAt: number, single: boolean): void {
  let max = m[at];
  for (let g = 1; g < n; g++) max = Math.max(max, m[at + g]);
  let sum = 0;
  for (let g = 0; g < n; g++) {
    const e = single ? f(Math.exp(f(m[at + g] - max))) : Math.exp(m[at + g] - max);
    out[outAt + g] = e;
    sum += e;
  }
  const divisor = single ? f(sum) : sum;
  for (let g = 0; g < n; g++) out[outAt + g] = out[outAt + g] / divisor;
}

/** Width of the library's predict output for a booster of `groups` outputs. */
export function outputWidth(objective: Objective, groups: number): number {
  return objective.transform === 'argmax' ? 1 : groups;
}
