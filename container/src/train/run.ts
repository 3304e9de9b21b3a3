// `train`: reads SageMaker's training layout, fits the chosen algorithm (or takes a model brought in the
// training channel), checks the ONNX graph against the TypeScript predictions, and writes model.onnx and
// model.json atomically into the model folder, with metrics printed and saved.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { ServerError } from '../errors';
import type { Logger } from '../logger';
import { checkTensorOutputs } from '../inference/onnxruntime';
import { readModelJson } from '../inference/model-json';
import { modelDir } from '../paths';
import { channelFiles, channelModel, loadCsv, readInputDataConfig, type Dataset } from './data';
import { encode, fitEncoding, type Encoding } from './design';
import { linearToOnnx, logisticToOnnx } from './export';
import { parseHyperparameters, type Hyperparameters } from './hyperparameters';
import { designScores, fitRidgeDesign } from './linear';
import { designProbabilities, fitLogisticDesign } from './logistic';
import { classificationMetrics, regressionMetrics } from './metrics';
import { trainXgboost } from './gbdt/job';

export const trainingPaths = (baseDir: string) => ({
  hyperparameters: path.join(baseDir, 'input/config/hyperparameters.json'),
  inputDataConfig: path.join(baseDir, 'input/config/inputdataconfig.json'),
  data: path.join(baseDir, 'input/data'),
  model: modelDir(baseDir),
  outputData: path.join(baseDir, 'output/data'),
  failure: path.join(baseDir, 'output/failure'),
  checkpointConfig: path.join(baseDir, 'input/config/checkpointconfig.json'),
  /** SageMaker's default checkpoint folder (/opt/ml/checkpoints). */
  checkpoints: path.join(baseDir, 'checkpoints'),
});

export interface TrainResult {
  files: Record<string, Uint8Array | string>;
  metrics: Record<string, number>;
}

/** Metric lines for SageMaker's MetricDefinitions regexes, written unbuffered, one per line. */
function printMetrics(metrics: Record<string, number>): void {
  for (const [name, value] of Object.entries(metrics)) fs.writeSync(1, `${name}=${Number(value.toPrecision(8))}\n`);
}

function prefixed(prefix: string, values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [`${prefix}:${k}`, v]));
}

/** Class names in a stable order: numbers when every label is an integer, else sorted strings. */
function classNames(targets: string[]): string[] | number[] {
  const unique = [...new Set(targets)];
  if (unique.every((t) => /^[+-]?\d+$/.test(t))) return unique.map(Number).sort((a, b) => a - b);
  return unique.sort();
}

function classIndices(targets: string[], names: string[] | number[], channel: string): Int32Array {
  const index = new Map<string, number>(names.map((n, i) => [String(n), i]));
  return Int32Array.from(targets, (t) => {
    const i = index.get(/^[+-]?\d+$/.test(t) && typeof names[0] === 'number' ? String(Number(t)) : t);
    if (i === undefined) throw new ServerError('TRAINING_DATA_INVALID', `${channel} channel: label ${JSON.stringify(t)} does not occur in the training data (classes: ${names.join(', ')})`);
    return i;
  });
}

function numericTargets(data: Dataset, channel: string): Float64Array {
  return Float64Array.from(data.targets, (t, r) => {
    const n = Number(t);
    if (!Number.isFinite(n)) throw new ServerError('TRAINING_DATA_INVALID', `${channel} channel, row ${r + 1}: label ${JSON.stringify(t)} is not a number (algorithm=linear needs numeric targets)`);
    return n;
  });
}

/** The rows `data` as the exported graph takes them: one [N, F] float input, or one input per column. */
function graphFeeds(data: Dataset, enc: Encoding, rows: number): Record<string, ort.Tensor> {
  const f = data.features.length;
  if (enc.categorical.length === 0) return { input: new ort.Tensor('float32', Float32Array.from(data.x.subarray(0, rows * f)), [rows, f]) };
  const feeds: Record<string, ort.Tensor> = {};
  data.features.forEach((name, c) => {
    const text = data.text[c];
    feeds[name] = text
      ? new ort.Tensor('string', text.slice(0, rows), [rows, 1])
      : new ort.Tensor('float32', Float32Array.from({ length: rows }, (_, r) => data.x[r * f + c]), [rows, 1]);
  });
  return feeds;
}

/** onnxruntime must give what the TypeScript model gives, or the model is not written. */
async function checkGraph(bytes: Uint8Array, data: Dataset, enc: Encoding, expected: Float64Array, output: string): Promise<void> {
  const rows = Math.min(data.rows, 64);
  const session = await ort.InferenceSession.create(bytes);
  const result = await session.run(graphFeeds(data, enc, rows));
  const got = result[output].data as Float32Array;
  const per = expected.length / data.rows;
  for (let i = 0; i < rows * per; i++) {
    const tolerance = 1e-4 * Math.max(1, Math.abs(expected[i]));
    // Written so that NaN (a float32 overflow in the graph) counts as a disagreement.
    if (!(Math.abs(got[i] - expected[i]) <= tolerance)) {
      throw new ServerError('TRAINING_FAILED', `the exported ONNX graph disagrees with the trained model (value ${i}: ${got[i]} vs ${expected[i]}); nothing was written`);
    }
  }
  await session.release();
}

