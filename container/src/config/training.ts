// The settings `train` reads: only these, so a serve-only variable never fails a training job.
import * as path from 'node:path';
import { ServerError } from '../errors';
import { logLevel, pick, type Env, type LogLevel } from './env';
import { usableCpus } from './host';

/** The settings `train` uses. Training reads only these, so a serve-only variable never fails a training job. */
export interface TrainingConfig {
  /** SAGEMAKER_BASE_DIR: root of the training layout (input/, model/, output/). */
  readonly baseDir: string;
  /** LOG_LEVEL: pino level. */
  readonly logLevel: LogLevel;
  /** CPUs the job may use (a cgroup quota caps them): the boosted trees' default thread count. */
  readonly cpus: number;
}

/** SAGEMAKER_BASE_DIR alone: it cannot be invalid, so `train` knows where output/failure goes even when a setting is bad. */
export function trainingBaseDir(env: Env = process.env): string {
  return path.resolve(pick(env, 'SAGEMAKER_BASE_DIR')?.value ?? '/opt/ml');
}

/** `train`'s settings, checked by the same rules as serving's; a bad value is a TRAINING_CONFIG_INVALID naming the variable. */
export function loadTrainingConfig(env: Env = process.env): TrainingConfig {
  try {
    return Object.freeze({ baseDir: trainingBaseDir(env), logLevel: logLevel(env), cpus: usableCpus() });
  } catch (err) {
    if (err instanceof ServerError && err.code === 'CONFIG_INVALID') throw new ServerError('TRAINING_CONFIG_INVALID', err.message);
    throw err;
  }
}
