// Writes fitted models as ONNX graphs that `serve` loads unchanged: filling missing values,
// standardisation and one-hot encoding are part of the graph, so callers send raw values.
//
// Numeric data gives one input [N, F] float. Data with categorical columns gives one input per column, as
// scikit-learn pipelines exported by skl2onnx do (numbers float [N, 1], categories string [N, 1]): the
// numbers are concatenated, filled (ai.onnx.ml Imputer) and standardised (Scaler); each category column
// is one-hot encoded (OneHotEncoder, zeros=1: an unseen category is all zeros) and the blocks concatenated.
import { GraphBuilder, attr, serializeModel } from '../onnx/writer';
import type { Encoding, Standardiser } from './design';
import type { LinearFit } from './linear';
import type { LogisticFit } from './logistic';

/** A fit, with its input count (model columns) and, for a model on dense rows, its standardisation. */
type Fitted<T> = T & { features: number } & Partial<Standardiser>;

const ML = { domain: 'ai.onnx.ml' } as const;

export interface ExportOptions {
  metadata?: Record<string, string>;
  /**
   * How the training data was encoded: with categorical columns the graph takes one input per column
   * (names from `columns`); with missing numeric values the [N, F] input is filled first.
   */
  encoding?: Encoding;
  /** Feature names, in feature order (the input names of a per-column graph). */
  columns?: string[];
}

export interface ClassifierExport extends ExportOptions {
  /** Class names in class-index order; the graph's label output returns these (int64 when all are integers). */
  labels: string[] | number[];
}

/** The [N, F] float input, filled when the training data had missing values, then standardised. */
function matrixInput(g: GraphBuilder, f: number, s: Partial<Standardiser>, encoding?: Encoding): string {
  if (!s.mean || !s.scale) throw new Error('a model on dense rows needs its standardisation');
  const x = g.input('input', 'FLOAT', ['N', f]);
  const filled = encoding?.missing ? g.node('Imputer', [x], { imputed_value_floats: attr.floats(Array.from(encoding.fill)), replaced_value_float: attr.float(NaN) }, ML) : x;
  const centred = g.node('Sub', [filled, g.constant('mean', 'FLOAT', [f], Float32Array.from(s.mean))]);
  return g.node('Div', [centred, g.constant('scale', 'FLOAT', [f], Float32Array.from(s.scale))]);
}

/** One input per column, encoded into the model's columns [N, encoding.width] (numbers first, then each category block). */
function columnInputs(g: GraphBuilder, encoding: Encoding, names: string[]): string {
  const inputs = names.map((name, feature) => g.input(name, encoding.numeric.includes(feature) ? 'FLOAT' : 'STRING', ['N', 1]));
  const blocks: string[] = [];
  if (encoding.numeric.length > 0) {
    const numbers = encoding.numeric.map((feature) => inputs[feature]);
    const joined = numbers.length > 1 ? g.node('Concat', numbers, { axis: attr.int(1) }) : numbers[0];
    const filled = g.node('Imputer', [joined], { imputed_value_floats: attr.floats(Array.from(encoding.fill)), replaced_value_float: attr.float(NaN) }, ML);
    // Scaler computes (x - offset) * scale.
    blocks.push(g.node('Scaler', [filled], { offset: attr.floats(Array.from(encoding.mean)), scale: attr.floats(Array.from(encoding.scale, (s) => 1 / s)) }, ML));
  }
  for (const c of encoding.categorical) {
    const oneHot = g.node('OneHotEncoder', [inputs[c.feature]], { cats_strings: attr.strings(c.categories), zeros: attr.int(1) }, ML);
    // [N, 1] in gives [N, 1, K] out.
    blocks.push(g.node('Reshape', [oneHot, g.constant('shape', 'INT64', [2], [-1, c.categories.length])]));
  }
  return blocks.length > 1 ? g.node('Concat', blocks, { axis: attr.int(1) }) : blocks[0];
}

/** The graph's input side: per column when the data had categorical columns, else the [N, F] matrix. */
function inputs(g: GraphBuilder, model: Fitted<unknown>, options: ExportOptions): string {
  const { encoding, columns } = options;
  if (encoding && encoding.categorical.length > 0) {
    if (!columns) throw new Error('a per-column graph needs the feature names');
    return columnInputs(g, encoding, columns);
  }
  return matrixInput(g, model.features, encoding ?? model, encoding);
}

function serialize(g: GraphBuilder, options: ExportOptions): Uint8Array {
  const ml = options.encoding && (options.encoding.missing || options.encoding.categorical.length > 0);
  return serializeModel(g, { opset: 17, metadata: options.metadata, ...(ml ? { domains: { 'ai.onnx.ml': 3 } } : {}) });
}

/**
 * inputs -> encoded columns [N, D] -> MatMul + Add -> Softmax = probabilities [N, C];
 * ArgMax -> Gather(class names) = label [N] (string, or int64 for integer classes).
 * `model` gives the weights [D, C] (and, for the [N, F] input, its standardisation).
 */
export function logisticToOnnx(model: Fitted<LogisticFit>, options: ClassifierExport): Uint8Array {
  const { features: d, classes: k } = model;
  if (options.labels.length !== k) throw new Error(`${options.labels.length} labels for ${k} classes`);
  const g = new GraphBuilder('logistic_regression');
  const scaled = inputs(g, model, options);
  const logits = g.node('Add', [
    g.node('MatMul', [scaled, g.constant('weights', 'FLOAT', [d, k], Float32Array.from(model.weights))]),
    g.constant('bias', 'FLOAT', [k], Float32Array.from(model.bias)),
  ]);
  g.node('Softmax', [logits], { axis: attr.int(-1) }, { outputs: ['probabilities'] });
  const index = g.node('ArgMax', ['probabilities'], { axis: attr.int(1), keepdims: attr.int(0) });
  const numeric = options.labels.every((l) => typeof l === 'number');
  const names = numeric ? g.constant('class_names', 'INT64', [k], options.labels as number[]) : g.constant('class_names', 'STRING', [k], options.labels.map(String));
  g.node('Gather', [names, index], { axis: attr.int(0) }, { outputs: ['label'] });
  g.output('label', numeric ? 'INT64' : 'STRING', ['N']);
  g.output('probabilities', 'FLOAT', ['N', k]);
  return serialize(g, options);
}

/** inputs -> encoded columns [N, D] -> MatMul(w) + b = score [N]. */
export function linearToOnnx(model: Fitted<LinearFit>, options: ExportOptions = {}): Uint8Array {
  const d = model.features;
  const g = new GraphBuilder('ridge_regression');
  const scaled = inputs(g, model, options);
  const dot = g.node('MatMul', [scaled, g.constant('weights', 'FLOAT', [d], Float32Array.from(model.weights))]);
  g.node('Add', [dot, g.constant('bias', 'FLOAT', [], [model.bias])], {}, { outputs: ['score'] });
  g.output('score', 'FLOAT', ['N']);
  return serialize(g, options);
}
