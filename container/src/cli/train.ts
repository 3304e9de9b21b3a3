// Entry point of `container/train`: runs training and reports failure the SageMaker way (the reason in
// output/failure, a non-zero exit code).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadTrainingConfig, trainingBaseDir } from '../config/training';
import { ServerError } from '../errors';
import { createLogger } from '../logger';
import { TrainingStopped } from '../train/logistic';
import { runTraining, trainingPaths } from '../train/run';

async function main(): Promise<number> {
  let logger = createLogger('info', { role: 'train' });
  let baseDir = trainingBaseDir();
  let stopRequested = false;
  process.on('SIGTERM', () => {
    stopRequested = true;
  });
  const started = performance.now();
  try {
    const config = loadTrainingConfig();
    baseDir = config.baseDir;
    logger = createLogger(config.logLevel, { role: 'train' });
    const result = await runTraining(baseDir, logger, () => stopRequested, config.cpus);
    logger.info({ model: trainingPaths(baseDir).model, files: Object.keys(result.files), metrics: result.metrics, ms: Math.round(performance.now() - started) }, 'training complete');
    return 0;
  } catch (err) {
    const stopped = err instanceof TrainingStopped;
    const reason = err instanceof ServerError || stopped ? (err as Error).message : `unexpected error: ${String((err as Error)?.stack ?? err)}`;
    const failure = trainingPaths(baseDir).failure;
    try {
      fs.mkdirSync(path.dirname(failure), { recursive: true });
      fs.writeFileSync(failure, reason);
    } catch (writeErr) {
      logger.error({ err: String(writeErr) }, `could not write ${failure}`);
    }
    logger.fatal({ code: err instanceof ServerError ? err.code : stopped ? 'TRAINING_STOPPED' : 'INTERNAL_ERROR' }, reason);
    return stopped ? 143 : 1;
  }
}

void main().then((code) => {
  process.exitCode = code;
});
