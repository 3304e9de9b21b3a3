// algorithm=xgboost as a SageMaker training job: the `train` (or `training`) and `validation` channels in
// CSV or libsvm, labels as the objective needs them, the rounds' log on stdout, the checkpoint folder, and
// the files written: model.onnx and model.json that serve loads (checked against the trees by onnxruntime
// first), and xgboost-model (XGBoost's JSON format, under the name SageMaker's XGBoost gives its model).
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { ServerError } from '../../errors';
import type { Logger } from '../../logger';
import { sigmoidF32, softmax } from '../../trees/objectives';
import { channelFiles, type ChannelConfig } from '../data';
import type { Hyperparameters } from '../hyperparameters';
import { checkpointDir } from './checkpoint';
import { isClassifier, toOnnx, toXgboostJson, type TrainedModel } from './export';
import { fitBoosted, objectiveOf } from './fit';
import type { Objective } from './objective';
import type { BoostParams } from './params';
import { formatOf, readTable, type Table } from './table';
import { addPredictions } from './tree';

export const XGBOOST_MODEL_FILE = 'xgboost-model';

export interface JobPaths {
  data: string;
  checkpointConfig: string;
  defaultCheckpoints: string;
}

export interface JobResult {
  files: Record<string, Uint8Array | string>;
  metrics: Record<string, number>;
}

/** The training channel's files: SageMaker XGBoost names it `train`, this project `training`. */
function trainingChannel(dataDir: string, channels: Record<string, ChannelConfig>): { name: string; files: string[] } {
  const named = ['train', 'training'].filter((c) => fs.existsSync(path.join(dataDir, c)) || fs.existsSync(path.join(dataDir, `${c}_0`)) || channels[c] !== undefined);
  if (named.length > 1) throw new ServerError('TRAINING_CONFIG_INVALID', 'both a "train" and a "training" channel were given; algorithm=xgboost reads one of them (SageMaker XGBoost calls it "train")');
  const name = named[0] ?? 'train';
  const files = channelFiles(dataDir, name, channels[name]);
  if (!files) throw new ServerError('TRAINING_DATA_MISSING', `no training channel: put CSV or libsvm files in ${path.join(dataDir, 'train')} (SageMaker XGBoost's "train" channel; "training" works too)`);
  if (files.length === 0) throw new ServerError('TRAINING_DATA_MISSING', `the ${name} channel (${path.join(dataDir, name)}) has no files`);
  return { name, files };
}

/**
 * Labels as the objective takes them: numbers as they are; text labels (this project's CSV with a named
 * target) as class indices of their sorted names, for classification objectives.
 */
function labelsOf(t: Table, objective: Objective, channel: string, classNames?: string[]): { labels: Float32Array; classNames?: string[] } {
  if (t.labelTexts.length === 0) return { labels: Float32Array.from(t.labelNumbers), classNames };
  if (!isClassifier(objective.name)) {
    const row = t.labelCodes.findIndex((c) => c >= 0);
    throw new ServerError('TRAINING_DATA_INVALID', `${channel} channel, row ${row + 1}: label ${JSON.stringify(t.labelTexts[t.labelCodes[row]])} is not a number (objective=${objective.name} needs numeric labels)`);
  }
  const names =
    classNames ??
    [...new Set([...t.labelTexts, ...Array.from(t.labelNumbers.filter((v) => v === v), String)])].sort();
  const index = new Map(names.map((n, i) => [n, i]));
  const labels = new Float32Array(t.rows);
  for (let r = 0; r < t.rows; r++) {
    const text = t.labelCodes[r] >= 0 ? t.labelTexts[t.labelCodes[r]] : String(t.labelNumbers[r]);
    const i = index.get(text);
    if (i === undefined) throw new ServerError('TRAINING_DATA_INVALID', `${channel} channel, row ${r + 1}: label ${JSON.stringify(text)} does not occur in the training data (classes: ${names.join(', ')})`);
    labels[r] = i;
  }
  const expected = objective.groups === 1 ? 2 : objective.groups;
  if (!classNames && names.length !== expected) {
    throw new ServerError('TRAINING_DATA_INVALID', `${channel} channel: the labels are ${names.length} class name(s) (${names.slice(0, 10).join(', ')}${names.length > 10 ? ', ...' : ''}), but objective=${objective.name} ${objective.groups === 1 ? 'has 2 classes' : `has num_class=${objective.groups}`}`);
  }
  return { labels, classNames: names };
}

/** The trainer's own answer for the first rows (what the ONNX graph must reproduce). */
function ownPredictions(m: TrainedModel, t: Table, rows: number): Float32Array {
  const K = m.groups;
  const margins = new Float32Array(rows * K).fill(m.baseMargin);
  m.trees.forEach((tree, i) => addPredictions(tree, t.x, t.features, rows, margins, K, i % K));
  if (isClassifier(m.objective)) {
    if (K === 1) {
      const out = new Float32Array(rows * 2);
      for (let r = 0; r < rows; r++) {
        const p = sigmoidF32(margins[r]);
        out[2 * r] = 1 - p;
        out[2 * r + 1] = p;
      }
      return out;
    }
    const out = new Float32Array(rows * K);
    for (let r = 0; r < rows; r++) softmax(margins, r * K, K, out, r * K, true);
    return out;
  }
  if (m.objective === 'reg:logistic') return margins.map(sigmoidF32);
  if (m.objective === 'count:poisson') return margins.map(Math.exp);
  return margins;
}

