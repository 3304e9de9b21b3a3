// Training hyperparameters: SageMaker passes every value as a string; each is parsed to its type here,
// with an error naming the key, and every one has a default (listed in docs/training.md).
import { ServerError } from '../errors';

export const ALGORITHMS = ['logistic', 'linear'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

export interface Hyperparameters {
  /** logistic: multinomial logistic regression (classification); linear: ridge regression. */
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
}

interface Spec {
  key: string;
  field: keyof Hyperparameters;
  parse: (value: string, key: string) => unknown;
}

function invalid(key: string, value: string, expected: string): never {
  throw new ServerError('TRAINING_CONFIG_INVALID', `hyperparameter "${key}"=${JSON.stringify(value)} is invalid: expected ${expected}`);
}

const wholeNumber = (min: number) => (v: string, key: string) => {
  if (!/^\d+$/.test(v.trim()) || Number(v) < min) invalid(key, v, `a whole number >= ${min}`);
  return Number(v);
};
const positive = (allowZero: boolean) => (v: string, key: string) => {
  const n = Number(v.trim());
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) invalid(key, v, allowZero ? 'a number >= 0' : 'a number > 0');
  return n;
};
const bool = (v: string, key: string) => {
  const s = v.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(s)) return true;
  if (['false', '0', 'no'].includes(s)) return false;
  return invalid(key, v, 'true or false');
};

/** Comma-separated, non-empty, all different. */
function names(v: string, key: string): string[] {
  const list = v.split(',').map((n) => n.trim());
  if (list.some((n) => n === '')) invalid(key, v, 'comma-separated non-empty names');
  if (new Set(list).size !== list.length) invalid(key, v, 'names that are all different');
  return list;
}

const SPECS: Spec[] = [
  { key: 'algorithm', field: 'algorithm', parse: (v, key) => (ALGORITHMS as readonly string[]).includes(v.trim()) ? v.trim() : invalid(key, v, `one of ${ALGORITHMS.join(', ')}`) },
  { key: 'header', field: 'header', parse: bool },
  { key: 'target', field: 'target', parse: (v, key) => (v.trim() === '' ? invalid(key, v, 'a column name or a 0-based column index') : /^\d+$/.test(v.trim()) ? Number(v) : v.trim()) },
  { key: 'l2', field: 'l2', parse: positive(true) },
  { key: 'epochs', field: 'epochs', parse: wholeNumber(1) },
  { key: 'learning_rate', field: 'learningRate', parse: positive(false) },
  { key: 'mini_batch_size', field: 'miniBatchSize', parse: wholeNumber(0) },
  { key: 'tolerance', field: 'tolerance', parse: positive(true) },
  { key: 'seed', field: 'seed', parse: wholeNumber(0) },
  { key: 'feature_names', field: 'featureNames', parse: (v, key) => names(v, key) },
  { key: 'categorical', field: 'categorical', parse: (v, key) => (v.trim() === '' ? [] : names(v, key)) },
];

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

export function parseHyperparameters(raw: Readonly<Record<string, unknown>>): Hyperparameters {
  const out: Hyperparameters = { ...DEFAULTS };
  for (const [key, value] of Object.entries(raw)) {
    // SageMaker adds its own keys (automatic model tuning's _tuning_objective_metric, sagemaker_*).
    if (key.startsWith('_') || key.startsWith('sagemaker_')) continue;
    const spec = SPECS.find((s) => s.key === key);
    if (!spec) throw new ServerError('TRAINING_CONFIG_INVALID', `unknown hyperparameter "${key}"; known: ${HYPERPARAMETER_KEYS.join(', ')}`);
    // SageMaker sends strings; numbers and booleans from hand-written files are read as their text.
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      invalid(key, JSON.stringify(value), 'a string value (SageMaker passes every hyperparameter as a string)');
    }
    (out as unknown as Record<string, unknown>)[spec.field] = spec.parse(String(value), key);
  }
  if (typeof out.target === 'string' && !('header' in raw)) out.header = true;
  if (typeof out.target === 'string' && !out.header) {
    throw new ServerError('TRAINING_CONFIG_INVALID', `hyperparameter "target"=${JSON.stringify(out.target)} names a column, which needs header=true`);
  }
  return out;
}
