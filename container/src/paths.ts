// Where things live under SAGEMAKER_BASE_DIR and MODEL_SERVER_RUN_DIR, and how the model file is found.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ServerError } from './errors';

export const modelDir = (baseDir: string): string => path.join(baseDir, 'model');

export const runPaths = (runDir: string) => ({
  nginxConf: path.join(runDir, 'nginx.conf'),
  nginxPid: path.join(runDir, 'nginx.pid'),
  nginxTemp: path.join(runDir, 'nginx-temp'),
  workerSocket: (slot: number) => path.join(runDir, `worker-${slot}.sock`),
  /** Proxy mode: the process group of the scorer serve started (so a worker can stop it if the primary dies). */
  upstreamPid: path.join(runDir, 'upstream.pid'),
});

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
    throw new ServerError('MODEL_NOT_FOUND', `no .onnx file under ${dir}: put the model there as model.onnx`);
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
