// Output records of a tabular prediction: the values of each configured key, with float32 numbers printed
// in their shortest exact form and NaN and the infinities as their words ("NaN", "Infinity", "-Infinity",
// see numbers.ts), so CSV, JSON and JSON Lines say the same thing. Every response codec writes records
// through these.
import type { FloatArray, InferenceOutputKey, Predictions } from '../vocabulary';
import { jsonFloat } from './numbers';

const f32 = new Float32Array(1);

/**
 * The double whose shortest decimal form is the shortest form that still reads back as the same float32,
 * so 0.1f prints as 0.1 rather than 0.10000000149011612.
 */
export function tidyFloat32(v: number): number {
  if (!Number.isFinite(v) || v === 0) return v;
  f32[0] = v;
  const target = f32[0];
  for (let p = 6; p < 9; p++) {
    const candidate = Number(v.toPrecision(p));
    if (Math.fround(candidate) === target) return candidate;
  }
  return Number(v.toPrecision(9));
}

function tidy(values: FloatArray, i: number): number | string {
  return jsonFloat(values instanceof Float32Array ? tidyFloat32(values[i]) : values[i]);
}

export type FieldValue = string | number | (string | number)[];

/** The values of one output record, in `keys` order (regressors always give [score]). */
export function recordValues(p: Predictions, keys: readonly InferenceOutputKey[], row: number): FieldValue[] {
  if (p.kind === 'regression') return [tidy(p.scores, row)];
  const out: FieldValue[] = [];
  for (const key of keys) {
    switch (key) {
      case 'predicted_label':
        out.push(p.labels[row]);
        break;
      case 'probability': {
        let max = -Infinity;
        for (let j = 0; j < p.classes; j++) max = Math.max(max, p.probabilities[row * p.classes + j]);
        out.push(jsonFloat(p.probabilities instanceof Float32Array ? tidyFloat32(max) : max));
        break;
      }
      case 'probabilities': {
        const list: (number | string)[] = new Array(p.classes);
        for (let j = 0; j < p.classes; j++) list[j] = tidy(p.probabilities, row * p.classes + j);
        out.push(list);
        break;
      }
      case 'labels':
        out.push(p.classNames);
        break;
    }
  }
  return out;
}

export function recordKeys(p: Predictions, keys: readonly InferenceOutputKey[]): readonly string[] {
  return p.kind === 'regression' ? ['score'] : keys;
}
