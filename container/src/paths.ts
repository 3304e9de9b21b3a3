// Where things live under SAGEMAKER_BASE_DIR and MODEL_SERVER_RUN_DIR, and how the model file is found.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ServerError } from './errors';
import { fileKind, PICKLE_ADVICE } from './trees/load';

export const modelDir = (baseDir: string): string => path.join(baseDir, 'model');

export const runPaths = (runDir: string) => ({
  nginxConf: path.join(runDir, 'nginx.conf'),
  nginxPid: path.join(runDir, 'nginx.pid'),
  nginxTemp: path.join(runDir, 'nginx-temp'),
  workerSocket: (slot: number) => path.join(runDir, `worker-${slot}.sock`),
  /** Each worker process's record of the requests it handed to its models (see receipts.ts). */
  receipts: path.join(runDir, 'receipts'),
  /** The primary's Prometheus endpoint, which nginx passes GET /metrics to. */
  metricsSocket: path.join(runDir, 'metrics.sock'),
  /** Proxy mode: the process group of the scorer serve started (so a worker can stop it if the primary dies). */
  upstreamPid: path.join(runDir, 'upstream.pid'),
  /** Proxy mode: the scorer's TMPDIR. */
  upstreamTmp: path.join(runDir, 'upstream-tmp'),
});

/**
 * After a clean stop: removes what the server wrote in the run directory (nginx.conf, pid files, sockets,
 * temp files), then the directory itself when nothing else is left in it (a mounted or shared directory
 * keeps whatever else it holds). Best effort: a stop never fails for it.
 */
export function cleanRunDir(runDir: string): void {
  const paths = runPaths(runDir);
  try {
    for (const entry of fs.readdirSync(runDir)) {
      if (/^worker-\d+\.sock$|^journal-\d+-\d+\.bin$/.test(entry)) fs.rmSync(path.join(runDir, entry), { force: true });
    }
    for (const file of [paths.nginxConf, paths.nginxPid, paths.upstreamPid, paths.metricsSocket]) fs.rmSync(file, { force: true });
    for (const dir of [paths.nginxTemp, paths.upstreamTmp, paths.receipts]) fs.rmSync(dir, { recursive: true, force: true });
    fs.rmdirSync(runDir);
  } catch {
    // not empty (something else lives there), a mount point, or already gone
  }
}

function findOnnxFiles(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string): void => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.toLowerCase().endsWith('.onnx')) found.push(full);
    }
  };
  walk(dir);
  return found.sort();
}

/**
 * XGBoost and LightGBM model files at the top of `dir`, recognised by their content (SageMaker's XGBoost
 * container loads every file there, sorted, dotfiles aside): several XGBoost files are one k-fold model,
 * unless `ensemble` is false (SAGEMAKER_INFERENCE_ENSEMBLE), when the first is the model. A pickle is
 * refused here, before any thread could be asked to read it.
 */
export function findTreeFiles(dir: string, ensemble = true): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (entry.name.startsWith('.') || !entry.isFile()) continue;
    const file = path.join(dir, entry.name);
    const kind = fileKind(file);
    if (kind === 'pickle') throw new ServerError('MODEL_INVALID', `${file} is ${PICKLE_ADVICE}`);
    if (kind !== 'other') found.push(file);
  }
  return ensemble ? found : found.slice(0, 1);
}

/**
 * The model to serve from `dir`: `model.onnx` at its top, else the only `*.onnx` anywhere below it.
 * The errors say what was found and what to do, because this is the first thing a new user gets wrong.
 */
export function resolveModelFile(dir: string): string {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw new ServerError('MODEL_NOT_FOUND', `model directory ${dir} does not exist: put model.onnx there (SageMaker extracts model.tar.gz into /opt/ml/model; locally set SAGEMAKER_BASE_DIR)`);
  }
  if (!stat.isDirectory()) throw new ServerError('MODEL_NOT_FOUND', `${dir} is not a directory: it should hold model.onnx`);
  const preferred = path.join(dir, 'model.onnx');
  if (fs.existsSync(preferred)) return preferred;
  const files = findOnnxFiles(dir);
  if (files.length === 1) return files[0];
  if (files.length === 0) {
    throw new ServerError('MODEL_NOT_FOUND', `no model under ${dir}: put an ONNX model there as model.onnx, or an XGBoost or LightGBM model file (such as SageMaker's xgboost-model) at its top`);
  }
  const names = files.map((f) => path.relative(dir, f)).join(', ');
  throw new ServerError('MODEL_AMBIGUOUS', `${files.length} .onnx files under ${dir} (${names}) and none is model.onnx: keep one, or name the one to serve model.onnx`);
}

