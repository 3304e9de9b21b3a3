// `container/train` with algorithm=xgboost as SageMaker runs its built-in XGBoost: channels, logs, failures,
// spot-training checkpoints (SIGTERM and SIGKILL), then `serve` on what it wrote. The fixture jobs of
// test/fixtures/gbdt carry XGBoost 1.7.4's own predictions for the trainer's xgboost-model
// (tools/fixtures/make-gbdt-fixtures.py): the served model.onnx and the served xgboost-model must answer
// them, as the trainer's own trees do.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { request, requireNginx, startServer, type Server } from '../helpers/server';

const TRAIN = path.resolve(__dirname, '../../container/train');
const FIXTURES = path.resolve(__dirname, '../fixtures/gbdt');
const REGENERATE = 'the trainer now grows another model: rerun `/usr/bin/python3 tools/fixtures/make-gbdt-fixtures.py` (needs python3-xgboost) and commit test/fixtures/gbdt';

interface FixtureCase {
  name: string;
  hyperparameters: Record<string, string>;
  inputdataconfig?: Record<string, unknown>;
  channels: Record<string, string[]>;
  rows: string;
  sha256: string;
  rounds: number;
  labels?: (string | number)[];
}

const index = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'index.json'), 'utf8')) as { xgboost: string; cases: FixtureCase[] };

function layout(hyperparameters: Record<string, string>, channels: Record<string, Record<string, string>>, inputDataConfig?: unknown, extra: Record<string, string> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-gbdt-'));
  fs.mkdirSync(path.join(dir, 'input/config'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'input/config/hyperparameters.json'), JSON.stringify(hyperparameters));
  if (inputDataConfig) fs.writeFileSync(path.join(dir, 'input/config/inputdataconfig.json'), JSON.stringify(inputDataConfig));
  for (const [file, content] of Object.entries(extra)) fs.writeFileSync(path.join(dir, 'input/config', file), content);
  for (const [channel, files] of Object.entries(channels)) {
    for (const [name, content] of Object.entries(files)) {
      fs.mkdirSync(path.join(dir, 'input/data', channel), { recursive: true });
      fs.writeFileSync(path.join(dir, 'input/data', channel, name), content);
    }
  }
  return dir;
}

