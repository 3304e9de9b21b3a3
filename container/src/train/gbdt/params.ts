// The gradient-boosted trees' hyperparameters: SageMaker's built-in XGBoost algorithm's names, aliases,
// defaults and ranges (XGBoost 1.7), each parsed with an error naming the key. docs/gradient-boosting.md
// lists them; a test checks the list against XGBOOST_KEYS.
import { ServerError } from '../../errors';
import { invalid, numberIn, oneOf, text, wholeNumber } from '../hyperparameter-values';

export const OBJECTIVES = ['reg:squarederror', 'reg:logistic', 'reg:absoluteerror', 'count:poisson', 'binary:logistic', 'binary:logitraw', 'multi:softprob', 'multi:softmax'] as const;
export type ObjectiveName = (typeof OBJECTIVES)[number];

export const METRICS = ['rmse', 'mae', 'logloss', 'error', 'auc', 'aucpr', 'mlogloss', 'merror', 'poisson-nloglik'] as const;
export type MetricName = (typeof METRICS)[number];

export interface BoostParams {
  numRound: number;
  objective: ObjectiveName;
  /** Classes of a multi:* objective (0 otherwise). */
  numClass: number;
  eta: number;
  gamma: number;
  maxDepth: number;
  minChildWeight: number;
  /** The trees' cap on a leaf's step; count:poisson also reads it (default 0.7 there) for its hessian. */
  maxDeltaStep?: number;
  subsample: number;
  colsampleBytree: number;
  colsampleBylevel: number;
  colsampleBynode: number;
  lambda: number;
  alpha: number;
  maxBin: number;
  growPolicy: 'depthwise' | 'lossguide';
  maxLeaves: number;
  scalePosWeight: number;
  /** The starting prediction (XGBoost's default 0.5; reg:absoluteerror estimates it, the labels' median). */
  baseScore?: number;
  seed: number;
  /** As given (eval_metric), then the tuning job's objective metric when it is not among them. */
  evalMetric: MetricName[];
  earlyStoppingRounds?: number;
  maxCatToOnehot: number;
  maxCatThreshold: number;
  /** Threads for histograms; default: the CPUs the job may use. */
  nthread?: number;
  /** Seconds between checkpoints (when a checkpoint folder is configured); 0: after every round. */
  checkpointInterval: number;
}

export const BOOST_DEFAULTS: Readonly<Omit<BoostParams, 'numRound'>> = {
  objective: 'reg:squarederror',
  numClass: 0,
  eta: 0.3,
  gamma: 0,
  maxDepth: 6,
  minChildWeight: 1,
  subsample: 1,
  colsampleBytree: 1,
  colsampleBylevel: 1,
  colsampleBynode: 1,
  lambda: 1,
  alpha: 0,
  maxBin: 256,
  growPolicy: 'depthwise',
  maxLeaves: 0,
  scalePosWeight: 1,
  seed: 0,
  evalMetric: [],
  maxCatToOnehot: 4,
  maxCatThreshold: 64,
  checkpointInterval: 10,
};

type Field = keyof BoostParams;

interface Spec {
  key: string;
  /** Other names XGBoost takes for it. */
  aliases?: string[];
  /** Undefined: accepted and checked, but changes nothing (the trainer always does what the value asks). */
  field?: Field;
  parse: (value: string, key: string) => unknown;
}

const fraction = numberIn(0, 1, { min: true });
const nonNegative = numberIn(0, Infinity);
/** Accepted only with the value this trainer implements; anything else says what it does instead. */
const only = (values: string[], why: string) => (v: string, key: string) => {
  if (!values.includes(v.trim())) throw new ServerError('TRAINING_CONFIG_INVALID', `hyperparameter "${key}"=${JSON.stringify(v)} is not supported: ${why}`);
  return v.trim();
};

function metricList(v: string, key: string): MetricName[] {
  const list = v.split(',').map((m) => m.trim()).filter((m) => m !== '');
  if (list.length === 0) invalid(key, v, `comma-separated metrics from ${METRICS.join(', ')}`);
  for (const m of list) if (!(METRICS as readonly string[]).includes(m)) invalid(key, v, `comma-separated metrics from ${METRICS.join(', ')} ("${m}" is not one)`);
  return [...new Set(list)] as MetricName[];
}

