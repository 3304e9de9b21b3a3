// Writes fitted models as ONNX graphs that `serve` loads unchanged: standardisation is part of the graph,
// so callers send raw feature values.
import { GraphBuilder, attr, serializeModel } from '../onnx/writer';
import type { LinearModel } from './linear';
import type { LogisticModel } from './logistic';

export interface ClassifierExport {
  /** Class names in class-index order; the graph's label output returns these (int64 when all are integers). */
  labels: string[] | number[];
  metadata?: Record<string, string>;
}

/**
 * input [N, F] float -> standardise -> MatMul + Add -> Softmax = probabilities [N, C];
 * ArgMax -> Gather(class names) = label [N] (string).
 */
export function logisticToOnnx(model: LogisticModel, options: ClassifierExport): Uint8Array {
  const { features: f, classes: k } = model;
  if (options.labels.length !== k) throw new Error(`${options.labels.length} labels for ${k} classes`);
  const g = new GraphBuilder('logistic_regression');
  const x = g.input('input', 'FLOAT', ['N', f]);
  const centred = g.node('Sub', [x, g.constant('mean', 'FLOAT', [f], Float32Array.from(model.mean))]);
  const scaled = g.node('Div', [centred, g.constant('scale', 'FLOAT', [f], Float32Array.from(model.scale))]);
  const logits = g.node('Add', [
    g.node('MatMul', [scaled, g.constant('weights', 'FLOAT', [f, k], Float32Array.from(model.weights))]),
    g.constant('bias', 'FLOAT', [k], Float32Array.from(model.bias)),
  ]);
  g.node('Softmax', [logits], { axis: attr.int(-1) }, { outputs: ['probabilities'] });
  const index = g.node('ArgMax', ['probabilities'], { axis: attr.int(1), keepdims: attr.int(0) });
  const numeric = options.labels.every((l) => typeof l === 'number');
  const names = numeric ? g.constant('class_names', 'INT64', [k], options.labels as number[]) : g.constant('class_names', 'STRING', [k], options.labels.map(String));
  g.node('Gather', [names, index], { axis: attr.int(0) }, { outputs: ['label'] });
  g.output('label', numeric ? 'INT64' : 'STRING', ['N']);
  g.output('probabilities', 'FLOAT', ['N', k]);
  return serializeModel(g, { opset: 17, metadata: options.metadata });
}

/** input [N, F] float -> standardise -> MatMul(w) + b = score [N]. */
export function linearToOnnx(model: LinearModel, metadata?: Record<string, string>): Uint8Array {
  const f = model.features;
  const g = new GraphBuilder('ridge_regression');
  const x = g.input('input', 'FLOAT', ['N', f]);
  const centred = g.node('Sub', [x, g.constant('mean', 'FLOAT', [f], Float32Array.from(model.mean))]);
  const scaled = g.node('Div', [centred, g.constant('scale', 'FLOAT', [f], Float32Array.from(model.scale))]);
  const dot = g.node('MatMul', [scaled, g.constant('weights', 'FLOAT', [f], Float32Array.from(model.weights))]);
  g.node('Add', [dot, g.constant('bias', 'FLOAT', [], [model.bias])], {}, { outputs: ['score'] });
  g.output('score', 'FLOAT', ['N']);
  return serializeModel(g, { opset: 17, metadata });
}
