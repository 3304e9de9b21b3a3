// The gradient-boosted trees fitted in-process (real histogram threads): what each hyperparameter does to
// the trees, determinism across seeds and thread counts, early stopping, missing values, categorical
// splits, objectives, metrics and resuming from a checkpoint. The job as SageMaker runs it (files, logs,
// serving, XGBoost's own predictions) is in test/integration/gbdt.test.ts.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TrainingStopped } from '../../container/src/train/logistic';
import { fitBoosted } from '../../container/src/train/gbdt/fit';
import { evaluate, logGamma } from '../../container/src/train/gbdt/metrics';
import { parseBoostParams } from '../../container/src/train/gbdt/params';
import { parseHyperparameters } from '../../container/src/train/hyperparameters';
import { addPredictions, type Tree } from '../../container/src/train/gbdt/tree';
import { sortFloat32 } from '../../container/src/train/gbdt/bins';
import { binary, depth, fit, leafIds, nodesAt, splitIds, table } from '../helpers/gbdt';
import { thrown } from '../helpers/errors';

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
const treesJson = (trees: Tree[]) => JSON.stringify(trees);
const featuresUsed = (t: Tree) => new Set(splitIds(t).map((n) => t.feature[n]));

/** Margins of rows of a table under a fitted model. */
function margins(fitted: Awaited<ReturnType<typeof fit>>, t: ReturnType<typeof binary>): Float32Array {
  const m = fitted.model;
  const out = new Float32Array(t.rows * m.groups).fill(m.baseMargin);
  m.trees.forEach((tree, i) => addPredictions(tree, t.x, t.features, t.rows, out, m.groups, i % m.groups));
  return out;
}

