import { usableCpus } from '../../container/src/config/host';
import { loadTrainingConfig, trainingBaseDir } from '../../container/src/config/training';
import { thrown } from '../helpers/errors';

describe('training config', () => {
  test('defaults follow SageMaker, and SAGEMAKER_BASE_DIR and LOG_LEVEL are read', () => {
    // cpus is what the host allows (the boosted trees' default thread count), not a variable.
    expect(loadTrainingConfig({})).toEqual({ baseDir: '/opt/ml', logLevel: 'info', cpus: usableCpus() });
    expect(loadTrainingConfig({ SAGEMAKER_BASE_DIR: '/data/job/', LOG_LEVEL: 'Debug' })).toEqual({ baseDir: '/data/job', logLevel: 'debug', cpus: usableCpus() });
    expect(Object.isFrozen(loadTrainingConfig({}))).toBe(true);
  });

  test('serve-only variables are not read, so bad ones do not fail training', () => {
    const env = { MODEL_SERVER_WORKERS: '0', SAGEMAKER_MAX_PAYLOAD_IN_MB: 'abc', SAGEMAKER_BIND_TO_PORT: '70000', MODEL_SERVER_RUN_DIR: `/tmp/${'x'.repeat(100)}`, SAGEMAKER_BATCH: 'maybe' };
    expect(loadTrainingConfig(env)).toEqual({ baseDir: '/opt/ml', logLevel: 'info', cpus: usableCpus() });
  });

  test('a bad LOG_LEVEL is a TRAINING_CONFIG_INVALID naming the variable', () => {
    const err = thrown(() => loadTrainingConfig({ LOG_LEVEL: 'loud' }));
    expect(err.code).toBe('TRAINING_CONFIG_INVALID');
    expect(err.message).toBe('LOG_LEVEL="loud" is invalid: expected one of fatal, error, warn, info, debug, trace, silent');
  });

  test('the base directory is known even when another setting is bad (output/failure goes there)', () => {
    expect(trainingBaseDir({ SAGEMAKER_BASE_DIR: '/data/job', LOG_LEVEL: 'loud' })).toBe('/data/job');
  });
});
