// How one hyperparameter's string becomes its value (SageMaker passes every value as a string), with the
// error that names the key and says what was expected: shared by every algorithm's hyperparameters.
import { ServerError } from '../errors';

export function invalid(key: string, value: string, expected: string): never {
  throw new ServerError('TRAINING_CONFIG_INVALID', `hyperparameter "${key}"=${JSON.stringify(value)} is invalid: expected ${expected}`);
}

export const wholeNumber = (min: number, max = Infinity) => (v: string, key: string): number => {
  if (!/^\s*\d+\s*$/.test(v) || Number(v) < min || Number(v) > max) invalid(key, v, max === Infinity ? `a whole number >= ${min}` : `a whole number from ${min} to ${max}`);
  return Number(v);
};

/** A number in a range; `open` ends exclude their bound. */
export const numberIn = (min: number, max: number, open: { min?: boolean; max?: boolean } = {}) => (v: string, key: string): number => {
  const n = Number(v.trim());
  const ok = v.trim() !== '' && Number.isFinite(n) && (open.min ? n > min : n >= min) && (open.max ? n < max : n <= max);
  if (!ok) {
    const low = min === -Infinity ? '' : `${open.min ? '>' : '>='} ${min}`;
    const high = max === Infinity ? '' : `${open.max ? '<' : '<='} ${max}`;
    invalid(key, v, `a number ${[low, high].filter(Boolean).join(' and ')}`);
  }
  return n;
};

export const positive = (allowZero: boolean) => numberIn(0, Infinity, { min: !allowZero });

export const bool = (v: string, key: string): boolean => {
  const s = v.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(s)) return true;
  if (['false', '0', 'no'].includes(s)) return false;
  return invalid(key, v, 'true or false');
};

export const oneOf = <T extends string>(values: readonly T[]) => (v: string, key: string): T => {
  const s = v.trim();
  if (!(values as readonly string[]).includes(s)) invalid(key, v, `one of ${values.join(', ')}`);
  return s as T;
};

/** Comma-separated, non-empty, all different. */
export function names(v: string, key: string): string[] {
  const list = v.split(',').map((n) => n.trim());
  if (list.some((n) => n === '')) invalid(key, v, 'comma-separated non-empty names');
  if (new Set(list).size !== list.length) invalid(key, v, 'names that are all different');
  return list;
}

/** SageMaker sends strings; numbers and booleans from hand-written files are read as their text. */
export function text(key: string, value: unknown): string {
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
    invalid(key, JSON.stringify(value), 'a string value (SageMaker passes every hyperparameter as a string)');
  }
  return String(value);
}