describe('XGBoost hyperparameters', () => {
  test('algorithm=xgboost is chosen by XGBoost keys, and takes their aliases and defaults', () => {
    const hp = parseHyperparameters({ num_round: '10', objective: 'binary:logistic', learning_rate: '0.1', reg_lambda: '2', min_split_loss: '0.5' });
    expect(hp.algorithm).toBe('xgboost');
    expect(hp.boost).toMatchObject({ numRound: 10, objective: 'binary:logistic', eta: 0.1, lambda: 2, gamma: 0.5, maxDepth: 6, minChildWeight: 1, alpha: 0, subsample: 1, maxBin: 256, growPolicy: 'depthwise', seed: 0 });
    expect(parseHyperparameters({ learning_rate: '0.1' }).algorithm).toBe('logistic');
    expect(parseHyperparameters({ algorithm: 'xgboost', num_round: '3', header: 'true', target: 'y', categorical: 'c' })).toMatchObject({ header: true, target: 'y', categorical: ['c'] });
  });

  test("SageMaker's own keys are accepted, and the tuning job's metric is logged and stopped on", () => {
    const hp = parseHyperparameters({ num_round: '10', objective: 'binary:logistic', eval_metric: 'auc,logloss', _tuning_objective_metric: 'validation:auc', sagemaker_program: 'x' });
    expect(hp.boost!.evalMetric).toEqual(['logloss', 'auc']);
    expect(parseBoostParams({ num_round: '1', objective: 'binary:logistic' }, 'validation:error').evalMetric).toEqual(['error']);
  });

  test.each([
    [{ objective: 'binary:logistic' }, 'hyperparameter "num_round" is required for algorithm=xgboost'],
    [{ num_round: '0' }, 'hyperparameter "num_round"="0" is invalid: expected a whole number >= 1'],
    [{ num_round: '5', objective: 'multi:softprob' }, 'objective=multi:softprob needs hyperparameter "num_class"'],
    [{ num_round: '5', eta: '-1' }, 'hyperparameter "eta"="-1" is invalid: expected a number >= 0'],
    [{ num_round: '5', subsample: '0' }, 'hyperparameter "subsample"="0" is invalid: expected a number > 0 and <= 1'],
    [{ num_round: '5', colsample_bynode: '1.5' }, 'hyperparameter "colsample_bynode"="1.5" is invalid: expected a number > 0 and <= 1'],
    [{ num_round: '5', objective: 'reg:gamma' }, 'hyperparameter "objective"="reg:gamma" is invalid: expected one of reg:squarederror'],
    [{ num_round: '5', grow_policy: 'leafwise' }, 'hyperparameter "grow_policy"="leafwise" is invalid: expected one of depthwise, lossguide'],
    [{ num_round: '5', max_depth: '0' }, 'max_depth"=0 (no limit) needs grow_policy=lossguide'],
    [{ num_round: '5', eval_metric: 'rmse,bogus' }, 'hyperparameter "eval_metric"="rmse,bogus" is invalid: expected comma-separated metrics from rmse, mae, logloss'],
    [{ num_round: '5', eval_metric: 'mlogloss' }, 'eval_metric "mlogloss" does not apply to objective=reg:squarederror'],
    [{ num_round: '5', objective: 'binary:logistic', base_score: '2' }, 'hyperparameter "base_score"="2" is invalid: expected a number > 0 and < 1 for objective=binary:logistic'],
    [{ num_round: '5', eta: '0.1', learning_rate: '0.2' }, 'hyperparameters "eta" and "learning_rate" are the same setting; give one'],
    [{ num_round: '5', booster: 'dart' }, 'hyperparameter "booster"="dart" is not supported: this trainer grows tree boosters (gbtree)'],
    [{ num_round: '5', tree_method: 'exact' }, 'hyperparameter "tree_method"="exact" is not supported'],
    [{ num_round: '5', monotone_constraints: '(1,0)' }, 'hyperparameter "monotone_constraints" is SageMaker XGBoost\'s, but this trainer does not implement it'],
    [{ num_round: '5', _kfold: '5' }, 'hyperparameter "_kfold" is SageMaker XGBoost\'s, but this trainer does not implement it (k-fold cross-validation)'],
    [{ num_round: '5', epochs: '3' }, 'unknown hyperparameter "epochs" for algorithm=xgboost; known: num_round, objective'],
    [{ num_round: '5', _tuning_objective_metric: 'validation:f1' }, 'hyperparameter "_tuning_objective_metric"="validation:f1" is not a metric this trainer logs'],
  ])('%j is refused, naming the key', (raw, message) => {
    const err = thrown(() => parseHyperparameters(raw));
    expect(err.code).toBe('TRAINING_CONFIG_INVALID');
    expect(err.message).toContain(message);
  });

  test('an XGBoost key with algorithm=logistic says which algorithm takes it', () => {
    expect(thrown(() => parseHyperparameters({ algorithm: 'logistic', max_depth: '3' })).message).toContain('("max_depth" is an XGBoost hyperparameter: set algorithm=xgboost)');
  });
});

