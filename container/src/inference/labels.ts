// Labels from a tabular model's outputs: the class of the highest probability (as ONNX ArgMax picks it),
// class names from model.json or the graph, and onnxruntime's outputs turned into Predictions.
import { ServerError } from '../errors';
import type { FloatArray, Predictions } from '../vocabulary';
import type { TabularLayout } from './layout';
import type { ModelJson } from './model-json';

/**
 * Index of the first maximum of scores[at .. at+classes), as ONNX ArgMax (select_last_index 0) computes
 * it; -1 when the row holds a NaN, whose ordering the caller must decide.
 */
export function argmax(scores: FloatArray, at: number, classes: number): number {
  let best = 0;
  let max = scores[at];
  if (max !== max) return -1;
  for (let j = 1; j < classes; j++) {
    const v = scores[at + j];
    if (v !== v) return -1;
    if (v > max) {
      max = v;
      best = j;
    }
  }
  return best;
}

/**
 * names[argmax] for each row, as the graph's Gather(names, ArgMax(probabilities)) computes it; undefined
 * when a row holds a NaN or the widths disagree (onnxruntime's own label output is used then).
 */
export function argmaxLabels(scores: FloatArray, rows: number, names: readonly (string | number)[]): (string | number)[] | undefined {
  const classes = names.length;
  if (scores.length !== rows * classes) return undefined;
  const labels: (string | number)[] = new Array(rows);
  for (let r = 0; r < rows; r++) {
    const best = argmax(scores, r * classes, classes);
    if (best < 0) return undefined;
    labels[r] = names[best];
  }
  return labels;
}

type Outputs = Readonly<Record<string, { data: unknown; dims: readonly number[] }>>;

/** A classifier's or regressor's outputs as Predictions; `derivedLabels` were looked up from the probabilities. */
export function toPredictions(layout: TabularLayout, result: Outputs, rows: number, json: ModelJson, derivedLabels?: (string | number)[]): Predictions {
  if (layout.kind === 'regressor') {
    const scores = result[layout.scoreOutput!].data as FloatArray;
    if (scores.length !== rows) throw new ServerError('MODEL_ERROR', `model returned ${scores.length} scores for ${rows} rows`);
    return { kind: 'regression', rows, scores };
  }
  const probs = result[layout.probabilityOutput!];
  const probabilities = probs.data as FloatArray;
  const classes = rows > 0 ? probabilities.length / rows : Number(probs.dims[1] ?? 0);
  const classNames: (string | number)[] = json.labels ?? Array.from({ length: classes }, (_, i) => i);
  let labels: (string | number)[];
  // Integer labels are class indices only when model.json names the classes with strings; numeric
  // class names mean the label is the class itself (labels [1, 2, 3]: a 2 is class 2, not "3").
  const indexNames = json.labels?.every((l) => typeof l === 'string') ? json.labels : undefined;
  if (layout.labelOutput && derivedLabels && (!indexNames || typeof derivedLabels[0] === 'string')) {
    // Looked up already from one table (all strings or all integers), and nothing to map.
    labels = derivedLabels;
  } else if (layout.labelOutput) {
    const raw = derivedLabels ?? (result[layout.labelOutput].data as ArrayLike<string | number | bigint>);
    labels = new Array(rows);
    for (let r = 0; r < rows; r++) {
      const v = raw[r];
      if (typeof v === 'string') labels[r] = v;
      else {
        const n = Number(v);
        labels[r] = indexNames && Number.isInteger(n) && n >= 0 && n < indexNames.length ? indexNames[n] : n;
      }
    }
  } else {
    // No label output: the label is the class of the highest probability. A row with a NaN takes the
    // first maximum of its other values (NaN never wins), the first class when every value is NaN.
    labels = new Array(rows);
    for (let r = 0; r < rows; r++) {
      let best = argmax(probabilities, r * classes, classes);
      if (best < 0) best = argmaxSkippingNaN(probabilities, r * classes, classes);
      labels[r] = classNames[best] ?? best;
    }
  }
  return { kind: 'classification', rows, classes, labels, probabilities, classNames };
}

function argmaxSkippingNaN(scores: FloatArray, at: number, classes: number): number {
  let best = -1;
  for (let j = 0; j < classes; j++) {
    const v = scores[at + j];
    if (v === v && (best < 0 || v > scores[at + best])) best = j;
  }
  return Math.max(best, 0);
}