/** A diverged fit gives NaN or infinite weights; refuse it rather than write a model that answers NaN. */
function requireFinite(parts: Record<string, ArrayLike<number>>, advice: string): void {
  for (const [name, values] of Object.entries(parts)) {
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) throw new ServerError('TRAINING_FAILED', `the fit diverged: ${name}[${i}] is ${values[i]}; ${advice}; nothing was written`);
    }
  }
}

async function trainLogistic(hp: Hyperparameters, train: Dataset, validation: Dataset | undefined, shouldStop: () => boolean): Promise<TrainResult> {
  const names = classNames(train.targets);
  if (names.length < 2) throw new ServerError('TRAINING_DATA_INVALID', `training channel: every row has the label ${JSON.stringify(train.targets[0])}; classification needs at least two classes`);
  const y = classIndices(train.targets, names, 'training');
  const enc = fitEncoding(train);
  const model = await fitLogisticDesign(encode(train, enc), y, names.length, {
    l2: hp.l2,
    epochs: hp.epochs,
    learningRate: hp.learningRate,
    miniBatchSize: hp.miniBatchSize,
    tolerance: hp.tolerance,
    seed: hp.seed,
    shouldStop,
  });
  requireFinite({ weights: model.weights, bias: model.bias, mean: enc.mean, scale: enc.scale }, `lower learning_rate (now ${hp.learningRate}), or rescale values too large to fit`);
  // Metrics on the values as the graph's float32 inputs hold them.
  const trainProbs = designProbabilities(model, encode(train, enc, true));
  let metrics = prefixed('train', classificationMetrics(trainProbs, y, train.rows, names.length));
  if (validation) {
    const vy = classIndices(validation.targets, names, 'validation');
    metrics = { ...metrics, ...prefixed('validation', classificationMetrics(designProbabilities(model, encode(validation, enc)), vy, validation.rows, names.length)) };
  }
  const onnx = logisticToOnnx({ ...model, ...enc, features: enc.width }, { labels: names, metadata: { features: JSON.stringify(train.features) }, encoding: enc, columns: train.features });
  await checkGraph(onnx, train, enc, trainProbs, 'probabilities');
  return { files: { 'model.onnx': onnx, 'model.json': modelJson(hp, train, enc, 'classification', metrics, names, validation) }, metrics };
}

async function trainLinear(hp: Hyperparameters, train: Dataset, validation: Dataset | undefined): Promise<TrainResult> {
  const y = numericTargets(train, 'training');
  const enc = fitEncoding(train);
  const model = fitRidgeDesign(encode(train, enc), y, hp.l2);
  requireFinite({ weights: model.weights, bias: [model.bias], mean: enc.mean, scale: enc.scale }, 'the data holds values too large to fit (rescale them)');
  const fitted = designScores(model, encode(train, enc, true));
  let metrics = prefixed('train', regressionMetrics(fitted, y, train.rows));
  if (validation) {
    const vy = numericTargets(validation, 'validation');
    metrics = { ...metrics, ...prefixed('validation', regressionMetrics(designScores(model, encode(validation, enc)), vy, validation.rows)) };
  }
  const onnx = linearToOnnx({ ...model, ...enc, features: enc.width }, { metadata: { features: JSON.stringify(train.features) }, encoding: enc, columns: train.features });
  await checkGraph(onnx, train, enc, fitted, 'score');
  return { files: { 'model.onnx': onnx, 'model.json': modelJson(hp, train, enc, 'regression', metrics, undefined, validation) }, metrics };
}

/**
 * model.json: features, labels, task, and each column with its type (what the served input takes: float32
 * numbers or string categories), the value a missing number is filled with (when the graph fills them) and
 * a categorical column's categories (any other value, or an empty one, encodes as all zeros).
 */