describe("each hyperparameter's effect on the trees", () => {
  const data = binary();

  test('num_round: one tree per round (per class for multi:softprob)', async () => {
    expect((await fit(data, { num_round: '7', objective: 'binary:logistic' })).model.trees).toHaveLength(7);
    const multi = table({ rows: 600, features: 4, label: (x) => (x[0] < -0.7 ? 0 : x[0] < 0.7 ? 1 : 2) });
    const fitted = await fit(multi, { num_round: '4', objective: 'multi:softprob', num_class: '3' });
    expect(fitted.model.trees).toHaveLength(12);
  });

  test('eta scales every leaf of the first tree, the splits unchanged', async () => {
    const a = (await fit(data, { num_round: '1', objective: 'binary:logistic', eta: '0.3' })).model.trees[0];
    const b = (await fit(data, { num_round: '1', objective: 'binary:logistic', eta: '0.1' })).model.trees[0];
    expect(b.feature).toEqual(a.feature);
    for (const n of leafIds(a)) expect(b.value[n]).toBeCloseTo(a.value[n] / 3, 6);
  });

  test('max_depth bounds every tree; deeper trees fit the training data better', async () => {
    const shallow = await fit(data, { num_round: '10', objective: 'binary:logistic', max_depth: '2' });
    const deep = await fit(data, { num_round: '10', objective: 'binary:logistic', max_depth: '5' });
    expect(Math.max(...shallow.model.trees.map((t) => depth(t)))).toBe(2);
    expect(Math.max(...deep.model.trees.map((t) => depth(t)))).toBe(5);
    expect(deep.result.metrics.values[0]).toBeLessThan(shallow.result.metrics.values[0]);
  });

  test('grow_policy=lossguide grows max_leaves leaves, best gain first, unbounded in depth', async () => {
    const fitted = await fit(data, { num_round: '5', objective: 'binary:logistic', grow_policy: 'lossguide', max_leaves: '9', max_depth: '0' });
    for (const t of fitted.model.trees) expect(leafIds(t)).toHaveLength(9);
    // Depthwise with the same leaves would be balanced; best-first goes deeper where the gain is.
    expect(Math.max(...fitted.model.trees.map((t) => depth(t)))).toBeGreaterThan(3);
    const capped = await fit(data, { num_round: '5', objective: 'binary:logistic', grow_policy: 'lossguide', max_leaves: '9', max_depth: '2' });
    for (const t of capped.model.trees) expect(depth(t)).toBeLessThanOrEqual(2);
  });

  test('lambda shrinks the leaves', async () => {
    const sum = (t: Tree) => leafIds(t).reduce((s, n) => s + Math.abs(t.value[n]), 0);
    const low = (await fit(data, { num_round: '1', objective: 'binary:logistic', lambda: '0' })).model.trees[0];
    const high = (await fit(data, { num_round: '1', objective: 'binary:logistic', lambda: '100' })).model.trees[0];
    expect(sum(high)).toBeLessThan(sum(low) * 0.8);
  });

  test("alpha: a leaf's weight is its gradient sum shrunk by alpha; past every gradient sum the tree is one leaf of 0", async () => {
    const t = (await fit(data, { num_round: '1', objective: 'binary:logistic', alpha: '1e6' })).model.trees[0];
    expect(t.left).toEqual([-1]);
    expect(Math.abs(t.value[0])).toBe(0);
    const some = (await fit(data, { num_round: '1', objective: 'binary:logistic', alpha: '20', max_depth: '1' })).model.trees[0];
    const plain = (await fit(data, { num_round: '1', objective: 'binary:logistic', max_depth: '1' })).model.trees[0];
    for (const n of leafIds(plain)) expect(Math.abs(some.value[n])).toBeLessThan(Math.abs(plain.value[n]));
  });

  test('gamma: every split gains at least gamma, and a large gamma leaves the root alone', async () => {
    const t = (await fit(data, { num_round: '3', objective: 'binary:logistic', gamma: '5' })).model.trees;
    for (const tree of t) for (const n of splitIds(tree)) expect(tree.lossChg[n]).toBeGreaterThanOrEqual(5);
    expect(splitIds(t[0]).length).toBeLessThan(splitIds((await fit(data, { num_round: '1', objective: 'binary:logistic' })).model.trees[0]).length);
    expect((await fit(data, { num_round: '1', objective: 'binary:logistic', gamma: '1e6' })).model.trees[0].left).toEqual([-1]);
  });

  test('min_child_weight: every leaf holds at least that much hessian', async () => {
    for (const t of (await fit(data, { num_round: '3', objective: 'binary:logistic', min_child_weight: '40' })).model.trees) {
      for (const n of leafIds(t)) expect(t.sumHess[n]).toBeGreaterThanOrEqual(40);
    }
  });

  test("max_delta_step caps every node's step", async () => {
    const fitted = await fit(data, { num_round: '3', objective: 'binary:logistic', max_delta_step: '0.05', eta: '1' });
    for (const t of fitted.model.trees) for (const w of t.baseWeight) expect(Math.abs(w)).toBeLessThanOrEqual(0.05 + 1e-7);
  });

  test('subsample: each tree sees a share of the rows, drawn from the seed', async () => {
    const t = (await fit(data, { num_round: '2', objective: 'binary:logistic', subsample: '0.5' })).model.trees[0];
    const full = (await fit(data, { num_round: '2', objective: 'binary:logistic' })).model.trees[0];
    const ratio = t.sumHess[0] / full.sumHess[0];
    expect(ratio).toBeGreaterThan(0.45);
    expect(ratio).toBeLessThan(0.55);
  });

  test('colsample_bytree: a tree splits on its sample of the features only', async () => {
    const fitted = await fit(data, { num_round: '10', objective: 'binary:logistic', colsample_bytree: '0.34' });
    const used = fitted.model.trees.map(featuresUsed);
    for (const u of used) expect(u.size).toBeLessThanOrEqual(2);
    expect(new Set(used.flatMap((u) => [...u])).size).toBeGreaterThan(2);
  });

  test('colsample_bylevel: every level splits on its own sample of the tree\'s features', async () => {
    const fitted = await fit(data, { num_round: '10', objective: 'binary:logistic', colsample_bylevel: '0.2', max_depth: '3' });
    for (const t of fitted.model.trees) {
      for (let d = 0; d < 3; d++) expect(new Set(nodesAt(t, d).filter((n) => t.left[n] >= 0).map((n) => t.feature[n])).size).toBeLessThanOrEqual(1);
    }
  });

  test('colsample_bynode: each split draws its own features (one of six here), so a level mixes features', async () => {
    const fitted = await fit(data, { num_round: '10', objective: 'binary:logistic', colsample_bynode: '0.17', max_depth: '3' });
    const mixed = fitted.model.trees.some((t) => new Set(nodesAt(t, 2).filter((n) => t.left[n] >= 0).map((n) => t.feature[n])).size > 1);
    expect(mixed).toBe(true);
    expect(treesJson(fitted.model.trees)).not.toBe(treesJson((await fit(data, { num_round: '10', objective: 'binary:logistic', max_depth: '3' })).model.trees));
  });

  test('max_bin: a feature is split at no more than max_bin thresholds', async () => {
    const fitted = await fit(data, { num_round: '30', objective: 'binary:logistic', max_bin: '4' });
    const thresholds = new Map<number, Set<number>>();
    for (const t of fitted.model.trees) for (const n of splitIds(t)) (thresholds.get(t.feature[n]) ?? thresholds.set(t.feature[n], new Set()).get(t.feature[n])!).add(t.value[n]);
    for (const set of thresholds.values()) expect(set.size).toBeLessThanOrEqual(4);
  });

  test('scale_pos_weight raises the predicted probability of the positive class', async () => {
    const mean = async (hp: Record<string, string>) => {
      const m = margins(await fit(data, { num_round: '10', objective: 'binary:logistic', ...hp }), data);
      return m.reduce((s, v) => s + sigmoid(v), 0) / m.length;
    };
    expect(await mean({ scale_pos_weight: '4' })).toBeGreaterThan((await mean({})) + 0.05);
  });

  test('base_score is where the margins start (in probability for logistic objectives)', async () => {
    const fitted = await fit(data, { num_round: '1', objective: 'binary:logistic', base_score: '0.8', eta: '0' });
    expect(fitted.model.baseMargin).toBeCloseTo(Math.log(0.8 / 0.2), 5);
    const regression = table({ rows: 300, features: 2, label: (x) => x[0] * 10 + 50 });
    expect((await fit(regression, { num_round: '1', base_score: '50' })).model.baseMargin).toBe(50);
  });

  test('seed: the same seed gives the same model, another seed another (with sampling)', async () => {
    const hp = { num_round: '5', objective: 'binary:logistic', subsample: '0.7', colsample_bytree: '0.7', colsample_bynode: '0.7' };
    const a = await fit(data, { ...hp, seed: '3' });
    const b = await fit(data, { ...hp, seed: '3' });
    const c = await fit(data, { ...hp, seed: '4' });
    expect(treesJson(b.model.trees)).toBe(treesJson(a.model.trees));
    expect(treesJson(c.model.trees)).not.toBe(treesJson(a.model.trees));
  });

  test('nthread: 1, 2 and 3 threads grow the same trees', async () => {
    const hp = { num_round: '5', objective: 'binary:logistic', subsample: '0.8' };
    const one = treesJson((await fit(data, hp, undefined, 1)).model.trees);
    expect(treesJson((await fit(data, hp, undefined, 2)).model.trees)).toBe(one);
    expect(treesJson((await fit(data, hp, undefined, 3)).model.trees)).toBe(one);
  });

  test('max_cat_to_onehot and max_cat_threshold: one category against the rest, or a partition scanned max_cat_threshold categories deep from either end', async () => {
    const cats = table({ rows: 2000, features: 3, categorical: { 0: 8 }, label: (x, random) => ([1, 4, 6].includes(x[0]) ? 1 : 0) ^ (random() < 0.1 ? 1 : 0) });
    const sizes = (trees: Tree[]) => trees.flatMap((t) => splitIds(t).filter((n) => t.categories[n]).map((n) => t.categories[n]!.length));
    const onehot = await fit(cats, { num_round: '3', objective: 'binary:logistic', max_cat_to_onehot: '9' });
    expect(sizes(onehot.model.trees).length).toBeGreaterThan(0);
    expect(new Set(sizes(onehot.model.trees))).toEqual(new Set([1]));
    const partition = await fit(cats, { num_round: '1', objective: 'binary:logistic', max_depth: '1' });
    // The partition separates exactly the positive categories (which side is right does not matter).
    const right = partition.model.trees[0].categories[0]!.slice().sort();
    expect([[1, 4, 6], [0, 2, 3, 5, 7]]).toContainEqual(right);
    // XGBoost scans max_cat_threshold categories from each end of the order: the smaller side holds fewer.
    const capped = await fit(cats, { num_round: '3', objective: 'binary:logistic', max_cat_threshold: '2' });
    const smaller = sizes(capped.model.trees).map((k) => Math.min(k, 8 - k));
    expect(smaller.length).toBeGreaterThan(0);
    expect(Math.max(...smaller)).toBeLessThanOrEqual(1);
  });
});

