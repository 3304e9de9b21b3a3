// Tree model files to a servable model: each file read by its format's module, several XGBoost boosters
// (SageMaker's k-fold output) put side by side in one ensemble, and the ensemble written as ONNX. Pure but
// for reading the files; every refusal names the file and says what to do.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ServerError } from '../errors';
import { Columns, type Ensemble, type Tree } from './ensemble';
import { FORMAT_NAMES, sniff, SNIFF_BYTES, type FileKind } from './detect';
import { readLightgbm } from './lightgbm';
import type { TreeModel } from './model';
import { ensembleToOnnx } from './to-onnx';
import { parseUbjson } from './ubjson';
import { readXgboostDoc, xgboostTrees, type XgbBooster } from './xgboost';
import { readXgboostBinary } from './xgboost-binary';
import { parseJsonWithNonFinite } from './xgboost-json';

/** What a pickled Booster's owner should do instead. */
export const PICKLE_ADVICE = 'a pickled Python object, which the server never unpickles (loading a pickle runs code). SageMaker XGBoost up to 1.2 pickled its Booster: re-save it in XGBoost\'s own format with Python, e.g. `import pickle; pickle.load(open("xgboost-model", "rb")).save_model("xgboost-model.json")`, and serve that file';

/** The first bytes of a file, for sniff(). */
export function readHead(file: string): Uint8Array {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(SNIFF_BYTES);
    const n = fs.readSync(fd, head, 0, SNIFF_BYTES, 0);
    return new Uint8Array(head.buffer, head.byteOffset, n);
  } finally {
    fs.closeSync(fd);
  }
}

export function fileKind(file: string): FileKind {
  return sniff(readHead(file));
}

function invalid(file: string, why: string): ServerError {
  return new ServerError('MODEL_INVALID', `${path.basename(file)}: ${why}`);
}

function readXgboostFile(file: string, kind: FileKind): XgbBooster {
  const bytes = new Uint8Array(fs.readFileSync(file));
  let doc: unknown;
  try {
    if (kind === 'xgboost-json') doc = parseJsonWithNonFinite(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
    else if (kind === 'xgboost-ubjson') doc = parseUbjson(bytes);
    else doc = readXgboostBinary(bytes);
    return readXgboostDoc(doc);
  } catch (err) {
    throw invalid(file, `${FORMAT_NAMES[kind as keyof typeof FORMAT_NAMES]} model that cannot be served: ${(err as Error).message}`);
  }
}

/**
 * The model of `files` (sorted, as SageMaker's container loads them): one LightGBM file, or one or more
 * XGBoost files of the same objective and features, combined as the container combines its k-fold models.
 */
export function loadTreeModel(files: readonly string[]): { model: TreeModel; onnx: Uint8Array } {
  const kinds = files.map(fileKind);
  kinds.forEach((kind, i) => {
    if (kind === 'pickle') throw invalid(files[i], PICKLE_ADVICE);
    if (kind === 'other') throw invalid(files[i], 'not an XGBoost (JSON, UBJSON, binary) or LightGBM (text) model');
  });
  if (kinds.includes('lightgbm')) {
    // Only SageMaker's XGBoost k-fold output has a rule for combining files. Several LightGBM files are more
    // likely a model and its snapshots (LightGBM's snapshot_freq writes model.txt.snapshot_iter_N) than an
    // ensemble, so the server does not guess.
    if (files.length > 1) {
      const names = files.map((f, i) => `${path.basename(f)} (${FORMAT_NAMES[kinds[i] as keyof typeof FORMAT_NAMES]})`).join(', ');
      throw new ServerError('MODEL_AMBIGUOUS', `${files.length} model files at the top of ${path.dirname(files[0])}: ${names}. Only XGBoost files combine into one model (SageMaker's k-fold output); a LightGBM model is served from a folder holding that one file: remove the others (snapshots included) or move them into a sub-folder`);
    }
    return lightgbmModel(files[0]);
  }
  return xgboostModel(files, kinds);
}

function lightgbmModel(file: string): { model: TreeModel; onnx: Uint8Array } {
  let b: ReturnType<typeof readLightgbm>;
  try {
    b = readLightgbm(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw invalid(file, `LightGBM text model that cannot be served: ${(err as Error).message}`);
  }
  const ensemble: Ensemble = {
    precision: 'double',
    comparison: 'leq',
    memberGoes: 'left',
    features: b.features,
    derived: b.derived.derived,
    targets: b.groups,
    base: new Array(b.groups).fill(0),
    trees: b.trees,
  };
  const classes = b.objective.contract === 'binary:logistic' ? 2 : b.objective.contract === 'multi:softprob' ? b.groups : 0;
  const model: TreeModel = {
    library: 'lightgbm',
    format: `${FORMAT_NAMES.lightgbm} (${b.version})`,
    files: [file],
    ensemble,
    objective: b.objective,
    boosters: 1,
    groups: b.groups,
    combine: 'mean',
    classes,
    ...(b.featureNames ? { featureNames: b.featureNames } : {}),
    booster: 'gbdt',
    iterations: b.iterations,
    ...(b.averageOutput ? { averageOutput: b.iterations } : {}),
  };
  return { model, onnx: ensembleToOnnx(ensemble, { library: 'lightgbm', objective: b.objective.name }) };
}

function xgboostModel(files: readonly string[], kinds: FileKind[]): { model: TreeModel; onnx: Uint8Array } {
  const boosters = files.map((f, i) => readXgboostFile(f, kinds[i]));
  const first = boosters[0];
  boosters.forEach((b, i) => {
    if (b.objective.name !== first.objective.name || b.features !== first.features || b.groups !== first.groups) {
      throw new ServerError('MODEL_INVALID', `${path.basename(files[i])} (${b.objective.name}, ${b.features} features, ${b.groups} output(s)) does not match ${path.basename(files[0])} (${first.objective.name}, ${first.features} features, ${first.groups} output(s)): the files of a folder are one model, averaged or voted`);
    }
  });
  const columns = new Columns(first.features);
  const trees: Tree[] = [];
  const base: number[] = [];
  boosters.forEach((b, k) => {
    for (let g = 0; g < b.groups; g++) base.push(b.baseMargin);
    trees.push(...xgboostTrees(b, columns, k * b.groups));
  });
  const ensemble: Ensemble = { precision: 'float', comparison: 'lt', memberGoes: 'right', features: first.features, derived: columns.derived, targets: boosters.length * first.groups, base, trees };
  const contract = first.objective.contract;
  const classes = contract.startsWith('binary') ? 2 : contract.startsWith('multi') ? first.groups : 0;
  const formats = [...new Set(kinds.map((k) => FORMAT_NAMES[k as keyof typeof FORMAT_NAMES]))].join(', ');
  const model: TreeModel = {
    library: 'xgboost',
    format: first.version ? `${formats} (XGBoost ${first.version})` : formats,
    files: [...files],
    ensemble,
    objective: first.objective,
    boosters: boosters.length,
    groups: first.groups,
    combine: contract === 'multi:softmax' || contract === 'binary:hinge' ? 'vote' : 'mean',
    classes,
    ...(first.featureNames ? { featureNames: first.featureNames } : {}),
    booster: first.booster,
    iterations: first.iterations,
    ...(first.bestIteration !== undefined ? { bestIteration: first.bestIteration } : {}),
  };
  return { model, onnx: ensembleToOnnx(ensemble, { library: 'xgboost', objective: first.objective.name }) };
}