const SPECS: Spec[] = [
  { key: 'num_round', field: 'numRound', parse: wholeNumber(1) },
  { key: 'objective', field: 'objective', parse: oneOf(OBJECTIVES) },
  { key: 'num_class', field: 'numClass', parse: wholeNumber(2) },
  { key: 'eta', aliases: ['learning_rate'], field: 'eta', parse: nonNegative },
  { key: 'gamma', aliases: ['min_split_loss'], field: 'gamma', parse: nonNegative },
  { key: 'max_depth', field: 'maxDepth', parse: wholeNumber(0, 30) },
  { key: 'min_child_weight', field: 'minChildWeight', parse: nonNegative },
  { key: 'max_delta_step', field: 'maxDeltaStep', parse: nonNegative },
  { key: 'subsample', field: 'subsample', parse: fraction },
  { key: 'colsample_bytree', field: 'colsampleBytree', parse: fraction },
  { key: 'colsample_bylevel', field: 'colsampleBylevel', parse: fraction },
  { key: 'colsample_bynode', field: 'colsampleBynode', parse: fraction },
  { key: 'lambda', aliases: ['reg_lambda'], field: 'lambda', parse: nonNegative },
  { key: 'alpha', aliases: ['reg_alpha'], field: 'alpha', parse: nonNegative },
  { key: 'max_bin', field: 'maxBin', parse: wholeNumber(2, 65534) },
  { key: 'grow_policy', field: 'growPolicy', parse: oneOf(['depthwise', 'lossguide'] as const) },
  { key: 'max_leaves', field: 'maxLeaves', parse: wholeNumber(0) },
  { key: 'scale_pos_weight', field: 'scalePosWeight', parse: numberIn(0, Infinity, { min: true }) },
  { key: 'base_score', field: 'baseScore', parse: numberIn(-Infinity, Infinity) },
  { key: 'seed', field: 'seed', parse: (v, key) => (/^\s*-?\d+\s*$/.test(v) && Math.abs(Number(v)) < 2 ** 31 ? Number(v) >>> 0 : invalid(key, v, 'a whole number (32 bits)')) },
  { key: 'eval_metric', field: 'evalMetric', parse: metricList },
  { key: 'early_stopping_rounds', field: 'earlyStoppingRounds', parse: wholeNumber(1) },
  { key: 'max_cat_to_onehot', field: 'maxCatToOnehot', parse: wholeNumber(1) },
  { key: 'max_cat_threshold', field: 'maxCatThreshold', parse: wholeNumber(1) },
  { key: 'nthread', field: 'nthread', parse: wholeNumber(1, 256) },
  { key: 'checkpoint_interval', field: 'checkpointInterval', parse: nonNegative },
  // Accepted for compatibility: values that describe what this trainer does anyway.
  { key: 'tree_method', parse: only(['hist', 'auto', 'approx'], 'trees are grown from histograms (tree_method=hist); auto and approx are accepted and grown the same way, exact and gpu_hist are not') },
  { key: 'booster', parse: only(['gbtree'], 'this trainer grows tree boosters (gbtree); gblinear and dart are not implemented') },
  { key: 'verbosity', parse: wholeNumber(0, 3) },
  { key: 'sketch_eps', parse: numberIn(0, 1, { min: true, max: true }) },
  { key: 'predictor', parse: only(['auto', 'cpu_predictor'], 'prediction runs on the CPU') },
  { key: 'sampling_method', parse: only(['uniform'], 'rows are sampled uniformly (gradient_based sampling is GPU-only in XGBoost)') },
  { key: 'num_parallel_tree', parse: only(['1'], 'one tree per class and round (random forests, num_parallel_tree > 1, are not implemented)') },
  { key: 'deterministic_histogram', parse: oneOf(['true', 'false'] as const) },
  { key: 'csv_weights', parse: only(['0'], 'instance weights are not implemented') },
];

/** SageMaker XGBoost's keys this trainer does not implement: refused with that said, not as unknown keys. */
const NOT_IMPLEMENTED = ['updater', 'dsplit', 'refresh_leaf', 'process_type', 'monotone_constraints', 'interaction_constraints', 'sample_type', 'normalize_type', 'rate_drop', 'one_drop', 'skip_drop', 'lambda_bias', 'tweedie_variance_power', 'aft_loss_distribution', 'aft_loss_distribution_scale', 'save_model_on_termination', 'prob_buffer_row', 'use_dask_gpu_training', '_kfold', '_num_cv_round'];

/** Every key algorithm=xgboost takes (aliases included): docs/gradient-boosting.md's table lists the first names. */
export const XGBOOST_KEYS = SPECS.map((s) => s.key);
const ALL_KEYS = new Map(SPECS.flatMap((s) => [s.key, ...(s.aliases ?? [])].map((k) => [k, s] as const)));

/** Whether a key names an XGBoost hyperparameter (so a job that gives one, and no algorithm, is an XGBoost job). */
export function isXgboostKey(key: string): boolean {
  return ALL_KEYS.has(key) || NOT_IMPLEMENTED.includes(key);
}

/** Metrics whose larger values are better (XGBoost's early stopping maximises them). */
export function maximised(metric: MetricName): boolean {
  return metric === 'auc' || metric === 'aucpr';
}