describe('missing values and objectives', () => {
  test("missing values learn their default direction: rows missing feature 1 go where the label says", async () => {
    // Missing in feature 1 means label 1; present, the label follows feature 1's sign.
    const t = table({ rows: 3000, features: 3, missing: 0.3, label: (x) => (x[1] !== x[1] || x[1] > 0 ? 1 : 0) });
    const fitted = await fit(t, { num_round: '5', objective: 'binary:logistic', max_depth: '2' });
    const root = fitted.model.trees[0];
    expect(root.feature[0]).toBe(1);
    // Missing values go with the positive side (x[1] > 0 is right of the threshold).
    expect(root.defaultLeft[0]).toBe(false);
    const probe = table({ rows: 1, features: 3, label: () => 0 });
    probe.x.set([0, NaN, 0]);
    expect(sigmoid(margins(fitted, probe)[0])).toBeGreaterThan(0.85);
  });

  test.each([
    ['reg:squarederror', 'rmse', (x: number[]) => x[0] * 3 + x[1]],
    ['reg:absoluteerror', 'mae', (x: number[]) => x[0] * 3 + x[1]],
    ['reg:logistic', 'rmse', (x: number[]) => sigmoid(x[0] * 2)],
    ['count:poisson', 'poisson-nloglik', (x: number[]) => Math.round(Math.exp(x[0]))],
    ['binary:logistic', 'logloss', (x: number[]) => (x[0] + x[1] > 0 ? 1 : 0)],
    ['binary:logitraw', 'logloss', (x: number[]) => (x[0] + x[1] > 0 ? 1 : 0)],
    ['multi:softprob', 'mlogloss', (x: number[]) => (x[0] < -0.7 ? 0 : x[0] < 0.7 ? 1 : 2)],
    ['multi:softmax', 'mlogloss', (x: number[]) => (x[0] < -0.7 ? 0 : x[0] < 0.7 ? 1 : 2)],
  ])('%s learns (its default metric, %s, falls round by round)', async (objective, metric, label) => {
    const t = table({ rows: 1500, features: 3, label });
    const lines: string[] = [];
    const fitted = await fit(t, { num_round: '20', objective, ...(objective.startsWith('multi') ? { num_class: '3' } : {}) }, undefined, 2, lines);
    expect(fitted.metricNames).toEqual([metric]);
    const values = lines.map((l) => Number(new RegExp(`train-${metric}:([0-9.]+)`).exec(l)![1]));
    expect(values[values.length - 1]).toBeLessThan(values[0] * 0.7);
  });

  test('reg:absoluteerror starts from the median label and sets leaves to the median residual, as XGBoost 1.7', async () => {
    const t = table({ rows: 501, features: 2, label: (x) => x[0] * 10 });
    const fitted = await fit(t, { num_round: '1', objective: 'reg:absoluteerror', max_depth: '1' });
    const sorted = [...t.labels].sort((a, b) => a - b);
    expect(fitted.model.baseScore).toBe(sorted[250]);
    const tree = fitted.model.trees[0];
    const left = [...t.labels].filter((_, r) => t.x[r * 2 + tree.feature[0]] < tree.value[0]).map((y) => Math.fround(y - fitted.model.baseMargin)).sort((a, b) => a - b);
    const q = (left.length + 1) / 2;
    const median = left.length % 2 ? left[q - 1] : Math.fround(left[Math.floor(q) - 1] + 0.5 * (left[Math.floor(q)] - left[Math.floor(q) - 1]));
    expect(tree.value[tree.left[0]]).toBeCloseTo(median, 4);
  });
});

