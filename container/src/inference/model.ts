// Loads an ONNX model into an onnxruntime session inside a thread, works out what kind of model it is,
// warms it with one run, and turns decoded rows into Predictions.
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Matrix, TabularSchema } from '../codecs/types';
import type { TensorData } from '../codecs/v2';
import { featuresFromMetadata, readModelMetadata, type ModelMetadata } from '../onnx/reader';
import { ServerError } from '../errors';
import { readModelJson, type ModelJson } from './model-json';
import type { Predictions, FloatArray } from './predictions';
import type { ModelDescription, ModelKind, TensorInfo, ThreadInit } from './protocol';

const FLOAT_TYPES = new Set(['float32', 'float64']);
const LABEL_TYPES = new Set(['int64', 'int32', 'string']);

type TensorMeta = { name: string; type: string; shape: readonly (number | string)[] };

export interface LoadedModel {
  readonly description: ModelDescription;
  /** Present for tabular models (one [N, F] float input); decoders need it to check and map columns. */
  readonly schema: TabularSchema | null;
  predict(matrix: Matrix): Promise<Predictions>;
  /** Runs the model on named tensors (checked by the caller against description.inputs). */
  runTensors(inputs: readonly TensorData[], outputNames?: readonly string[]): Promise<TensorData[]>;
}