/** Whether XGBoost can evaluate `metric` on the predictions of `objective`. */
function metricFits(metric: MetricName, objective: ObjectiveName): boolean {
  const multi = objective.startsWith('multi:');
  const probability = objective.startsWith('binary:') || objective === 'reg:logistic';
  switch (metric) {
    case 'rmse':
    case 'mae':
      return !multi;
    case 'logloss':
    case 'error':
      return probability;
    case 'auc':
    case 'aucpr':
      return probability || multi;
    case 'mlogloss':
    case 'merror':
      return multi;
    case 'poisson-nloglik':
      return objective === 'count:poisson';
  }
}

/**
 * The XGBoost hyperparameters of `raw` (keys the caller has not taken). `tuningMetric` is SageMaker's
 * `_tuning_objective_metric` ("validation:auc"): XGBoost's container adds it to the metrics it logs.
 */
export function parseBoostParams(raw: Readonly<Record<string, unknown>>, tuningMetric?: string): BoostParams {
  const out: Partial<BoostParams> = { ...BOOST_DEFAULTS, evalMetric: [] };
  const seen = new Map<Spec, string>();
  for (const [key, value] of Object.entries(raw)) {
    if (NOT_IMPLEMENTED.includes(key)) throw new ServerError('TRAINING_CONFIG_INVALID', `hyperparameter "${key}" is SageMaker XGBoost's, but this trainer does not implement it${key.startsWith('_k') || key === '_num_cv_round' ? ' (k-fold cross-validation)' : ''}; remove it`);
    const spec = ALL_KEYS.get(key);
    if (!spec) throw new ServerError('TRAINING_CONFIG_INVALID', `unknown hyperparameter "${key}" for algorithm=xgboost; known: ${[...ALL_KEYS.keys()].join(', ')}`);
    const earlier = seen.get(spec);
    if (earlier !== undefined) throw new ServerError('TRAINING_CONFIG_INVALID', `hyperparameters "${earlier}" and "${key}" are the same setting; give one`);
    seen.set(spec, key);
    const parsed = spec.parse(text(key, value), key);
    if (spec.field) (out as Record<string, unknown>)[spec.field] = parsed;
  }
  if (out.numRound === undefined) throw new ServerError('TRAINING_CONFIG_INVALID', 'hyperparameter "num_round" is required for algorithm=xgboost (the number of boosting rounds), as in SageMaker\'s XGBoost');
  const p = out as BoostParams;
  const multi = p.objective.startsWith('multi:');
  if (multi && p.numClass === 0) throw new ServerError('TRAINING_CONFIG_INVALID', `objective=${p.objective} needs hyperparameter "num_class" (the number of classes)`);
  if (!multi) p.numClass = 0;
  if (p.maxDepth === 0 && p.growPolicy !== 'lossguide') throw new ServerError('TRAINING_CONFIG_INVALID', 'hyperparameter "max_depth"=0 (no limit) needs grow_policy=lossguide, as XGBoost requires');
  if (p.maxDepth === 0 && p.maxLeaves === 0) throw new ServerError('TRAINING_CONFIG_INVALID', 'max_depth=0 and max_leaves=0 leave trees unbounded; set one of them');
  if (p.baseScore !== undefined) {
    const logistic = p.objective === 'binary:logistic' || p.objective === 'reg:logistic';
    if (logistic && !(p.baseScore > 0 && p.baseScore < 1)) invalid('base_score', String(p.baseScore), `a number > 0 and < 1 for objective=${p.objective}`);
    if (p.objective === 'count:poisson' && !(p.baseScore > 0)) invalid('base_score', String(p.baseScore), 'a number > 0 for objective=count:poisson');
  }
  if (tuningMetric !== undefined) {
    const m = /^(?:validation|train):(.+)$/.exec(tuningMetric.trim());
    const name = m?.[1];
    if (!name || !(METRICS as readonly string[]).includes(name)) {
      throw new ServerError('TRAINING_CONFIG_INVALID', `hyperparameter "_tuning_objective_metric"=${JSON.stringify(tuningMetric)} is not a metric this trainer logs: expected validation:<metric> or train:<metric> with one of ${METRICS.join(', ')}`);
    }
    if (!p.evalMetric.includes(name as MetricName)) p.evalMetric = [...p.evalMetric, name as MetricName];
    // XGBoost's container stops early on the tuning metric: it must be the last one.
    else p.evalMetric = [...p.evalMetric.filter((x) => x !== name), name as MetricName];
  }
  for (const metric of p.evalMetric) {
    if (!metricFits(metric, p.objective)) throw new ServerError('TRAINING_CONFIG_INVALID', `eval_metric "${metric}" does not apply to objective=${p.objective}`);
  }
  return p;
}

/** The metric XGBoost 1.7 evaluates when eval_metric is not given. */
export function defaultMetric(objective: ObjectiveName): MetricName {
  switch (objective) {
    case 'binary:logistic':
    case 'binary:logitraw':
      return 'logloss';
    case 'multi:softprob':
    case 'multi:softmax':
      return 'mlogloss';
    case 'reg:absoluteerror':
      return 'mae';
    case 'count:poisson':
      return 'poisson-nloglik';
    default:
      return 'rmse';
  }
}
