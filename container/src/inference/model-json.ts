// Reads and validates model.json: {"features": [names], "labels": [class names], "task": ...}.
import * as fs from 'node:fs';
import { ServerError } from '../errors';

export interface ModelJson {
  features?: string[];
  labels?: (string | number)[];
  task?: 'classification' | 'regression';
}

function invalid(file: string, why: string): never {
  throw new ServerError('MODEL_INVALID', `${file}: ${why}`);
}

export function readModelJson(file: string): ModelJson {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    return invalid(file, `not valid JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) invalid(file, 'must be a JSON object');
  const obj = parsed as Record<string, unknown>;
  const out: ModelJson = {};
  if (obj.features !== undefined) {
    if (!Array.isArray(obj.features) || !obj.features.every((f) => typeof f === 'string' && f.length > 0)) {
      invalid(file, '"features" must be an array of non-empty strings');
    }
    if (new Set(obj.features).size !== obj.features.length) invalid(file, '"features" has duplicate names');
    out.features = obj.features as string[];
  }
  if (obj.labels !== undefined) {
    if (!Array.isArray(obj.labels) || !obj.labels.every((l) => typeof l === 'string' || typeof l === 'number')) {
      invalid(file, '"labels" must be an array of strings or numbers');
    }
    out.labels = obj.labels as (string | number)[];
  }
  if (obj.task !== undefined) {
    if (obj.task !== 'classification' && obj.task !== 'regression') invalid(file, '"task" must be "classification" or "regression"');
    out.task = obj.task;
  }
  return out;
}