/** onnxruntime's message without its source paths and C++ signatures (internal detail, not the caller's business). */
export function cleanOrtMessage(message: string): string {
  return message
    .split('\n')[0]
    .replace(/\/onnxruntime_src\/\S+:\d+ (?:[^()]*\([^)]*\)\s*)?/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Every output must be a tensor: onnxruntime-node cannot return sequences or maps. One message for
 * `serve` and for `train`'s bring-your-own-model check; `where` names the file.
 */
export function checkTensorOutputs(session: ort.InferenceSession, where: string): void {
  const nonTensor = session.outputMetadata.filter((m) => !m.isTensor).map((m) => m.name);
  if (nonTensor.length > 0) {
    throw new ServerError('MODEL_UNSUPPORTED_OUTPUT', `${where} output ${nonTensor.map((n) => `"${n}"`).join(', ')} is a sequence or map (e.g. a ZipMap of class probabilities), which onnxruntime-node cannot return. Re-export without it: skl2onnx convert_sklearn(..., options={id(model): {"zipmap": False}}), or onnxmltools with zipmap=False; probabilities then come as a [N, classes] tensor`);
  }
}

/** onnxruntime's input errors are the caller's; everything else it reports is the model's. */
function runError(err: unknown, what: string): ServerError {
  const reason = cleanOrtMessage(String((err as Error)?.message ?? err));
  if (/invalid (rank|dimensions?|shape)|unexpected input data type|got invalid dimensions|input .* not found/i.test(reason)) {
    return new ServerError('INVALID_TENSOR', `onnxruntime refused the input: ${reason}`);
  }
  return new ServerError('MODEL_ERROR', `onnxruntime failed on ${what}: ${reason}`);
}

/** A zero-filled input (symbolic dimensions as 1), for warming a model that is not tabular. */
function zeroTensor(info: TensorInfo): TensorData {
  const dims = info.shape.map((d) => (typeof d === 'number' ? d : 1));
  const n = dims.reduce((a, b) => a * b, 1);
  const arrays: Record<string, () => TensorData['data']> = {
    float32: () => new Float32Array(n), float64: () => new Float64Array(n), int8: () => new Int8Array(n), uint8: () => new Uint8Array(n),
    int16: () => new Int16Array(n), uint16: () => new Uint16Array(n), int32: () => new Int32Array(n), uint32: () => new Uint32Array(n),
    int64: () => new BigInt64Array(n), uint64: () => new BigUint64Array(n), bool: () => new Uint8Array(n), string: () => new Array<string>(n).fill(''),
  };
  const make = arrays[info.type];
  if (!make) throw new Error(`no warm-up value for type ${info.type}`);
  return { name: info.name, type: info.type, dims, data: make() };
}

function describeValue(m: ort.InferenceSession.ValueMetadata): TensorInfo {
  return m.isTensor ? { name: m.name, type: m.type, shape: [...m.shape] } : { name: m.name, type: 'sequence/map', shape: [] };
}

/** Classifier/regressor layout of a model's outputs, or null when it is only servable as tensors. */
interface TabularLayout {
  kind: 'classifier' | 'regressor';
  labelOutput?: string;
  probabilityOutput?: string;
  scoreOutput?: string;
}

function classify(inputs: TensorMeta[], outputs: TensorMeta[], json: ModelJson): TabularLayout | null {
  if (inputs.length !== 1 || !FLOAT_TYPES.has(inputs[0].type) || inputs[0].shape.length !== 2) return null;
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

export async function loadModel(init: ThreadInit): Promise<LoadedModel> {
  const json: ModelJson = init.modelJsonFile ? readModelJson(init.modelJsonFile) : {};
  // Feature names may also travel inside the model (metadata_props "features"), and class names in an
  // ai.onnx.ml classifier node (skl2onnx, onnxmltools).
  let argmaxLabel: ModelMetadata['argmaxLabel'];
  try {
    const meta = readModelMetadata(init.modelFile);
    json.features ??= featuresFromMetadata(meta.metadata);
    json.labels ??= meta.classLabels;
    argmaxLabel = meta.argmaxLabel;
  } catch {
    // not readable as protobuf: onnxruntime's own error below says more
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(init.modelFile, {
      intraOpNumThreads: init.intraOpThreads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
  } catch (err) {
    const reason = cleanOrtMessage(String((err as Error).message ?? err));
    throw new ServerError('MODEL_INVALID', `onnxruntime cannot load ${init.modelFile}: ${reason}. Check that the file is a complete ONNX model (not truncated, not a Git LFS pointer) exported with an opset onnxruntime 1.30 supports`);
  }

  checkTensorOutputs(session, path.basename(init.modelFile));
  const inputs = session.inputMetadata.map(describeValue);
  const outputs = session.outputMetadata.map(describeValue);
  const layout = classify(inputs, outputs, json);

  let schema: TabularSchema | null = null;
  let features: number | null = null;
  if (layout) {
    const declared = inputs[0].shape[1];
    features = typeof declared === 'number' ? declared : json.features?.length ?? null;
    if (json.features && features !== null && json.features.length !== features) {
      throw new ServerError('MODEL_INVALID', `model.json lists ${json.features.length} features but input "${inputs[0].name}" has ${features} columns`);
    }
    schema = { features, featureNames: json.features, inputType: inputs[0].type as 'float32' | 'float64' };
  }
  const kind: ModelKind = layout?.kind ?? 'tensor';
  const description: ModelDescription = {
    file: init.modelFile,
    kind,
    inputs,
    outputs,
    features,
    featureNames: json.features,
    labels: json.labels,
    warmed: false,
  };

  const input = inputs[0];
  const probabilityWidth = outputs.find((o) => o.name === layout?.probabilityOutput)?.shape[1];
  const labelsFromScores = layout?.labelOutput && argmaxLabel && argmaxLabel.output === layout.labelOutput && argmaxLabel.source === layout.probabilityOutput
    && (typeof probabilityWidth !== 'number' || probabilityWidth === argmaxLabel.names.length) ? argmaxLabel : undefined;
  if (labelsFromScores) description.labelsFromProbabilities = true;
  const predict = async (matrix: Matrix): Promise<Predictions> => {
    if (!layout) throw new ServerError('UNSUPPORTED_MEDIA_TYPE', 'this model is not a tabular classifier or regressor; send KServe V2 tensors');
    const want = input.type === 'float64' ? Float64Array : Float32Array;
    const data = matrix.values instanceof want ? matrix.values : want.from(matrix.values);
    const feeds = { [input.name]: new ort.Tensor(input.type as 'float32' | 'float64', data, [matrix.rows, matrix.width]) };
    let result: ort.InferenceSession.OnnxValueMapType;
    try {
      if (labelsFromScores) {
        // The label is names[argmax(probabilities)] (see readModelMetadata): fetch only the
        // probabilities and look the labels up, unless a row has a NaN, where onnxruntime decides.
        result = await session.run(feeds, [layout.probabilityOutput!]);
        const labels = argmaxLabels(result[layout.probabilityOutput!].data as FloatArray, matrix.rows, labelsFromScores.names);
        if (labels) return toPredictions(layout, result, matrix.rows, json, labels);
      }
      result = await session.run(feeds);
    } catch (err) {
      throw runError(err, `${matrix.rows} row(s)`);
    }
    return toPredictions(layout, result, matrix.rows, json);
  };

  const runTensors = async (tensors: readonly TensorData[], outputNames?: readonly string[]): Promise<TensorData[]> => {
    const feeds: Record<string, ort.Tensor> = {};
    for (const t of tensors) feeds[t.name] = new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims);
    let result: ort.InferenceSession.OnnxValueMapType;
    try {
      result = outputNames ? await session.run(feeds, [...outputNames]) : await session.run(feeds);
    } catch (err) {
      throw runError(err, 'the given tensors');
    }
    return (outputNames ?? session.outputNames).map((name) => {
      const t = result[name];
      return { name, type: t.type, dims: [...t.dims], data: t.data as TensorData['data'] };
    });
  };

  // Warm-up: one real run, so the first caller does not pay for lazy initialisation.
  if (layout) {
    const width = features ?? 1;
    await predict({ rows: 1, width, values: new Float64Array(width) });
    description.warmed = true;
  } else {
    try {
      await runTensors(inputs.map(zeroTensor));
      description.warmed = true;
    } catch (err) {
      description.warmupError = String((err as Error)?.message ?? err).split('\n')[0];
    }
  }
  return { description, schema, predict, runTensors };
}

/**
 * names[first index of each row's maximum], as ONNX ArgMax (select_last_index 0) and Gather compute it;
 * undefined when a row holds a NaN or the widths disagree (onnxruntime's own label output is used then).
 */
export function argmaxLabels(scores: FloatArray, rows: number, names: readonly (string | number)[]): (string | number)[] | undefined {
  const classes = names.length;
  if (scores.length !== rows * classes) return undefined;
  const labels: (string | number)[] = new Array(rows);
  for (let r = 0, at = 0; r < rows; r++, at += classes) {
    let best = 0;
    let max = scores[at];
    if (max !== max) return undefined;
    for (let j = 1; j < classes; j++) {
      const v = scores[at + j];
      if (v !== v) return undefined;
      if (v > max) {
        max = v;
        best = j;
      }
    }
    labels[r] = names[best];
  }
  return labels;
}

function toPredictions(layout: TabularLayout, result: ort.InferenceSession.OnnxValueMapType, rows: number, json: ModelJson, derivedLabels?: (string | number)[]): Predictions {
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
    labels = new Array(rows);
    for (let r = 0; r < rows; r++) {
      let best = 0;
      for (let j = 1; j < classes; j++) if (probabilities[r * classes + j] > probabilities[r * classes + best]) best = j;
      labels[r] = classNames[best] ?? best;
    }
  }
  return { kind: 'classification', rows, classes, labels, probabilities, classNames };
}
