import * as fs from 'node:fs';
import * as path from 'node:path';
import { thrown } from '../helpers/errors';
import { XGBOOST_KEYS } from '../../container/src/train/gbdt/params';
import { DEFAULTS, HYPERPARAMETER_KEYS, parseHyperparameters } from '../../container/src/train/hyperparameters';

const fails = (raw: Record<string, unknown>) => thrown(() => parseHyperparameters(raw)).message;

describe('training hyperparameters', () => {
  test('every value arrives as a string and is parsed to its type; the rest keep their defaults', () => {
    expect(parseHyperparameters({ algorithm: 'linear', l2: '0.5', epochs: '10', header: 'true', mini_batch_size: '32', seed: '7', learning_rate: '0.1', tolerance: '0' })).toEqual({
      ...DEFAULTS,
      algorithm: 'linear',
      l2: 0.5,
      epochs: 10,
      header: true,
      miniBatchSize: 32,
      seed: 7,
      learningRate: 0.1,
      tolerance: 0,
    });
    expect(parseHyperparameters({})).toEqual(DEFAULTS);
  });

  test('target: an index, or a name that implies a header', () => {
    expect(parseHyperparameters({ target: '2' })).toMatchObject({ target: 2, header: false });
    expect(parseHyperparameters({ target: 'price' })).toMatchObject({ target: 'price', header: true });
    expect(fails({ target: 'price', header: 'false' })).toBe('hyperparameter "target"="price" names a column, which needs header=true');
  });

  test("SageMaker's own keys are ignored", () => {
    expect(parseHyperparameters({ _tuning_objective_metric: 'validation:accuracy', sagemaker_program: 'x' })).toEqual(DEFAULTS);
  });

  test.each([
    [{ epochs: '0' }, 'hyperparameter "epochs"="0" is invalid: expected a whole number >= 1'],
    [{ l2: '-1' }, 'hyperparameter "l2"="-1" is invalid: expected a number >= 0'],
    [{ learning_rate: '0' }, 'hyperparameter "learning_rate"="0" is invalid: expected a number > 0'],
    [{ header: 'sometimes' }, 'hyperparameter "header"="sometimes" is invalid: expected true or false'],
    [{ feature_names: 'a,,b' }, 'hyperparameter "feature_names"="a,,b" is invalid: expected comma-separated non-empty names'],
    [{ feature_names: 'a,a' }, 'expected names that are all different'],
    [{ epochs: { n: 1 } }, 'hyperparameter "epochs"="{\\"n\\":1}" is invalid: expected a string value'],
    [{ epoch: '5' }, 'unknown hyperparameter "epoch"; known: algorithm, header, target, l2, epochs, learning_rate, mini_batch_size, tolerance, seed, feature_names'],
  ])('%j is refused naming the key', (raw, message) => {
    const err = thrown(() => parseHyperparameters(raw));
    expect(err.code).toBe('TRAINING_CONFIG_INVALID');
    expect(err.message).toContain(message);
  });

  test('docs/training.md lists exactly these hyperparameters', () => {
    const page = fs.readFileSync(path.resolve(__dirname, '../../docs/training.md'), 'utf8');
    const table = page.slice(page.indexOf('<!-- hyperparameters:start -->'), page.indexOf('<!-- hyperparameters:end -->'));
    expect([...table.matchAll(/^\| `([a-z_0-9]+)` \|/gm)].map((m) => m[1])).toEqual(HYPERPARAMETER_KEYS);
  });

  test('docs/gradient-boosting.md lists exactly the XGBoost hyperparameters algorithm=xgboost takes', () => {
    const page = fs.readFileSync(path.resolve(__dirname, '../../docs/gradient-boosting.md'), 'utf8');
    const table = page.slice(page.indexOf('<!-- xgboost-hyperparameters:start -->'), page.indexOf('<!-- xgboost-hyperparameters:end -->'));
    expect([...table.matchAll(/^\| `([a-z_0-9]+)`(?: \(`[a-z_]+`\))? \|/gm)].map((m) => m[1])).toEqual(XGBOOST_KEYS);
  });
});