function train(dir: string): { status: number | null; stdout: string } {
  const r = spawnSync(TRAIN, [], { env: { PATH: process.env.PATH, SAGEMAKER_BASE_DIR: dir }, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout };
}

const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const close = (got: number, want: number) => Math.abs(got - want) <= 1e-6 + 1e-5 * Math.abs(want);
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

function fixtureLayout(c: FixtureCase): string {
  const channels = Object.fromEntries(Object.entries(c.channels).map(([ch, files]) => [ch, Object.fromEntries(files.map((f) => [f, fs.readFileSync(path.join(FIXTURES, c.name, ch, f), 'utf8')]))]));
  return layout(c.hyperparameters, channels, c.inputdataconfig ?? undefined);
}

const expectedOf = (c: FixtureCase) => JSON.parse(fs.readFileSync(path.join(FIXTURES, c.name, 'expected.json'), 'utf8')) as { shape: number[]; values: number[] };

beforeAll(() => requireNginx());

describe('trained models in XGBoost 1.7.4 and through serve', () => {
  const dirs = new Map<string, string>();
  let onnx: Server | undefined;
  let xgboost: Server | undefined;

  beforeAll(async () => {
    for (const c of index.cases) dirs.set(c.name, fixtureLayout(c));
    // Every job trains on its own; the two endpoints then hold every model (multi-model mode).
    for (const c of index.cases) {
      const run = train(dirs.get(c.name)!);
      if (run.status !== 0) throw new Error(`${c.name}: train failed:\n${run.stdout}`);
    }
    const models = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-gbdt-models-'));
    onnx = await startServer({ baseDir: models, env: { SAGEMAKER_MULTI_MODEL: 'true', MODEL_SERVER_WORKERS: '1', SAGEMAKER_INFERENCE_OUTPUT: 'predicted_label,probabilities' } });
    xgboost = await startServer({ baseDir: models, env: { SAGEMAKER_MULTI_MODEL: 'true', MODEL_SERVER_WORKERS: '1' } });
    for (const c of index.cases) {
      const model = path.join(dirs.get(c.name)!, 'model');
      // The XGBoost file alone (with model.json), as a user takes it to SageMaker's XGBoost container.
      const alone = path.join(models, c.name);
      fs.mkdirSync(alone);
      for (const f of ['xgboost-model', 'model.json']) fs.copyFileSync(path.join(model, f), path.join(alone, f));
      const load = (server: Server, url: string) => request(server.port, 'POST', '/models', { body: JSON.stringify({ model_name: c.name.replace(/-/g, '_'), url }), headers: { 'Content-Type': 'application/json' } });
      expect((await load(onnx, model)).status).toBe(200);
      expect((await load(xgboost, alone)).status).toBe(200);
    }
  }, 240_000);
  afterAll(async () => {
    await onnx?.stop();
    await xgboost?.stop();
  });

  test.each(index.cases.map((c) => [c.name, c] as const))('%s: the same xgboost-model as when XGBoost predicted it', (_name, c) => {
    expect({ sha256: sha(path.join(dirs.get(c.name)!, 'model/xgboost-model')), hint: REGENERATE }).toEqual({ sha256: c.sha256, hint: REGENERATE });
    const json = JSON.parse(fs.readFileSync(path.join(dirs.get(c.name)!, 'model/model.json'), 'utf8'));
    expect(json).toMatchObject({ algorithm: 'xgboost', objective: c.hyperparameters.objective, rounds: c.rounds });
  });

  /** The request body of a case's probe rows: CSV, or JSON records by column name. */
  function body(c: FixtureCase, codes = false): { text: string; type: string } {
    const text = fs.readFileSync(path.join(FIXTURES, c.name, c.rows), 'utf8');
    if (c.rows.endsWith('.csv')) return { text, type: 'text/csv' };
    const rows = JSON.parse(text) as Record<string, string | number | null>[];
    if (!codes) return { text: JSON.stringify({ instances: rows }), type: 'application/json' };
    // XGBoost takes a category as its code (model.json lists them in code order).
    const columns = JSON.parse(fs.readFileSync(path.join(dirs.get(c.name)!, 'model/model.json'), 'utf8')).columns as { name: string; type: string; categories?: string[] }[];
    const lines = rows.map((r) => columns.map((col) => {
      const v = r[col.name];
      if (col.categories) return col.categories.includes(String(v)) ? String(col.categories.indexOf(String(v))) : '';
      return v === null ? '' : String(v);
    }).join(','));
    return { text: `${lines.join('\n')}\n`, type: 'text/csv' };
  }

  test.each(index.cases.map((c) => [c.name, c] as const))(`%s: model.onnx served answers what XGBoost ${index.xgboost} predicts with the xgboost-model`, async (_name, c) => {
    const { text, type } = body(c);
    const reply = await request(onnx!.port, 'POST', `/models/${c.name.replace(/-/g, '_')}/invoke`, { body: text, headers: { 'Content-Type': type, Accept: 'application/json' } });
    expect(reply.status).toBe(200);
    const answers = reply.json().predictions as { predicted_label?: string | number; probabilities?: number[]; score?: number }[];
    const want = expectedOf(c);
    const objective = c.hyperparameters.objective;
    expect(answers).toHaveLength(want.shape[0]);
    answers.forEach((a, r) => {
      if (objective === 'multi:softprob') a.probabilities!.forEach((p, k) => expect({ r, k, ok: close(p, want.values[r * 3 + k]) }).toEqual({ r, k, ok: true }));
      else if (objective === 'multi:softmax') expect(a.predicted_label).toBe(want.values[r]);
      else if (objective === 'binary:logitraw') expect({ r, ok: close(a.probabilities![1], sigmoid(want.values[r])) }).toEqual({ r, ok: true });
      else if (objective.startsWith('binary:')) {
        expect({ r, ok: close(a.probabilities![1], want.values[r]) }).toEqual({ r, ok: true });
        expect(a.predicted_label).toBe((c.labels ?? [0, 1])[want.values[r] > 0.5 ? 1 : 0]);
      } else expect({ r, ok: close(a.score!, want.values[r]) }).toEqual({ r, ok: true });
    });
  });

  test.each(index.cases.map((c) => [c.name, c] as const))("%s: the xgboost-model served alone answers XGBoost's predictions (SageMaker XGBoost's output)", async (_name, c) => {
    const { text } = body(c, true);
    const reply = await request(xgboost!.port, 'POST', `/models/${c.name.replace(/-/g, '_')}/invoke`, { body: text, headers: { 'Content-Type': 'text/csv' } });
    expect(reply.status).toBe(200);
    const got = reply.body.trim().split('\n').flatMap((l) => l.split(',').map(Number));
    const want = expectedOf(c).values;
    expect(got).toHaveLength(want.length);
    got.forEach((v, i) => expect({ i, ok: close(v, want[i]) }).toEqual({ i, ok: true }));
  });
});

/** Binary data with missing values, label first, no header. */
function binaryCsv(rows: number, seed: number): string {
  let s = seed >>> 0;
  const random = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const lines: string[] = [];
  for (let r = 0; r < rows; r++) {
    const x = Array.from({ length: 6 }, () => Math.round((random() * 4 - 2) * 1000) / 1000);
    const missing = random() < 0.1;
    const y = x[0] * x[1] + (x[2] > 0.5 ? 1 : 0) + (missing ? 1 : 0) + random() - 0.8 > 0 ? 1 : 0;
    lines.push([y, ...x.map((v, i) => (i === 1 && missing ? '' : v))].join(','));
  }
  return `${lines.join('\n')}\n`;
}

describe('a SageMaker XGBoost training job', () => {
  test("train and validation channels in text/csv: XGBoost's log lines each round, SageMaker's metric regexes match them, final metrics printed", () => {
    const dir = layout(
      { objective: 'binary:logistic', num_round: '12', eval_metric: 'logloss,auc', _tuning_objective_metric: 'validation:auc', sagemaker_region: '"eu-west-1"' },
      { train: { 'part-0.csv': binaryCsv(600, 1), 'part-1.csv': binaryCsv(400, 2) }, validation: { 'v.csv': binaryCsv(300, 3) } },
      { train: { ContentType: 'text/csv', TrainingInputMode: 'File' }, validation: { ContentType: 'text/csv; label_size=1', TrainingInputMode: 'File' } },
    );
    const run = train(dir);
    expect(run.status).toBe(0);
    const rounds = run.stdout.split('\n').filter((l) => l.startsWith('['));
    expect(rounds).toHaveLength(12);
    rounds.forEach((line, i) => expect(line).toMatch(new RegExp(`^\\[${i}\\]#011train-logloss:\\d\\.\\d{5}#011train-auc:\\d\\.\\d{5}#011validation-logloss:\\d\\.\\d{5}#011validation-auc:\\d\\.\\d{5}$`)));
    // The regex SageMaker's built-in XGBoost defines for validation:auc (sagemaker-xgboost-container's metrics.py).
    const builtIn = /.*\[[0-9]+\].*#011validation-auc:(\S+)/;
    const last = Number(builtIn.exec(rounds[11])![1]);
    const final = Object.fromEntries(run.stdout.split('\n').filter((l) => /^(train|validation):/.test(l)).map((l) => l.split('=')));
    expect(Object.keys(final)).toEqual(['train:logloss', 'train:auc', 'validation:logloss', 'validation:auc']);
    expect(Number(final['validation:auc'])).toBeCloseTo(last, 5);
    expect(fs.readdirSync(path.join(dir, 'model')).sort()).toEqual(['model.json', 'model.onnx', 'xgboost-model']);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'output/data/metrics.json'), 'utf8'))['validation:auc']).toBeCloseTo(last, 5);
  });

  test('a libsvm channel (text/libsvm, or recognised without a ContentType) gives the model its CSV gives', () => {
    const csv = binaryCsv(500, 9);
    const libsvm = csv.trim().split('\n').map((l) => {
      const [y, ...x] = l.split(',');
      return [y, ...x.flatMap((v, j) => (v === '' ? [] : [`${j}:${v}`]))].join(' ');
    }).join('\n');
    const hp = { objective: 'binary:logistic', num_round: '8' };
    const a = layout(hp, { train: { 'd.csv': csv } });
    const b = layout(hp, { train: { 'd.libsvm': libsvm } }, { train: { ContentType: 'text/libsvm' } });
    const c = layout(hp, { train: { 'd.txt': libsvm } });
    for (const d of [a, b, c]) expect(train(d).status).toBe(0);
    const trees = (d: string) => JSON.parse(fs.readFileSync(path.join(d, 'model/xgboost-model'), 'utf8').replace(/NaN/g, 'null')).learner.gradient_booster;
    expect(trees(b)).toEqual(trees(a));
    expect(trees(c)).toEqual(trees(a));
    // libsvm features are named by their index, XGBoost's way.
    expect(JSON.parse(fs.readFileSync(path.join(b, 'model/model.json'), 'utf8')).features).toEqual(['f0', 'f1', 'f2', 'f3', 'f4', 'f5']);
  });

  test('the same job twice writes the same bytes', () => {
    const hp = { objective: 'binary:logistic', num_round: '6', subsample: '0.8', colsample_bytree: '0.8', seed: '2' };
    const a = layout(hp, { train: { 'd.csv': binaryCsv(500, 4) } });
    const b = layout(hp, { train: { 'd.csv': binaryCsv(500, 4) } });
    expect(train(a).status).toBe(0);
    expect(train(b).status).toBe(0);
    for (const f of ['xgboost-model', 'model.onnx']) expect(sha(path.join(b, 'model', f))).toBe(sha(path.join(a, 'model', f)));
  });

  test.each([
    [{ objective: 'binary:logistic' }, 'TRAINING_CONFIG_INVALID', 'hyperparameter "num_round" is required for algorithm=xgboost'],
    [{ num_round: '5', objective: 'binary:logistic', max_depht: '3' }, 'TRAINING_CONFIG_INVALID', 'unknown hyperparameter "max_depht" for algorithm=xgboost'],
    [{ num_round: '5', objective: 'binary:logistic', eta: 'fast' }, 'TRAINING_CONFIG_INVALID', 'hyperparameter "eta"="fast" is invalid: expected a number >= 0'],
    [{ num_round: '5', objective: 'multi:softprob', num_class: '3' }, 'TRAINING_DATA_INVALID', 'train channel, row 2: label 3 must be a class index 0 to 2 (num_class=3) for objective=multi:softprob'],
    [{ num_round: '5', objective: 'count:poisson' }, 'TRAINING_DATA_INVALID', ''],
  ])('%j fails the job: the reason in output/failure, exit 1, no model', (hp, code, message) => {
    const data = hp.objective === 'multi:softprob' ? '1,0.5,2\n3,0.1,1\n' : hp.objective === 'count:poisson' ? '-1,0.5,2\n' : binaryCsv(50, 1);
    const dir = layout(hp, { train: { 'd.csv': data } });
    const run = train(dir);
    expect(run.status).toBe(1);
    const failure = fs.readFileSync(path.join(dir, 'output/failure'), 'utf8');
    expect(failure).toContain(message);
    if (hp.objective === 'count:poisson') expect(failure).toBe('train channel, row 1: label -1 must be >= 0 for objective=count:poisson');
    expect(run.stdout).toContain(`"code":"${code}"`);
    expect(fs.existsSync(path.join(dir, 'model'))).toBe(false);
  });

  test('both a train and a training channel, or a ContentType it cannot read, fail naming them', () => {
    const both = layout({ num_round: '2' }, { train: { 'a.csv': binaryCsv(20, 1) }, training: { 'b.csv': binaryCsv(20, 2) } });
    expect(train(both).status).toBe(1);
    expect(fs.readFileSync(path.join(both, 'output/failure'), 'utf8')).toBe('both a "train" and a "training" channel were given; algorithm=xgboost reads one of them (SageMaker XGBoost calls it "train")');
    const parquet = layout({ num_round: '2' }, { train: { 'a.csv': binaryCsv(20, 1) } }, { train: { ContentType: 'application/x-parquet' } });
    expect(train(parquet).status).toBe(1);
    expect(fs.readFileSync(path.join(parquet, 'output/failure'), 'utf8')).toBe('channel "train" has ContentType application/x-parquet; algorithm=xgboost reads text/csv and text/libsvm');
  });
});