/** model.json beside the model file, else at the top of the model directory. */
export function findModelJson(modelFile: string, dir: string): string | undefined {
  for (const candidate of [path.join(path.dirname(modelFile), 'model.json'), path.join(dir, 'model.json')]) {
    if (fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** The module names looked for in a code folder when SAGEMAKER_PROGRAM does not name one. */
export const CODE_FILES = ['inference.mjs', 'inference.js', 'inference.cjs'] as const;

/**
 * A model's inference code: SAGEMAKER_PROGRAM (or inference.mjs, .js, .cjs) in `codeDir` (the model's code/
 * folder, or SAGEMAKER_SUBMIT_DIRECTORY). Undefined when there is none; SAGEMAKER_PROGRAM naming a missing
 * file is an error only where `required` (the single model: every model of a multi-model endpoint may or
 * may not bring code).
 */
export function findInferenceCode(codeDir: string, program: string | undefined, required: boolean): string | undefined {
  if (program) {
    const file = path.join(codeDir, program);
    if (fs.existsSync(file)) return file;
    if (required) throw new ServerError('INFERENCE_CODE_INVALID', `SAGEMAKER_PROGRAM=${program}, but ${file} does not exist: put the module there, or unset SAGEMAKER_PROGRAM`);
    return undefined;
  }
  const found = CODE_FILES.map((name) => path.join(codeDir, name)).filter((file) => fs.existsSync(file));
  if (found.length > 1) {
    throw new ServerError('INFERENCE_CODE_INVALID', `${codeDir} holds ${found.map((f) => path.basename(f)).join(' and ')}: keep one, or name the one to load with SAGEMAKER_PROGRAM`);
  }
  return found[0];
}

/** Where a model's code lives: <model>/code, or SAGEMAKER_SUBMIT_DIRECTORY for the single model. */
export function codeDirOf(modelDirectory: string, submitDirectory?: string): string {
  return submitDirectory ?? path.join(modelDirectory, 'code');
}

/** What a model folder holds: the model's file (or tree model files), model.json and inference code. */
export interface ModelFolder {
  modelFile?: string;
  /** XGBoost or LightGBM files (modelFile is then the first of them). */
  treeFiles?: string[];
  modelJsonFile?: string;
  codeFile?: string;
}

/**
 * What a model folder holds: its .onnx file (else its XGBoost or LightGBM files), model.json and inference
 * code. With code, a folder without a model is not yet an error: the code's modelFn may load something else
 * (checked when it loads).
 */
export function modelFolder(dir: string, codeDir: string, program: string | undefined, programRequired: boolean, ensemble = true): ModelFolder {
  const codeFile = fs.existsSync(dir) ? findInferenceCode(codeDir, program, programRequired) : undefined;
  let modelFile: string | undefined;
  let treeFiles: string[] | undefined;
  try {
    modelFile = resolveModelFile(dir);
  } catch (err) {
    const trees = err instanceof ServerError && err.code === 'MODEL_NOT_FOUND' && fs.existsSync(dir) && fs.statSync(dir).isDirectory() ? findTreeFiles(dir, ensemble) : [];
    if (trees.length > 0) {
      treeFiles = trees;
      modelFile = trees[0];
    } else if (!codeFile) throw err;
  }
  const modelJsonFile = modelFile ? findModelJson(modelFile, dir) : undefined;
  return { ...(modelFile ? { modelFile } : {}), ...(treeFiles ? { treeFiles } : {}), ...(modelJsonFile ? { modelJsonFile } : {}), ...(codeFile ? { codeFile } : {}) };
}