/** The graph's inputs for the first rows of a table. */
function feeds(m: TrainedModel, t: Table, rows: number): Record<string, ort.Tensor> {
  const F = t.features;
  if (m.categories.every((c) => c === undefined)) return { input: new ort.Tensor('float32', Float32Array.from(t.x.subarray(0, rows * F)), [rows, F]) };
  const out: Record<string, ort.Tensor> = {};
  m.names.forEach((name, f) => {
    const cats = m.categories[f];
    const column = Array.from({ length: rows }, (_, r) => t.x[r * F + f]);
    out[name] = cats ? new ort.Tensor('string', column.map((v) => (v === v ? cats[v] : '')), [rows, 1]) : new ort.Tensor('float32', Float32Array.from(column), [rows, 1]);
  });
  return out;
}

/** onnxruntime must answer what the trainer computes, or nothing is written. */
async function checkGraph(onnx: Uint8Array, m: TrainedModel, t: Table): Promise<void> {
  const rows = Math.min(t.rows, 256);
  const expected = ownPredictions(m, t, rows);
  const session = await ort.InferenceSession.create(onnx);
  try {
    const result = await session.run(feeds(m, t, rows));
    const got = result[isClassifier(m.objective) ? 'probabilities' : 'score'].data as Float32Array;
    for (let i = 0; i < expected.length; i++) {
      if (!(Math.abs(got[i] - expected[i]) <= 1e-5 * Math.max(1, Math.abs(expected[i])))) {
        throw new ServerError('TRAINING_FAILED', `the exported ONNX graph disagrees with the trained trees (value ${i}: ${got[i]} vs ${expected[i]}); nothing was written`);
      }
    }
  } finally {
    await session.release();
  }
}

function modelJson(hp: Hyperparameters, m: TrainedModel, train: Table, validation: Table | undefined, metrics: Record<string, number>, rounds: number): string {
  const columns = m.names.map((name, f) => (m.categories[f] ? { name, type: 'string', categories: m.categories[f] } : { name, type: 'float32' }));
  const doc = {
    features: m.names,
    columns,
    ...(m.classNames ? { labels: m.classNames } : {}),
    task: isClassifier(m.objective) ? 'classification' : 'regression',
    algorithm: 'xgboost',
    objective: m.objective,
    rounds,
    ...(m.bestIteration !== undefined ? { best_iteration: m.bestIteration } : {}),
    hyperparameters: hp,
    metrics,
    rows: { training: train.rows, ...(validation ? { validation: validation.rows } : {}) },
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

const threadCount = (p: BoostParams, cpus: number) => Math.max(1, Math.min(p.nthread ?? cpus, cpus * 4));

export async function trainXgboost(hp: Hyperparameters, paths: JobPaths, channels: Record<string, ChannelConfig>, logger: Logger, shouldStop: () => boolean, cpus: number): Promise<JobResult> {
  const p = hp.boost!;
  const { name: trainName, files } = trainingChannel(paths.data, channels);
  const options = { header: hp.header, target: hp.target, featureNames: hp.featureNames, categorical: hp.categorical };
  const train = readTable(files, { ...options, format: formatOf(channels[trainName]?.ContentType, files, trainName) }, trainName);
  const validationFiles = channelFiles(paths.data, 'validation', channels.validation);
  const validation = validationFiles && validationFiles.length > 0 ? readTable(validationFiles, { ...options, format: formatOf(channels.validation?.ContentType, validationFiles, 'validation'), like: train }, 'validation') : undefined;

  const objective = objectiveOf(p);
  const trainLabels = labelsOf(train, objective, trainName);
  const validationLabels = validation ? labelsOf(validation, objective, 'validation', trainLabels.classNames) : undefined;
  objective.checkLabels(trainLabels.labels, trainName);
  if (validationLabels) objective.checkLabels(validationLabels.labels, 'validation');
  if (p.earlyStoppingRounds !== undefined && !validation) logger.warn('early_stopping_rounds needs a validation channel; training runs every round');

  const threads = threadCount(p, cpus);
  logger.info({ algorithm: 'xgboost', objective: p.objective, rows: train.rows, features: train.features, validationRows: validation?.rows ?? 0, format: train.format, threads, rounds: p.numRound }, 'training');
  const started = performance.now();
  const dir = checkpointDir(paths.checkpointConfig, paths.defaultCheckpoints);
  const labelled = { ...train, ...trainLabels };
  const labelledValidation = validation && validationLabels ? { ...validation, ...validationLabels } : undefined;
  const fitted = await fitBoosted(p, labelled, labelledValidation, {
    threads,
    log: (line) => fs.writeSync(1, `${line}\n`),
    shouldStop,
    checkpoints: dir,
    logger,
  });
  const fitMs = Math.round(performance.now() - started);
  const { model, result } = fitted;
  const metricNames = fitted.metricNames;
  if (result.stoppedEarly) logger.info({ bestIteration: result.state.best!.iteration, rounds: result.state.round }, `early stopping: no better validation ${metricNames[metricNames.length - 1]} for ${p.earlyStoppingRounds} rounds; the model keeps rounds 0 to ${result.state.best!.iteration}`);
  const metrics = Object.fromEntries(result.metrics.names.map((n, i) => [n, result.metrics.values[i]]));
  const onnx = toOnnx(model, { features: JSON.stringify(train.names), library: 'xgboost', objective: p.objective });
  await checkGraph(onnx, model, train);
  logger.info({ fitMs, ms: Math.round(performance.now() - started), trees: model.trees.length }, 'trees grown');
  return {
    files: { 'model.onnx': onnx, 'model.json': modelJson(hp, model, train, validation, metrics, result.rounds), [XGBOOST_MODEL_FILE]: toXgboostJson(model) },
    metrics,
  };
}