describe('early stopping and the log', () => {
  const train = binary(1500, 1);
  const validation = binary(800, 2);

  test('each round logs XGBoost\'s line: train and validation metrics side by side, in eval_metric order', async () => {
    const lines: string[] = [];
    await fit(train, { num_round: '3', objective: 'binary:logistic', eval_metric: 'logloss,error,auc' }, validation, 2, lines);
    expect(lines).toHaveLength(3);
    for (const [i, line] of lines.entries()) {
      expect(line).toMatch(new RegExp(`^\\[${i}\\]#011train-logloss:\\d\\.\\d{5}#011train-error:\\d\\.\\d{5}#011train-auc:\\d\\.\\d{5}#011validation-logloss:\\d\\.\\d{5}#011validation-error:\\d\\.\\d{5}#011validation-auc:\\d\\.\\d{5}$`));
      // SageMaker's metric definitions for the built-in algorithm match them.
      expect(/.*\[[0-9]+\].*#011validation-auc:(\S+)/.exec(line)![1]).toMatch(/^0\.\d{5}$/);
    }
  });

  test('early_stopping_rounds stops after that many rounds without a better last validation metric, keeping the best round', async () => {
    const lines: string[] = [];
    const fitted = await fit(train, { num_round: '500', objective: 'binary:logistic', eta: '1', eval_metric: 'auc,logloss', early_stopping_rounds: '5' }, validation, 2, lines);
    const loss = lines.map((l) => Number(/validation-logloss:([0-9.]+)/.exec(l)![1]));
    const best = loss.indexOf(Math.min(...loss));
    expect(fitted.result.stoppedEarly).toBe(true);
    expect(lines).toHaveLength(best + 6);
    expect(fitted.model.bestIteration).toBe(best);
    expect(fitted.model.trees).toHaveLength(best + 1);
    expect(fitted.result.metrics.names).toEqual(['train:auc', 'train:logloss', 'validation:auc', 'validation:logloss']);
    expect(fitted.result.metrics.values[3]).toBeCloseTo(loss[best], 5);
    // auc is maximised: stopping on it keeps the round with the highest.
    const auc: string[] = [];
    const byAuc = await fit(train, { num_round: '500', objective: 'binary:logistic', eta: '1', eval_metric: 'logloss,auc', early_stopping_rounds: '5' }, validation, 2, auc);
    const aucs = auc.map((l) => Number(/validation-auc:([0-9.]+)/.exec(l)![1]));
    expect(byAuc.model.bestIteration).toBe(aucs.indexOf(Math.max(...aucs)));
  });
});

describe('checkpoints', () => {
  test('a job stopped between rounds resumes from its checkpoint and ends with the uninterrupted model, row and column sampling included', async () => {
    const train = binary(1500, 3);
    const validation = binary(500, 4);
    const p = parseBoostParams({ num_round: '12', objective: 'binary:logistic', subsample: '0.7', colsample_bytree: '0.8', colsample_bynode: '0.7', seed: '11', eval_metric: 'logloss', checkpoint_interval: '0' });
    const whole = await fitBoosted(p, train, validation, { threads: 2 });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gbdt-ckpt-'));
    let rounds = 0;
    const lines: string[] = [];
    await expect(fitBoosted(p, train, validation, { threads: 2, checkpoints: dir, log: (l) => lines.push(l), shouldStop: () => lines.length >= 5 && ++rounds > 0 })).rejects.toBeInstanceOf(TrainingStopped);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'gbdt-checkpoint.json'), 'utf8')).state.round).toBe(5);
    const resumed: string[] = [];
    const rest = await fitBoosted(p, train, validation, { threads: 2, checkpoints: dir, log: (l) => resumed.push(l) });
    expect(resumed[0]).toMatch(/^\[5\]/);
    expect(treesJson(rest.model.trees)).toBe(treesJson(whole.model.trees));
    expect(rest.result.metrics.values).toEqual(whole.result.metrics.values);
    // Another job's checkpoint (other hyperparameters) is not resumed.
    const other = await fitBoosted({ ...p, numRound: 3 }, train, validation, { threads: 2, checkpoints: dir, log: (l) => resumed.push(l) });
    expect(other.model.trees).toHaveLength(3);
  });
});