describe('spot training: checkpoints', () => {
  const hp = { objective: 'binary:logistic', num_round: '150', max_depth: '4', subsample: '0.7', colsample_bytree: '0.8', colsample_bylevel: '0.9', seed: '7', eval_metric: 'logloss', checkpoint_interval: '0' };
  const data = () => ({ train: { 'd.csv': binaryCsv(8000, 21) }, validation: { 'v.csv': binaryCsv(1000, 22) } });
  let uninterrupted: string;

  beforeAll(() => {
    const dir = layout(hp, data());
    expect(train(dir).status).toBe(0);
    uninterrupted = dir;
  }, 120_000);

  /** Starts the job, sends `signal` once round `round` is logged, and resolves with its exit. */
  function interrupted(dir: string, signal: NodeJS.Signals, round: number): Promise<{ code: number | null; stdout: string }> {
    return new Promise((resolve) => {
      const proc = spawn(TRAIN, [], { env: { PATH: process.env.PATH, SAGEMAKER_BASE_DIR: dir } });
      let stdout = '';
      let sent = false;
      proc.stdout.on('data', (d) => {
        stdout += d;
        if (!sent && stdout.includes(`\n[${round}]`)) {
          sent = true;
          proc.kill(signal);
        }
      });
      proc.on('exit', (code) => resolve({ code, stdout }));
    });
  }

  test.each([
    ['SIGTERM (spot interruption: a checkpoint on the way out, exit 143)', 'SIGTERM' as const],
    ['SIGKILL (the periodic checkpoint is all there is)', 'SIGKILL' as const],
  ])('%s: the restarted job resumes and writes the uninterrupted model', async (_what, signal) => {
    const checkpoints = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-gbdt-ckpt-'));
    const dir = layout(hp, data(), undefined, { 'checkpointconfig.json': JSON.stringify({ LocalPath: checkpoints, S3Uri: 's3://bucket/checkpoints' }) });
    const first = await interrupted(dir, signal, 40);
    if (signal === 'SIGTERM') {
      expect(first.code).toBe(143);
      expect(fs.readFileSync(path.join(dir, 'output/failure'), 'utf8')).toMatch(new RegExp(`^training stopped by SIGTERM after round \\d+ of 150; a checkpoint was written to ${checkpoints}`));
    } else expect(first.code).toBeNull();
    expect(fs.existsSync(path.join(dir, 'model'))).toBe(false);
    const saved = JSON.parse(fs.readFileSync(path.join(checkpoints, 'gbdt-checkpoint.json'), 'utf8')).state.round as number;
    expect(saved).toBeGreaterThanOrEqual(signal === 'SIGTERM' ? 41 : 30);
    fs.rmSync(path.join(dir, 'output'), { recursive: true, force: true });
    const second = train(dir);
    expect(second.status).toBe(0);
    expect(second.stdout).toContain(`resuming from the checkpoint after round ${saved}`);
    expect(second.stdout.split('\n').find((l) => l.startsWith('['))).toMatch(new RegExp(`^\\[${saved}\\]`));
    expect(sha(path.join(dir, 'model/xgboost-model'))).toBe(sha(path.join(uninterrupted, 'model/xgboost-model')));
    expect(sha(path.join(dir, 'model/model.onnx'))).toBe(sha(path.join(uninterrupted, 'model/model.onnx')));
  }, 120_000);
});
