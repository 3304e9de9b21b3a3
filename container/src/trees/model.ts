// A tree model as the server serves it: the ensemble (to become an ONNX graph), its objective, how several
// boosters of one folder combine (SageMaker's k-fold ensembles), and the step from the graph's margins to
// the library's own predict output and to the server's predictions.
import type { FloatArray, NativeOutput, Predictions } from '../vocabulary';
import { ensembleSize, type Ensemble } from './ensemble';
import { outputWidth, softmax, transformRow, type Objective } from './objectives';

export type Library = 'xgboost' | 'lightgbm';

export interface TreeModel {
  library: Library;
  /** The file format, as the log names it ("XGBoost binary", "LightGBM text", ...). */
  format: string;
  files: string[];
  ensemble: Ensemble;
  objective: Objective;
  /** Boosters combined (k-fold); booster k owns outputs [k * groups, (k + 1) * groups) of the ensemble. */
  boosters: number;
  /** Outputs of one booster: classes for multiclass models, else 1. */
  groups: number;
  /** How boosters combine, as SageMaker's XGBoost container does: the mean, or a vote (multi:softmax, binary:hinge). */
  combine: 'mean' | 'vote';
  /** Classes of a classifier (2 for binary objectives); 0 for regression. */
  classes: number;
  featureNames?: string[];
  /** Booster kind (gbtree, dart) and the iterations used (early stopping's best, when the file records it). */
  booster: string;
  iterations: number;
  bestIteration?: number;
  /** LightGBM's random-forest mode: the margin is the trees' mean, not their sum. */
  averageOutput?: number;
}

/** What the start-up log says of a tree model. */
export function describeTreeModel(m: TreeModel): Record<string, unknown> {
  const size = ensembleSize(m.ensemble);
  return {
    library: m.library,
    format: m.format,
    ...(m.files.length > 1 ? { files: m.files.length, combined: m.combine } : {}),
    objective: m.objective.name,
    booster: m.booster,
    features: m.ensemble.features,
    ...(m.classes > 0 ? { classes: m.classes } : {}),
    trees: size.trees,
    iterations: m.iterations,
    ...(m.bestIteration !== undefined ? { bestIteration: m.bestIteration } : {}),
  };
}

/** The library's predict output for `rows` rows of margins ([rows, boosters * groups]), boosters combined. */
export function nativeOutput(m: TreeModel, margins: FloatArray, rows: number): NativeOutput {
  const { groups, boosters, objective } = m;
  const width = outputWidth(objective, groups);
  const single = margins instanceof Float32Array;
  const Out = single ? Float32Array : Float64Array;
  const values = new Out(rows * width);
  const stride = groups * boosters;
  if (m.averageOutput) for (let i = 0; i < margins.length; i++) margins[i] /= m.averageOutput;
  if (boosters === 1) {
    for (let r = 0; r < rows; r++) transformRow(objective, margins, r * stride, groups, values, r * width);
  } else {
    const each = new Out(boosters * width);
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < boosters; k++) transformRow(objective, margins, r * stride + k * groups, groups, each, k * width);
      if (m.combine === 'vote') values[r * width] = vote(each, boosters);
      else {
        // numpy's mean over float32 arrays: a float32 sum, then a float32 division.
        for (let j = 0; j < width; j++) {
          let sum = 0;
          for (let k = 0; k < boosters; k++) sum = single ? Math.fround(sum + each[k * width + j]) : sum + each[k * width + j];
          values[r * width + j] = sum / boosters;
        }
      }
    }
  }
  return { library: m.library, objective: m.objective.name, contract: m.objective.contract, width, numClass: m.objective.contract.startsWith('multi') ? m.groups : 0, values };
}

/** scipy.stats.mode: the most frequent value, the smallest of those equally frequent. */
function vote(values: FloatArray, n: number): number {
  let best = values[0];
  let bestCount = 0;
  for (let i = 0; i < n; i++) {
    let count = 0;
    for (let j = 0; j < n; j++) if (values[j] === values[i]) count += 1;
    if (count > bestCount || (count === bestCount && values[i] < best)) {
      best = values[i];
      bestCount = count;
    }
  }
  return best;
}

/**
 * The server's predictions (classes with probabilities, or scores) from the library's output, which they
 * carry along for SageMaker XGBoost's output style. Where the library's output is not a probability
 * (logitraw, hinge, softmax), the server's probabilities come from the margins.
 */
export function treePredictions(m: TreeModel, margins: FloatArray, rows: number, classNames?: readonly (string | number)[]): Predictions {
  const native = nativeOutput(m, margins, rows);
  if (m.classes === 0) return { kind: 'regression', rows, scores: native.values, native };
  const classes = m.classes;
  const names = classNames ?? Array.from({ length: classes }, (_, i) => i);
  const Out = native.values instanceof Float32Array ? Float32Array : Float64Array;
  const probabilities = new Out(rows * classes);
  const labels: (string | number)[] = new Array(rows);
  const stride = m.groups * m.boosters;
  const scratch = new Out(classes);
  for (let r = 0; r < rows; r++) {
    const at = r * classes;
    let label: number;
    switch (m.objective.contract) {
      case 'binary:logistic':
      case 'binary:logitraw': {
        const p = m.objective.contract === 'binary:logistic' ? native.values[r] : meanOfBoosters(m, margins, r * stride, (x) => 1 / (1 + Math.exp(-x)));
        probabilities[at] = 1 - p;
        probabilities[at + 1] = p;
        label = m.objective.contract === 'binary:logistic' ? (native.values[r] > 0.5 ? 1 : 0) : native.values[r] > 0 ? 1 : 0;
        break;
      }
      case 'binary:hinge':
        label = native.values[r];
        probabilities[at + label] = 1;
        break;
      case 'multi:softmax': {
        for (let k = 0; k < m.boosters; k++) {
          softmax(margins, r * stride + k * m.groups, classes, scratch, 0, scratch instanceof Float32Array);
          for (let c = 0; c < classes; c++) probabilities[at + c] += scratch[c] / m.boosters;
        }
        label = native.values[r];
        break;
      }
      default: {
        for (let c = 0; c < classes; c++) probabilities[at + c] = native.values[r * classes + c];
        label = 0;
        for (let c = 1; c < classes; c++) if (probabilities[at + c] > probabilities[at + label]) label = c;
      }
    }
    labels[r] = names[label] ?? label;
  }
  return { kind: 'classification', rows, classes, labels, probabilities, classNames: [...names], native };
}

function meanOfBoosters(m: TreeModel, margins: FloatArray, at: number, fn: (x: number) => number): number {
  let sum = 0;
  for (let k = 0; k < m.boosters; k++) sum += fn(margins[at + k * m.groups]);
  return sum / m.boosters;
}