describe('metrics, as XGBoost computes them', () => {
  const labels = Float32Array.from([1, 0, 1, 1, 0, 0]);
  const preds = Float32Array.from([0.9, 0.1, 0.4, 0.4, 0.4, 0.2]);

  test('auc counts tied predictions as one step (half a pair each)', () => {
    // Pairs (positive, negative): 9, of which 0.9 beats all 3, each 0.4 beats 0.1 and 0.2 and ties one 0.4.
    expect(evaluate('auc', preds, labels, 6, 1)).toBeCloseTo((3 + 2.5 + 2.5) / 9, 12);
  });

  test('logloss and error, rmse and mae, poisson-nloglik', () => {
    const ll = -[...labels].reduce((s, y, i) => s + (y ? Math.log(preds[i]) : Math.log(1 - preds[i])), 0) / 6;
    expect(evaluate('logloss', preds, labels, 6, 1)).toBeCloseTo(ll, 6);
    expect(evaluate('error', preds, labels, 6, 1)).toBeCloseTo(2 / 6, 12);
    expect(evaluate('rmse', preds, labels, 6, 1)).toBeCloseTo(Math.sqrt([...labels].reduce((s, y, i) => s + (y - preds[i]) ** 2, 0) / 6), 6);
    expect(evaluate('logloss', Float32Array.from([0, 1]), Float32Array.from([1, 0]), 2, 1)).toBeCloseTo(-Math.log(1e-16), 6);
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 10);
    expect(evaluate('poisson-nloglik', Float32Array.from([2]), Float32Array.from([3]), 1, 1)).toBeCloseTo(Math.log(6) + 2 - Math.log(2) * 3, 6);
  });

  test('mlogloss, merror and a one-vs-rest auc weighted by class prevalence', () => {
    const p = Float32Array.from([0.7, 0.2, 0.1, 0.1, 0.8, 0.1, 0.3, 0.3, 0.4, 0.5, 0.1, 0.4]);
    const y = Float32Array.from([0, 1, 2, 2]);
    expect(evaluate('mlogloss', p, y, 4, 3)).toBeCloseTo(-(Math.log(0.7) + Math.log(0.8) + Math.log(0.4) + Math.log(0.4)) / 4, 6);
    expect(evaluate('merror', p, y, 4, 3)).toBe(0.25);
    const auc = evaluate('auc', p, y, 4, 3);
    expect(auc).toBeGreaterThan(0.5);
    expect(auc).toBeLessThanOrEqual(1);
  });

  test('aucpr of a perfect ranking is 1', () => {
    expect(evaluate('aucpr', Float32Array.from([0.9, 0.8, 0.2, 0.1]), Float32Array.from([1, 1, 0, 0]), 4, 1)).toBeCloseTo(1, 12);
  });

  test('the radix sort orders float32 values as a comparison sort does', () => {
    const random = Array.from({ length: 5000 }, (_, i) => Math.fround(Math.sin(i * 12.9898) * 43758.5453 * (i % 7 === 0 ? -1e-30 : 1)));
    const values = Float32Array.from([...random, 0, -0, 1e30, -1e30, 3.4e38, -3.4e38]);
    const sorted = sortFloat32(Float32Array.from(values), new Float32Array(values.length));
    expect(Array.from(sorted)).toEqual(Array.from(Float32Array.from(values).sort()));
  });
});
