// Training hyperparameters: SageMaker passes every value as a string; each is parsed to its type here,
// with an error naming the key, and every one has a default (listed in docs/training.md, and XGBoost's in
// docs/gradient-boosting.md). The algorithm is `algorithm`, else xgboost when the keys are XGBoost's.
import { ServerError } from '../errors';
import { isXgboostKey, parseBoostParams, type BoostParams } from './gbdt/params';
import { bool, invalid, names, oneOf, positive, text, wholeNumber } from './hyperparameter-values';

export const ALGORITHMS = ['logistic', 'linear', 'xgboost'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

export interface Hyperparameters {
  /** logistic: multinomial logistic regression (classification); linear: ridge regression; xgboost: gradient-boosted trees. */
  algorithm: Algorithm;
  /** The CSV files have a header line (feature names come from it). */
  header: boolean;
  /** The label column: a name (implies header) or a 0-based index; default the first column. */
  target: string | number;
  /** L2 penalty on the weights. */
  l2: number;
  /** logistic: gradient-descent passes over the data. */
  epochs: number;
  /** logistic: step size. */
  learningRate: number;
  /** logistic: rows per gradient step; 0 = all rows (full batch). */
  miniBatchSize: number;
  /** logistic: stop early when the training loss improves by less than this between epochs. */
  tolerance: number;
  /** Seed for the mini-batch order, so the same data and settings give the same model. */
  seed: number;
  /** Feature names for header-less data (comma-separated), so callers can send headers and named fields. */
  featureNames?: string[];
  /** Feature columns to one-hot encode whatever their values (comma-separated names); others are detected. */
  categorical?: string[];
  /** algorithm=xgboost: the boosting hyperparameters. */
  boost?: BoostParams;
}

interface Spec {
  key: string;
  field: keyof Hyperparameters;
  parse: (value: string, key: string) => unknown;
}

/** Keys every algorithm takes: what the data is and how its columns are read. */
const COMMON: Spec[] = [
  { key: 'algorithm', field: 'algorithm', parse: oneOf(ALGORITHMS) },
  { key: 'header', field: 'header', parse: bool },
  { key: 'target', field: 'target', parse: (v, key) => (v.trim() === '' ? invalid(key, v, 'a column name or a 0-based column index') : /^\d+$/.test(v.trim()) ? Number(v) : v.trim()) },
];

const LINEAR: Spec[] = [
  { key: 'l2', field: 'l2', parse: positive(true) },
  { key: 'epochs', field: 'epochs', parse: wholeNumber(1) },
  { key: 'learning_rate', field: 'learningRate', parse: positive(false) },
  { key: 'mini_batch_size', field: 'miniBatchSize', parse: wholeNumber(0) },
  { key: 'tolerance', field: 'tolerance', parse: positive(true) },
  { key: 'seed', field: 'seed', parse: wholeNumber(0) },
];

const COLUMNS: Spec[] = [
  { key: 'feature_names', field: 'featureNames', parse: (v, key) => names(v, key) },
  { key: 'categorical', field: 'categorical', parse: (v, key) => (v.trim() === '' ? [] : names(v, key)) },
];

const SPECS: Spec[] = [...COMMON, ...LINEAR, ...COLUMNS];
/** What algorithm=xgboost takes besides its own keys. */
const XGBOOST_SHARED = [...COMMON, ...COLUMNS];

export const DEFAULTS: Readonly<Hyperparameters> = {
  algorithm: 'logistic',
  header: false,
  target: 0,
  l2: 0.001,
  epochs: 2000,
  learningRate: 0.5,
  miniBatchSize: 0,
  tolerance: 1e-7,
  seed: 0,
};

/** docs/training.md's hyperparameter table is checked against this list by a test. */
export const HYPERPARAMETER_KEYS = SPECS.map((s) => s.key);

/** SageMaker adds its own keys (automatic model tuning's _tuning_objective_metric, sagemaker_*). */
const isSagemakerKey = (key: string) => key.startsWith('_') || key.startsWith('sagemaker_');

function chooseAlgorithm(raw: Readonly<Record<string, unknown>>): Algorithm {
  if (raw.algorithm !== undefined) return oneOf(ALGORITHMS)(text('algorithm', raw.algorithm), 'algorithm');
  // Keys only XGBoost takes (num_round is required there) make it an XGBoost job; a misspelt one among
  // them is then reported as unknown to XGBoost rather than to the default algorithm.
  const own = Object.keys(raw).filter((k) => !isSagemakerKey(k) && !SPECS.some((s) => s.key === k));
  return own.some(isXgboostKey) ? 'xgboost' : 'logistic';
}

export function parseHyperparameters(raw: Readonly<Record<string, unknown>>): Hyperparameters {
  const out: Hyperparameters = { ...DEFAULTS };
  const algorithm = chooseAlgorithm(raw);
  out.algorithm = algorithm;
  const specs = algorithm === 'xgboost' ? XGBOOST_SHARED : SPECS;
  const rest: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    // SageMaker XGBoost's own underscore keys (_kfold) are refused by its parser as not implemented.
    if (isSagemakerKey(key) && !(algorithm === 'xgboost' && isXgboostKey(key))) continue;
    const spec = specs.find((s) => s.key === key);
    if (spec) {
      (out as unknown as Record<string, unknown>)[spec.field] = spec.parse(text(key, value), key);
    } else if (algorithm === 'xgboost') {
      rest[key] = value;
    } else {
      const hint = isXgboostKey(key) ? ` ("${key}" is an XGBoost hyperparameter: set algorithm=xgboost)` : '';
      throw new ServerError('TRAINING_CONFIG_INVALID', `unknown hyperparameter "${key}"; known: ${HYPERPARAMETER_KEYS.join(', ')}${hint}`);
    }
  }
  if (algorithm === 'xgboost') {
    const tuning = raw._tuning_objective_metric === undefined ? undefined : text('_tuning_objective_metric', raw._tuning_objective_metric);
    out.boost = parseBoostParams(rest, tuning);
    out.seed = out.boost.seed;
  }
  if (typeof out.target === 'string' && !('header' in raw)) out.header = true;
  if (typeof out.target === 'string' && !out.header) {
    throw new ServerError('TRAINING_CONFIG_INVALID', `hyperparameter "target"=${JSON.stringify(out.target)} names a column, which needs header=true`);
  }
  return out;
}
