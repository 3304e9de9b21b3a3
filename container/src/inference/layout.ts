// What kind of model an ONNX file is, decided once at load from its declared inputs and outputs: a
// tabular classifier or regressor (which output holds labels, probabilities or scores), or a model served
// only as tensors; and whether V2 inputs with a zero-size dimension are safe to hand to onnxruntime.
import type { ModelJson } from './model-json';

const FLOAT_TYPES = new Set(['float32', 'float64']);
const LABEL_TYPES = new Set(['int64', 'int32', 'string']);

export type TensorMeta = { name: string; type: string; shape: readonly (number | string)[] };

/**
 * Operators in which onnxruntime 1.30 aborts the whole process (SIGSEGV, SIGABRT, SIGFPE) on an input with
 * a zero-size dimension instead of failing the run: found by running every ONNX backend node test with each
 * input dimension made 0 (test/integration/onnx-conformance.test.ts checks the list still covers every
 * such crash). V2 requests with a zero-size dimension are refused for models that use one of them; other
 * models get onnxruntime's own answer (an empty result, or its error).
 */
export const ZERO_SIZE_ABORTS: readonly string[] = ['ConvTranspose', 'DFT', 'GRU', 'InstanceNormalization', 'LSTM', 'RoiAlign', 'STFT', 'TopK', 'Unique'];

/** Why zero-size inputs are refused for a model using `opTypes` (undefined: unreadable), or undefined when they are not. */
export function zeroSizeRefusal(opTypes: readonly string[] | undefined): string | undefined {
  if (!opTypes) return 'the server could not read which operators the model uses, and onnxruntime aborts on them in some';
  const aborting = ZERO_SIZE_ABORTS.filter((op) => opTypes.includes(op));
  return aborting.length > 0 ? `onnxruntime aborts on them in its ${aborting.join(', ')} operator${aborting.length > 1 ? 's' : ''}` : undefined;
}

/** Classifier/regressor layout of a model's outputs. */
export interface TabularLayout {
  kind: 'classifier' | 'regressor';
  labelOutput?: string;
  probabilityOutput?: string;
  scoreOutput?: string;
}

/**
 * The tabular layout of a model, or null when it is only servable as tensors. Rows are a batch, so the
 * input's first dimension must be dynamic ([N, F]); a fixed one ([2, 2]: a matrix) is a tensor model
 * unless model.json says the model is tabular (features, labels or task).
 */
export function tabularLayout(inputs: readonly TensorMeta[], outputs: readonly TensorMeta[], json: ModelJson): TabularLayout | null {
  if (inputs.length !== 1 || !FLOAT_TYPES.has(inputs[0].type) || inputs[0].shape.length !== 2) return null;
  const declaredTabular = json.features !== undefined || json.labels !== undefined || json.task !== undefined;
  if (typeof inputs[0].shape[0] === 'number' && !declaredTabular) return null;
  return outputLayout(outputs, json);
}

/** Which output holds what, for a model whose inputs take rows: a classifier, a regressor, or null. */
export function outputLayout(outputs: readonly TensorMeta[], json: ModelJson): TabularLayout | null {
  const floats2d = outputs.filter((o) => FLOAT_TYPES.has(o.type) && o.shape.length === 2);
  const labelLike = outputs.filter((o) => LABEL_TYPES.has(o.type) && (o.shape.length === 1 || (o.shape.length === 2 && o.shape[1] === 1)));
  if (json.task !== 'regression' && outputs.length === 2 && labelLike.length === 1 && floats2d.length === 1) {
    return { kind: 'classifier', labelOutput: labelLike[0].name, probabilityOutput: floats2d[0].name };
  }
  if (outputs.length !== 1 || !FLOAT_TYPES.has(outputs[0].type)) return null;
  const out = outputs[0];
  const width = out.shape.length === 2 ? out.shape[1] : 1;
  if (json.task === 'regression' || (json.task === undefined && (out.shape.length === 1 || width === 1))) {
    return out.shape.length <= 2 ? { kind: 'regressor', scoreOutput: out.name } : null;
  }
  if (out.shape.length === 2 && (typeof width !== 'number' || width > 1)) {
    return { kind: 'classifier', probabilityOutput: out.name };
  }
  return null;
}

