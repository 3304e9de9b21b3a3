// Checkpoints for spot training: the boosting state (trees, random generators, early-stopping record,
// metric history) written atomically into the checkpoint folder SageMaker syncs with S3, and read back by
// a restarted job, which then ends with the model an uninterrupted job would have written. A checkpoint
// records a fingerprint of the data and hyperparameters; one from another job is ignored, not resumed.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ServerError } from '../../errors';
import type { BoostState } from './boost';
import type { BoostParams } from './params';
import type { Tree } from './tree';

export const CHECKPOINT_FILE = 'gbdt-checkpoint.json';
const FORMAT = 1;

/**
 * The checkpoint folder: checkpointconfig.json's LocalPath when SageMaker wrote one (CheckpointConfig),
 * else <base>/checkpoints when that folder exists (SageMaker's default path); undefined: no checkpoints.
 */
export function checkpointDir(configFile: string, defaultDir: string): string | undefined {
  if (fs.existsSync(configFile)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(configFile, 'utf8'));
    } catch (err) {
      throw new ServerError('TRAINING_CONFIG_INVALID', `${configFile} is not valid JSON: ${(err as Error).message}`);
    }
    const local = (parsed as { LocalPath?: unknown } | null)?.LocalPath;
    if (local !== undefined && (typeof local !== 'string' || local === '')) throw new ServerError('TRAINING_CONFIG_INVALID', `${configFile}: "LocalPath" must be a folder path`);
    return (local as string | undefined) ?? defaultDir;
  }
  return fs.existsSync(defaultDir) && fs.statSync(defaultDir).isDirectory() ? defaultDir : undefined;
}

/** What makes two jobs the same job: the hyperparameters that shape the model, and every byte of the data. */
export function fingerprint(p: BoostParams, data: { x: Float32Array; labels: Float32Array; names: string[]; categories: (string[] | undefined)[] }[]): string {
  const hash = createHash('sha256');
  const { nthread: _threads, checkpointInterval: _interval, ...shaping } = p;
  hash.update(JSON.stringify(shaping));
  for (const d of data) {
    hash.update(JSON.stringify([d.names, d.categories]));
    hash.update(new Uint8Array(d.x.buffer, d.x.byteOffset, d.x.byteLength));
    hash.update(new Uint8Array(d.labels.buffer, d.labels.byteOffset, d.labels.byteLength));
  }
  return hash.digest('hex');
}

interface Saved {
  format: number;
  fingerprint: string;
  state: BoostState;
}

/** Writes the state (a temporary file renamed over the last checkpoint, so a kill never leaves half of one). */
export function saveCheckpoint(dir: string, print: string, state: BoostState): void {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, CHECKPOINT_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  const saved: Saved = { format: FORMAT, fingerprint: print, state };
  // NaN thresholds of categorical splits are not JSON: they are written as null and read back as NaN.
  fs.writeFileSync(tmp, JSON.stringify(saved));
  fs.renameSync(tmp, file);
}

/** The saved state if the folder holds this job's checkpoint; why not otherwise. */
export function loadCheckpoint(dir: string, print: string): { state?: BoostState; ignored?: string } {
  const file = path.join(dir, CHECKPOINT_FILE);
  if (!fs.existsSync(file)) return {};
  let saved: Saved;
  try {
    saved = JSON.parse(fs.readFileSync(file, 'utf8')) as Saved;
  } catch (err) {
    return { ignored: `${file} cannot be read (${(err as Error).message})` };
  }
  if (saved.format !== FORMAT) return { ignored: `${file} is of another format (${saved.format})` };
  if (saved.fingerprint !== print) return { ignored: `${file} is another job's (other data or hyperparameters)` };
  const state = saved.state;
  const num = (v: number | null) => (v === null ? NaN : v);
  state.trees = state.trees.map((t: Tree) => ({ ...t, value: t.value.map(num) }));
  state.history = state.history.map((row) => row.map(num));
  return { state };
}
