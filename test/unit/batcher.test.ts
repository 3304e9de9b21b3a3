// The batcher inside an inference thread: rows of the same shape share one run and each request gets its
// own slice; a shared run that fails is retried one request at a time; everything else runs alone.
import { predictAll } from '../../container/src/inference/batcher';
import type { StepValue } from '../../container/src/inference/steps';
import type { Matrix, Predictions } from '../../container/src/vocabulary';

const rows = (values: number[][], float64 = false): StepValue => {
  const width = values[0].length;
  const flat = values.flat();
  return { kind: 'rows', matrix: { rows: values.length, width, values: float64 ? Float64Array.from(flat) : Float32Array.from(flat) } };
};

/** A regressor scoring each row with the sum of its values; refuses a row holding a negative number. */
function sumModel(runs: Matrix[]): (m: Matrix) => Promise<Predictions> {
  return async (m) => {
    runs.push(m);
    const scores = new Float64Array(m.rows);
    for (let r = 0; r < m.rows; r++) {
      for (let c = 0; c < m.width; c++) {
        const v = m.values[r * m.width + c];
        if (v < 0) throw new Error(`row ${r} has a negative value`);
        scores[r] += v;
      }
    }
    return { kind: 'regression', rows: m.rows, scores };
  };
}

const scoresOf = (p: Awaited<ReturnType<typeof predictAll>>[number]) => {
  if (!p?.ok || p.value.kind !== 'predictions' || p.value.predictions.kind !== 'regression') return p;
  return [...p.value.predictions.scores];
};

describe('opportunistic batching', () => {
  test('rows of the same width share one run; each request gets its own rows back, with the batch size', async () => {
    const runs: Matrix[] = [];
    const model = sumModel(runs);
    const one = async (v: StepValue): Promise<StepValue> => ({ kind: 'predictions', predictions: await model((v as Extract<StepValue, { kind: 'rows' }>).matrix) });
    const results = await predictAll([rows([[1, 2]]), rows([[3, 4], [5, 6]]), rows([[7, 8, 9]]), rows([[10, 11]])], one, model);
    expect(results.map(scoresOf)).toEqual([[3], [7, 11], [24], [21]]);
    expect(results.map((r) => (r?.ok ? r.batch : undefined))).toEqual([3, 3, undefined, 3]);
    // one run of width 2 (four rows), one of width 3
    expect(runs.map((m) => [m.width, m.rows])).toEqual([[2, 4], [3, 1]]);
  });

  test('rows of different precision or with strings are different shapes', async () => {
    const runs: Matrix[] = [];
    const model = sumModel(runs);
    const one = async (v: StepValue): Promise<StepValue> => ({ kind: 'predictions', predictions: await model((v as Extract<StepValue, { kind: 'rows' }>).matrix) });
    await predictAll([rows([[1, 2]]), rows([[1, 2]], true), rows([[1, 2]])], one, model);
    expect(runs.map((m) => [m.values.constructor.name, m.rows])).toEqual([['Float32Array', 2], ['Float64Array', 1]]);
  });

  test('a shared run that fails is run one request at a time, so only the request that caused it fails', async () => {
    const runs: Matrix[] = [];
    const model = sumModel(runs);
    const one = async (v: StepValue): Promise<StepValue> => ({ kind: 'predictions', predictions: await model((v as Extract<StepValue, { kind: 'rows' }>).matrix) });
    const results = await predictAll([rows([[1, 2]]), rows([[-1, 2]]), rows([[3, 4]])], one, model);
    expect(scoresOf(results[0])).toEqual([3]);
    expect(results[1]).toMatchObject({ ok: false, error: new Error('row 0 has a negative value') });
    expect(scoresOf(results[2])).toEqual([7]);
    expect(results.map((r) => (r?.ok ? r.batch : undefined))).toEqual([undefined, undefined, undefined]);
    expect(runs.map((m) => m.rows)).toEqual([3, 1, 1, 1]);
  });

  test('tensors, users\' own values and requests already answered run alone or not at all; without a shared run nothing is grouped', async () => {
    const seen: string[] = [];
    const one = async (v: StepValue, i: number): Promise<StepValue> => {
      seen.push(`${i}:${v.kind}`);
      return { kind: 'value', value: i, hook: 'predictFn' };
    };
    const tensors: StepValue = { kind: 'tensors', tensors: [{ name: 'x', type: 'float32', dims: [1], data: Float32Array.from([1]) }] };
    const results = await predictAll([tensors, undefined, { kind: 'value', value: 'mine', hook: 'inputFn' }], one, sumModel([]));
    expect(seen).toEqual(['0:tensors', '2:value']);
    expect(results[1]).toBeUndefined();
    seen.length = 0;
    await predictAll([rows([[1]]), rows([[2]])], one);
    expect(seen).toEqual(['0:rows', '1:rows']);
  });
});
