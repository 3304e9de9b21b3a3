// Opportunistic batching inside a thread: when a thread takes several queued requests at once, the rows
// of those with the same shape go through the model in one run, and each request gets its own slice of
// the answer. If a shared run fails, its requests run one by one, so only the request that caused it
// fails. Everything else (tensors, users' own values, a user's predictFn) runs one request at a time.
import { concatMatrices, slicePredictions, type Matrix, type Predictions } from '../vocabulary';
import type { StepValue } from './steps';

/** What predict gave one request (with how many requests shared its run), or what it threw. */
export type Predicted = { ok: true; value: StepValue; batch?: number } | { ok: false; error: unknown };

/** Rows that can share a run: same width, same precision, strings or not. */
function shapeOf(m: Matrix): string {
  return `${m.width}:${m.values instanceof Float64Array ? 64 : 32}:${m.strings ? 's' : ''}`;
}

async function settle(run: () => Promise<StepValue>, batch?: number): Promise<Predicted> {
  try {
    return { ok: true, value: await run(), ...(batch ? { batch } : {}) };
  } catch (error) {
    return { ok: false, error };
  }
}

/**
 * Predicts every request given a value (undefined: already answered). `one` is the model's predict step
 * for one request; `rows`, when set, the built-in run of rows, which requests of one shape then share.
 */
export async function predictAll(values: readonly (StepValue | undefined)[], one: (value: StepValue, i: number) => Promise<StepValue>, rows?: (m: Matrix) => Promise<Predictions>): Promise<(Predicted | undefined)[]> {
  const results: (Predicted | undefined)[] = new Array(values.length);
  const groups = new Map<string, number[]>();
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!v) continue;
    if (rows && values.length > 1 && v.kind === 'rows') {
      const key = shapeOf(v.matrix);
      const members = groups.get(key);
      if (members) members.push(i);
      else groups.set(key, [i]);
    } else {
      results[i] = await settle(() => one(v, i));
    }
  }
  for (const members of groups.values()) {
    const matrices = members.map((i) => (values[i] as Extract<StepValue, { kind: 'rows' }>).matrix);
    let shared: Predictions | undefined;
    if (members.length > 1) shared = await rows!(concatMatrices(matrices)).catch(() => undefined);
    let from = 0;
    for (let k = 0; k < members.length; k++) {
      const i = members[k];
      const to = from + matrices[k].rows;
      const slice = shared && slicePredictions(shared, from, to);
      results[i] = slice ? { ok: true, value: { kind: 'predictions', predictions: slice }, batch: members.length } : await settle(() => one(values[i]!, i));
      from = to;
    }
  }
  return results;
}