function modelJson(hp: Hyperparameters, train: Dataset, enc: Encoding, task: string, metrics: Record<string, number>, labels?: string[] | number[], validation?: Dataset): string {
  const fills = enc.missing || enc.categorical.length > 0;
  const columns = train.features.map((name, feature) => {
    const category = enc.categorical.find((c) => c.feature === feature);
    if (category) return { name, type: 'string', categories: category.categories };
    return { name, type: 'float32', ...(fills ? { missing: enc.fill[enc.numeric.indexOf(feature)] } : {}) };
  });
  const doc = {
    features: train.features,
    columns,
    ...(labels ? { labels } : {}),
    task,
    algorithm: hp.algorithm,
    hyperparameters: hp,
    metrics,
    rows: { training: train.rows, ...(validation ? { validation: validation.rows } : {}) },
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** Serving's model checks throw serving codes; in `train` the same problem is the brought model's. */
function asTrainingModelError(check: () => void): void {
  try {
    check();
  } catch (err) {
    if (err instanceof ServerError) throw new ServerError('TRAINING_MODEL_INVALID', err.message);
    throw err;
  }
}

/** A model brought in the training channel: loaded once to prove it serves, then copied. */
async function bringModel(found: { onnx: string; json?: string }): Promise<TrainResult> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(found.onnx);
  } catch (err) {
    throw new ServerError('TRAINING_MODEL_INVALID', `${found.onnx}: onnxruntime cannot load it: ${String((err as Error).message).split('\n')[0]}`);
  }
  try {
    asTrainingModelError(() => checkTensorOutputs(session, `${found.onnx}:`));
  } finally {
    await session.release();
  }
  const files: Record<string, Uint8Array | string> = { 'model.onnx': fs.readFileSync(found.onnx) };
  if (found.json) {
    const json = found.json;
    asTrainingModelError(() => readModelJson(json));
    files['model.json'] = fs.readFileSync(found.json, 'utf8');
  }
  return { files, metrics: {} };
}

/** Writes every file beside its final name first, then renames them in: no reader sees half a model. */
function writeAtomically(dir: string, files: Record<string, Uint8Array | string>): void {
  fs.mkdirSync(dir, { recursive: true });
  const staged: [string, string][] = [];
  try {
    for (const [name, content] of Object.entries(files)) {
      const tmp = path.join(dir, `.${name}.${process.pid}.tmp`);
      fs.writeFileSync(tmp, content);
      staged.push([tmp, path.join(dir, name)]);
    }
    for (const [tmp, final] of staged) fs.renameSync(tmp, final);
  } catch (err) {
    for (const [tmp] of staged) fs.rmSync(tmp, { force: true });
    throw err;
  }
}

export async function runTraining(baseDir: string, logger: Logger, shouldStop: () => boolean, cpus = 1): Promise<TrainResult> {
  const paths = trainingPaths(baseDir);
  let raw: Record<string, unknown> = {};
  if (fs.existsSync(paths.hyperparameters)) {
    try {
      raw = JSON.parse(fs.readFileSync(paths.hyperparameters, 'utf8'));
    } catch (err) {
      throw new ServerError('TRAINING_CONFIG_INVALID', `${paths.hyperparameters} is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ServerError('TRAINING_CONFIG_INVALID', `${paths.hyperparameters} must be a JSON object of string values`);
  }
  const hp = parseHyperparameters(raw);
  const channels = readInputDataConfig(paths.inputDataConfig);
  for (const [name, cfg] of Object.entries(channels)) {
    const type = cfg.ContentType?.toLowerCase().split(';')[0].trim();
    // algorithm=xgboost reads libsvm too, and checks the types itself.
    if (type && type !== 'text/csv' && type !== 'csv' && hp.algorithm !== 'xgboost' && !channelModel(paths.data, name)) {
      throw new ServerError('TRAINING_CONFIG_INVALID', `channel "${name}" has ContentType ${cfg.ContentType}; this algorithm reads text/csv`);
    }
  }

  let result: TrainResult;
  const brought = channelModel(paths.data, 'training');
  if (brought) {
    logger.info({ model: brought.onnx }, 'training channel holds an ONNX model: checking it and copying it as the model');
    result = await bringModel(brought);
  } else if (hp.algorithm === 'xgboost') {
    result = await trainXgboost(hp, { data: paths.data, checkpointConfig: paths.checkpointConfig, defaultCheckpoints: paths.checkpoints }, channels, logger, shouldStop, cpus);
  } else {
    const files = channelFiles(paths.data, 'training', channels.training);
    if (!files) throw new ServerError('TRAINING_DATA_MISSING', `no training channel: put CSV files in ${path.join(paths.data, 'training')} (the channel must be named "training")`);
    if (files.length === 0) throw new ServerError('TRAINING_DATA_MISSING', `the training channel (${path.join(paths.data, 'training')}) has no files`);
    const train = loadCsv(files, hp, 'training');
    const validationFiles = channelFiles(paths.data, 'validation', channels.validation);
    const validation = validationFiles && validationFiles.length > 0 ? loadCsv(validationFiles, hp, 'validation', train.layout) : undefined;
    logger.info({ algorithm: hp.algorithm, rows: train.rows, features: train.features.length, validationRows: validation?.rows ?? 0, files: files.length }, 'training');
    result = hp.algorithm === 'logistic' ? await trainLogistic(hp, train, validation, shouldStop) : await trainLinear(hp, train, validation);
  }
  writeAtomically(paths.model, result.files);
  fs.mkdirSync(paths.outputData, { recursive: true });
  fs.writeFileSync(path.join(paths.outputData, 'metrics.json'), `${JSON.stringify(result.metrics, null, 2)}\n`);
  printMetrics(result.metrics);
  return result;
}
