// How every setting is read: the helpers the serving, proxy and training settings share, so a number, a
// switch or a log level is checked by the same rule and refused with the same words, naming the variable.
import { ServerError } from '../errors';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type Env = Readonly<Record<string, string | undefined>>;

export function fail(variable: string, value: string, expected: string): never {
  throw new ServerError('CONFIG_INVALID', `${variable}=${JSON.stringify(value)} is invalid: expected ${expected}`);
}

/** First variable of `names` that is set and non-empty, with its name (aliases share one setting). */
export function pick(env: Env, ...names: string[]): { name: string; value: string } | undefined {
  for (const name of names) {
    const value = env[name];
    if (value !== undefined && value.trim() !== '') return { name, value: value.trim() };
  }
  return undefined;
}

export function integer(env: Env, names: string[], fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const found = pick(env, ...names);
  if (!found) return fallback;
  if (!/^\d+$/.test(found.value)) fail(found.name, found.value, `a whole number from ${min} to ${max}`);
  const n = Number(found.value);
  if (n < min || n > max) fail(found.name, found.value, `a whole number from ${min} to ${max}`);
  return n;
}

export function decimal(env: Env, names: string[], fallback: number, min: number, max: number): number {
  const found = pick(env, ...names);
  if (!found) return fallback;
  if (!/^\d+(\.\d+)?$/.test(found.value)) fail(found.name, found.value, `a number from ${min} to ${max}`);
  const n = Number(found.value);
  if (n < min || n > max) fail(found.name, found.value, `a number from ${min} to ${max}`);
  return n;
}

export function boolean(env: Env, name: string, fallback: boolean): boolean {
  const found = pick(env, name);
  if (!found) return fallback;
  const v = found.value.toLowerCase();
  if (['true', '1', 'yes'].includes(v)) return true;
  if (['false', '0', 'no'].includes(v)) return false;
  return fail(found.name, found.value, 'true or false');
}


/** LOG_LEVEL: pino's level names, lower-case. */
export function logLevel(env: Env): LogLevel {
  const level = pick(env, 'LOG_LEVEL');
  const value = (level?.value.toLowerCase() ?? 'info') as LogLevel;
  if (level && !LOG_LEVELS.includes(value)) fail(level.name, level.value, `one of ${LOG_LEVELS.join(', ')}`);
  return value;
}
