// `container/train` as SageMaker runs it, on real files, then `serve` on what it wrote.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EXAMPLE_DIR, zipMapModel } from '../helpers/models';
import * as ort from 'onnxruntime-node';
import { csv, request, requireNginx, startServer } from '../helpers/server';

const TRAIN = path.resolve(__dirname, '../../container/train');
const IRIS = fs.readFileSync(path.join(EXAMPLE_DIR, 'input/data/training/iris.csv'), 'utf8').trim().split('\n');
const IRIS_NAMES = 'sepal_length,sepal_width,petal_length,petal_width';

interface Layout {
  hyperparameters?: Record<string, unknown> | string;
  inputDataConfig?: unknown;
  /** channel -> file path (relative to the channel) -> content */
  channels?: Record<string, Record<string, string | Uint8Array>>;
}

function base(layout: Layout): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-train-'));
  fs.mkdirSync(path.join(dir, 'input/config'), { recursive: true });
  if (layout.hyperparameters !== undefined) {
    const hp = layout.hyperparameters;
    fs.writeFileSync(path.join(dir, 'input/config/hyperparameters.json'), typeof hp === 'string' ? hp : JSON.stringify(hp));
  }
  if (layout.inputDataConfig) fs.writeFileSync(path.join(dir, 'input/config/inputdataconfig.json'), JSON.stringify(layout.inputDataConfig));
  for (const [channel, files] of Object.entries(layout.channels ?? {})) {
    for (const [name, content] of Object.entries(files)) {
      const file = path.join(dir, 'input/data', channel, name);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, content);
    }
  }
  return dir;
}

function train(dir: string, env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(TRAIN, [], { env: { PATH: process.env.PATH, SAGEMAKER_BASE_DIR: dir, ...env }, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const metricLines = (stdout: string) => Object.fromEntries(stdout.split('\n').filter((l) => /^(train|validation):\w+=/.test(l)).map((l) => l.split('=')).map(([k, v]) => [k, Number(v)]));
/** The JSON log lines at level fatal. */
const fatalLines = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).filter((l) => l.level === 'fatal');
const modelFiles = (dir: string) => (fs.existsSync(path.join(dir, 'model')) ? fs.readdirSync(path.join(dir, 'model')).sort() : []);

/** A deterministic stream of numbers in [0, 1). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

beforeAll(() => requireNginx());

describe('train -> serve round trips', () => {
  test('logistic on iris: held-out accuracy >= 0.9 from the served model, metrics printed and saved', async () => {
    const training = IRIS.filter((_, i) => i % 5 !== 0);
    const heldOut = IRIS.filter((_, i) => i % 5 === 0);
    const dir = base({
      hyperparameters: { algorithm: 'logistic', feature_names: IRIS_NAMES, epochs: '1500' },
      channels: { training: { 'part-1.csv': training.slice(0, 60).join('\n'), 'more/part-2.csv': training.slice(60).join('\n') }, validation: { 'v.csv': heldOut.join('\n') } },
    });
    const run = train(dir);
    expect(run.status).toBe(0);
    const metrics = metricLines(run.stdout);
    expect(metrics['train:accuracy']).toBeGreaterThan(0.9);
    expect(metrics['validation:accuracy']).toBeGreaterThanOrEqual(0.9);
    expect(metrics['validation:log_loss']).toBeGreaterThan(0);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'output/data/metrics.json'), 'utf8'))).toEqual(
      Object.fromEntries(Object.entries(metrics).map(([k, v]) => [k, expect.closeTo(v, 6)])),
    );
    expect(modelFiles(dir)).toEqual(['model.json', 'model.onnx']);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model/model.json'), 'utf8'));
    expect(json).toMatchObject({ features: IRIS_NAMES.split(','), labels: ['setosa', 'versicolor', 'virginica'], task: 'classification', rows: { training: 120, validation: 30 } });

    const server = await startServer({ baseDir: dir, env: { MODEL_SERVER_WORKERS: '1' } });
    try {
      const reply = await csv(server.port, `${IRIS_NAMES}\n${heldOut.map((l) => l.split(',').slice(1).join(',')).join('\n')}`);
      expect(reply.status).toBe(200);
      const predicted = reply.body.trimEnd().split('\n');
      const correct = predicted.filter((p, i) => p === heldOut[i].split(',')[0]).length;
      expect(correct / heldOut.length).toBeGreaterThanOrEqual(0.9);
    } finally {
      await server.stop();
    }
  });

  test('linear on a noisy linear dataset: R² >= 0.99 from the served model; header and a named target column', async () => {
    const rand = lcg(42);
    const w = [2, -3, 0.5, 0, 1.5];
    const make = (n: number) =>
      Array.from({ length: n }, () => {
        const x = w.map(() => rand() * 10 - 5);
        const y = x.reduce((s, v, i) => s + v * w[i], 7) + (rand() - 0.5) * 0.5;
        return [x[0], x[1], y, x[2], x[3], x[4]];
      });
    const header = 'a,b,y,c,d,e';
    const trainRows = make(400);
    const testRows = make(100);
    const dir = base({
      hyperparameters: { algorithm: 'linear', target: 'y' },
      channels: { training: { 'train.csv': `${header}\n${trainRows.map((r) => r.join(',')).join('\n')}\n` }, validation: { 'validation.csv': `${header}\n${testRows.map((r) => r.join(',')).join('\n')}\n` } },
    });
    const run = train(dir);
    expect(run.status).toBe(0);
    expect(metricLines(run.stdout)['validation:r2']).toBeGreaterThan(0.99);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'model/model.json'), 'utf8'))).toMatchObject({ features: ['a', 'b', 'c', 'd', 'e'], task: 'regression' });

    const server = await startServer({ baseDir: dir, env: { MODEL_SERVER_WORKERS: '1' } });
    try {
      const body = testRows.map((r) => ({ a: r[0], b: r[1], c: r[3], d: r[4], e: r[5] }));
      const reply = await request(server.port, 'POST', '/invocations', { body: JSON.stringify({ instances: body }), headers: { 'Content-Type': 'application/json' } });
      expect(reply.status).toBe(200);
      const scores: number[] = reply.json().predictions.map((p: { score: number }) => p.score);
      const ys = testRows.map((r) => r[2]);
      const mean = ys.reduce((a, b) => a + b, 0) / ys.length;
      const sse = ys.reduce((s, y, i) => s + (y - scores[i]) ** 2, 0);
      const sst = ys.reduce((s, y) => s + (y - mean) ** 2, 0);
      expect(1 - sse / sst).toBeGreaterThanOrEqual(0.99);
    } finally {
      await server.stop();
    }
  });

  test('integer class labels come back as the same integers', async () => {
    const rows = IRIS.map((l) => l.replace(/^setosa/, '10').replace(/^versicolor/, '20').replace(/^virginica/, '30'));
    const dir = base({ hyperparameters: { algorithm: 'logistic' }, channels: { training: { 'd.csv': rows.join('\n') } } });
    expect(train(dir).status).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'model/model.json'), 'utf8')).labels).toEqual([10, 20, 30]);
    const server = await startServer({ baseDir: dir, env: { MODEL_SERVER_WORKERS: '1' } });
    try {
      const reply = await csv(server.port, '5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3', 'application/json');
      expect(reply.json().predictions).toEqual([{ predicted_label: 10 }, { predicted_label: 30 }]);
    } finally {
      await server.stop();
    }
  });

  test('Pipe mode: the training_0 FIFO is read', async () => {
    const dir = base({ hyperparameters: { algorithm: 'logistic', epochs: '300' }, inputDataConfig: { training: { TrainingInputMode: 'Pipe', ContentType: 'text/csv' } } });
    fs.mkdirSync(path.join(dir, 'input/data'), { recursive: true });
    const fifo = path.join(dir, 'input/data/training_0');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const proc = spawn(TRAIN, [], { env: { PATH: process.env.PATH, SAGEMAKER_BASE_DIR: dir } });
    let stdout = '';
    proc.stdout.on('data', (d) => (stdout += d));
    // The writer side, as SageMaker's pipe agent would: open, stream, close.
    const writer = fs.createWriteStream(fifo);
    writer.end(IRIS.join('\n'));
    const code = await new Promise((resolve) => proc.on('exit', resolve));
    expect(code).toBe(0);
    expect(metricLines(stdout)['train:accuracy']).toBeGreaterThan(0.9);
    expect(modelFiles(dir)).toEqual(['model.json', 'model.onnx']);
  });

  test('the same data and seed give the same model bytes; another seed gives another model', () => {
    const channels = { training: { 'd.csv': IRIS.join('\n') } };
    const hp = (seed: string) => ({ algorithm: 'logistic', mini_batch_size: '16', epochs: '50', seed });
    const [a, b, c] = [base({ hyperparameters: hp('1'), channels }), base({ hyperparameters: hp('1'), channels }), base({ hyperparameters: hp('2'), channels })];
    for (const d of [a, b, c]) expect(train(d).status).toBe(0);
    const bytes = (d: string) => fs.readFileSync(path.join(d, 'model/model.onnx'));
    expect(bytes(a).equals(bytes(b))).toBe(true);
    expect(bytes(a).equals(bytes(c))).toBe(false);
  });
});

describe('bring your own model', () => {
  test('an .onnx in the training channel is checked and copied with its model.json', () => {
    const onnx = fs.readFileSync(path.join(EXAMPLE_DIR, 'model/model.onnx'));
    const json = fs.readFileSync(path.join(EXAMPLE_DIR, 'model/model.json'), 'utf8');
    const dir = base({ channels: { training: { 'my-model.onnx': onnx, 'model.json': json } } });
    expect(train(dir).status).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'model/model.onnx')).equals(onnx)).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'model/model.json'), 'utf8')).toBe(json);
  });

  test('a model onnxruntime-node cannot serve is refused', () => {
    const dir = base({ channels: { training: { 'm.onnx': zipMapModel() } } });
    const run = train(dir);
    expect(run.status).toBe(1);
    expect(fs.readFileSync(path.join(dir, 'output/failure'), 'utf8')).toMatch(/m\.onnx: output "output_probability" is a sequence or map.*zipmap": False/);
    expect(fatalLines(run.stdout).map((l) => l.code)).toEqual(['TRAINING_MODEL_INVALID']);
    expect(modelFiles(dir)).toEqual([]);
  });

  test('a file onnxruntime cannot load is refused naming it', () => {
    const dir = base({ channels: { training: { 'broken.onnx': 'version https://git-lfs.github.com/spec/v1\n' } } });
    const run = train(dir);
    expect(run.status).toBe(1);
    expect(fs.readFileSync(path.join(dir, 'output/failure'), 'utf8')).toMatch(/broken\.onnx: onnxruntime cannot load it/);
    expect(fatalLines(run.stdout).map((l) => l.code)).toEqual(['TRAINING_MODEL_INVALID']);
  });
});

describe('settings: train reads only SAGEMAKER_BASE_DIR and LOG_LEVEL', () => {
  test('succeeds with serve-only variables that serve would refuse', () => {
    const dir = base({ hyperparameters: { epochs: '50' }, channels: { training: { 'd.csv': IRIS.join('\n') } } });
    const run = train(dir, { MODEL_SERVER_WORKERS: '0', SAGEMAKER_MAX_PAYLOAD_IN_MB: 'abc', SAGEMAKER_BIND_TO_PORT: '70000', SAGEMAKER_BATCH: 'maybe' });
    expect(run.status).toBe(0);
    expect(modelFiles(dir)).toEqual(['model.json', 'model.onnx']);
  });

  test('a bad LOG_LEVEL fails it naming LOG_LEVEL, with the reason in SAGEMAKER_BASE_DIR/output/failure', () => {
    const dir = base({ channels: { training: { 'd.csv': IRIS.join('\n') } } });
    const run = train(dir, { LOG_LEVEL: 'loud' });
    expect(run.status).toBe(1);
    expect(fs.readFileSync(path.join(dir, 'output/failure'), 'utf8')).toBe('LOG_LEVEL="loud" is invalid: expected one of fatal, error, warn, info, debug, trace, silent');
    expect(fatalLines(run.stdout).map((l) => l.code)).toEqual(['TRAINING_CONFIG_INVALID']);
    expect(modelFiles(dir)).toEqual([]);
  });
});

describe('training failures: reason in output/failure naming the place, non-zero exit, no model written', () => {
  test.each([
    ['no training channel', { hyperparameters: { algorithm: 'logistic' } }, /^no training channel: put CSV files in .*input\/data\/training/, 'TRAINING_DATA_MISSING'],
    ['an empty file', { channels: { training: { 'empty.csv': '' } } }, /^empty\.csv is empty: the training channel needs at least one row$/, 'TRAINING_DATA_INVALID'],
    ['a ragged row', { channels: { training: { 'd.csv': 'a,1,2,3\nb,1,2\n' } } }, /^d\.csv, line 2: 3 column\(s\), but the first row has 4$/, 'TRAINING_DATA_INVALID'],
    ['text in a column of numbers', { channels: { training: { 'd.csv': 'a,1,2,3\nb,1,x,3\n' } } }, /^d\.csv, line 2, column 3: "x" is not a number; the column's other values are numbers \(name the column in the "categorical" hyperparameter to treat every value as a category\)$/, 'TRAINING_DATA_INVALID'],
    ['a number in a column of text', { channels: { training: { 'd.csv': 'a,1,x,3\nb,1,2,3\n' } } }, /^d\.csv, line 2, column 3: "2" is a number, but the column's earlier values are text \(d\.csv, line 1, column 3: "x"\); name the column in the "categorical" hyperparameter/, 'TRAINING_DATA_INVALID'],
    ['a column with no values', { channels: { training: { 'd.csv': 'a,1,,3\nb,1,,3\n' } } }, /^training channel: column\(s\) feature_2 have no values$/, 'TRAINING_DATA_INVALID'],
    ['a categorical column that does not exist', { hyperparameters: { categorical: 'colour' }, channels: { training: { 'd.csv': 'a,1\nb,2' } } }, /^hyperparameter "categorical" names "colour", which is not a feature column; features are feature_1$/, 'TRAINING_CONFIG_INVALID'],
    ['a validation cell that is not a number in a numeric column', { channels: { training: { 'd.csv': 'a,1,x\nb,2,y\n' }, validation: { 'v.csv': 'a,one,x\n' } } }, /^v\.csv, line 1, column 2: "one" is not a number; the column is numeric in the training data$/, 'TRAINING_DATA_INVALID'],
    ['an unknown algorithm', { hyperparameters: { algorithm: 'random_forest' }, channels: { training: { 'd.csv': 'a,1\nb,2' } } }, /^hyperparameter "algorithm"="random_forest" is invalid: expected one of logistic, linear, xgboost$/, 'TRAINING_CONFIG_INVALID'],
    ['a bad hyperparameter value', { hyperparameters: { epochs: 'ten' }, channels: { training: { 'd.csv': 'a,1\nb,2' } } }, /^hyperparameter "epochs"="ten" is invalid: expected a whole number >= 1$/, 'TRAINING_CONFIG_INVALID'],
    ['an unknown hyperparameter', { hyperparameters: { epoch: '10' }, channels: { training: { 'd.csv': 'a,1\nb,2' } } }, /^unknown hyperparameter "epoch"; known: algorithm, header, target/, 'TRAINING_CONFIG_INVALID'],
    ['hyperparameters.json that is not JSON', { hyperparameters: '{"epochs": ', channels: { training: { 'd.csv': 'a,1\nb,2' } } }, /hyperparameters\.json is not valid JSON/, 'TRAINING_CONFIG_INVALID'],
    ['a target column that does not exist', { hyperparameters: { target: 'price' }, channels: { training: { 'd.csv': 'x,y\n1,2\n' } } }, /^d\.csv, line 1 \(header\): no column named "price" \(target\); columns are x, y$/, 'TRAINING_DATA_INVALID'],
    ['a single class', { channels: { training: { 'd.csv': 'a,1\na,2\n' } } }, /every row has the label "a"; classification needs at least two classes/, 'TRAINING_DATA_INVALID'],
    ['a non-numeric target for linear', { hyperparameters: { algorithm: 'linear' }, channels: { training: { 'd.csv': '1.5,1\nhigh,2\n' } } }, /training channel, row 2: label "high" is not a number/, 'TRAINING_DATA_INVALID'],
    ['a validation label unseen in training', { channels: { training: { 'd.csv': 'a,1\nb,2\n' }, validation: { 'v.csv': 'c,3\n' } } }, /validation channel: label "c" does not occur in the training data \(classes: a, b\)/, 'TRAINING_DATA_INVALID'],
    ['a validation file with other columns', { channels: { training: { 'd.csv': 'a,1,2\nb,2,3\n' }, validation: { 'v.csv': 'a,1\n' } } }, /^v\.csv, line 1: 2 column\(s\), but the training data has 3$/, 'TRAINING_DATA_INVALID'],
    ['a channel that is not CSV', { inputDataConfig: { training: { ContentType: 'application/x-recordio-protobuf', TrainingInputMode: 'File' } }, channels: { training: { 'd.csv': 'a,1\nb,2' } } }, /channel "training" has ContentType application\/x-recordio-protobuf; this algorithm reads text\/csv/, 'TRAINING_CONFIG_INVALID'],
    ['a diverging fit', { hyperparameters: { learning_rate: '1000000', epochs: '300' }, channels: { training: { 'd.csv': IRIS.join('\n') } } }, /^the fit diverged: \w+\[\d+\] is (NaN|-?Infinity); lower learning_rate \(now 1000000\)/, 'TRAINING_FAILED'],
  ])('%s', (_what, layout, message, code) => {
    const dir = base(layout as Layout);
    const run = train(dir);
    expect(run.status).toBe(1);
    const failure = fs.readFileSync(path.join(dir, 'output/failure'), 'utf8');
    expect(failure).toMatch(message);
    expect(failure).not.toMatch(/\n\s+at /);
    expect(modelFiles(dir)).toEqual([]);
    // One fatal JSON line with the same reason and its training code.
    const fatal = fatalLines(run.stdout);
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toMatchObject({ code, msg: failure });
  });

  test('SIGTERM stops training cleanly: reason written, exit 143, no model', async () => {
    const rand = lcg(3);
    const rows = Array.from({ length: 5000 }, () => `${rand() < 0.5 ? 'a' : 'b'},${Array.from({ length: 20 }, () => rand().toFixed(4)).join(',')}`);
    const dir = base({ hyperparameters: { algorithm: 'logistic', epochs: '1000000', tolerance: '0' }, channels: { training: { 'd.csv': rows.join('\n') } } });
    const proc = spawn(TRAIN, [], { env: { PATH: process.env.PATH, SAGEMAKER_BASE_DIR: dir } });
    let stdout = '';
    proc.stdout.on('data', (d) => (stdout += d));
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (stdout.includes('"msg":"training"')) {
          clearInterval(poll);
          resolve();
        }
      }, 20);
    });
    const t = Date.now();
    proc.kill('SIGTERM');
    const code = await new Promise((resolve) => proc.on('exit', resolve));
    expect(code).toBe(143);
    expect(Date.now() - t).toBeLessThan(5000);
    expect(fs.readFileSync(path.join(dir, 'output/failure'), 'utf8')).toBe('training stopped by SIGTERM before it finished');
    expect(fatalLines(stdout).map((l) => l.code)).toEqual(['TRAINING_STOPPED']);
    expect(modelFiles(dir)).toEqual([]);
  });
});

describe('validation files', () => {
  test('a validation file without the header line is read by position when the training files have one', () => {
    const rand = lcg(7);
    const make = (n: number) =>
      Array.from({ length: n }, () => {
        const x = [rand() * 10 - 5, rand() * 10 - 5];
        return [x[0], 3 * x[0] - 2 * x[1] + 1, x[1]];
      });
    const rows = (r: number[][]) => r.map((v) => v.join(',')).join('\n');
    const withHeader = base({
      hyperparameters: { algorithm: 'linear', target: 'y' },
      channels: { training: { 'train.csv': `a,y,b\n${rows(make(200))}\n` }, validation: { 'v.csv': `${rows(make(50))}\n` } },
    });
    const run = train(withHeader);
    expect(run.status).toBe(0);
    expect(metricLines(run.stdout)['validation:r2']).toBeGreaterThan(0.99);
    expect(JSON.parse(fs.readFileSync(path.join(withHeader, 'model/model.json'), 'utf8'))).toMatchObject({ features: ['a', 'b'], rows: { training: 200, validation: 50 } });
    // A first line of other names is still a header that does not match.
    const other = base({
      hyperparameters: { algorithm: 'linear', target: 'y' },
      channels: { training: { 'train.csv': `a,y,b\n${rows(make(20))}\n` }, validation: { 'v.csv': `p,y,q\n${rows(make(5))}\n` } },
    });
    const refused = train(other);
    expect(refused.status).toBe(1);
    expect(fs.readFileSync(path.join(other, 'output/failure'), 'utf8')).toMatch(/^v\.csv, line 1 \(header\): columns p, y, q differ from the training data's/);
  });
});

describe('categorical columns: one-hot encoded inside the graph, so serve takes the raw text', () => {
  const COLOURS = ['red', 'green', 'blue'];
  const CITIES = ['São Paulo', 'Zürich', 'New York, NY', '東京'];
  const quote = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  /** Rows of colour (sometimes missing), size (sometimes missing), city, weight and a label that depends on all but weight. */
  function dataset(n: number, seed: number): { colour: string; size: number | null; city: string; weight: number; label: string; y: number }[] {
    const rand = lcg(seed);
    return Array.from({ length: n }, () => {
      const colour = rand() < 0.05 ? '' : COLOURS[Math.floor(rand() * 3)];
      const size = rand() < 0.05 ? null : Math.round(rand() * 100) / 10;
      const city = CITIES[Math.floor(rand() * 4)];
      const weight = Math.round(rand() * 1000) / 10;
      const score = (colour === 'red' ? 2 : colour === 'blue' ? -2 : 0) + ((size ?? 5) - 5) * 0.8 + (city === '東京' ? 1.5 : 0);
      return { colour, size, city, weight, label: score > 0.5 ? 'buy' : 'pass', y: 10 * CITIES.indexOf(city) + 3 * weight + (colour === 'red' ? 7 : 0) + (rand() - 0.5) };
    });
  }
  const csvOf = (rows: ReturnType<typeof dataset>, target: 'label' | 'y') =>
    `colour,size,city,weight,${target}\n${rows.map((r) => [r.colour, r.size ?? '', quote(r.city), r.weight, r[target]].join(',')).join('\n')}\n`;

  /** onnxruntime's own answer for rows given as the per-column tensors a caller would build. */
  async function direct(dir: string, rows: { colour: string; size: number | null; city: string; weight: number }[]): Promise<Record<string, ort.Tensor>> {
    const session = await ort.InferenceSession.create(path.join(dir, 'model/model.onnx'));
    const n = rows.length;
    return session.run({
      colour: new ort.Tensor('string', rows.map((r) => r.colour), [n, 1]),
      size: new ort.Tensor('float32', Float32Array.from(rows, (r) => r.size ?? NaN), [n, 1]),
      city: new ort.Tensor('string', rows.map((r) => r.city), [n, 1]),
      weight: new ort.Tensor('float32', Float32Array.from(rows, (r) => r.weight), [n, 1]),
    });
  }

  test('logistic: text columns detected, one input per column, model.json lists the columns; served answers equal onnxruntime\'s', async () => {
    const dir = base({ hyperparameters: { algorithm: 'logistic', target: 'label' }, channels: { training: { 'train.csv': csvOf(dataset(1500, 5), 'label') }, validation: { 'v.csv': csvOf(dataset(300, 6), 'label') } } });
    const run = train(dir);
    expect(run.status).toBe(0);
    expect(metricLines(run.stdout)['validation:accuracy']).toBeGreaterThan(0.9);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model/model.json'), 'utf8'));
    expect(json.columns).toEqual([
      { name: 'colour', type: 'string', categories: ['blue', 'green', 'red'] },
      { name: 'size', type: 'float32', missing: expect.any(Number) },
      { name: 'city', type: 'string', categories: [...CITIES].sort() },
      { name: 'weight', type: 'float32', missing: expect.any(Number) },
    ]);

    const server = await startServer({ baseDir: dir, env: { MODEL_SERVER_WORKERS: '1', SAGEMAKER_INFERENCE_OUTPUT: 'predicted_label,probabilities' } });
    try {
      const probe = [
        { colour: 'red', size: 7.5, city: '東京', weight: 12 },
        { colour: 'purple', size: 7.5, city: '東京', weight: 12 },
        { colour: '', size: 7.5, city: '東京', weight: 12 },
        { colour: 'blue', size: null, city: 'New York, NY', weight: 50 },
        { colour: 'blue', size: json.columns[1].missing, city: 'New York, NY', weight: 50 },
      ];
      const want = await direct(dir, probe);
      const p = Array.from(want.probabilities.data as Float32Array);
      const expected = probe.map((_, r) => ({ predicted_label: (want.label.data as string[])[r], probabilities: p.slice(r * 2, r * 2 + 2) }));
      const body = `city,weight,colour,size\n${probe.map((r) => [quote(r.city), r.weight, r.colour, r.size ?? ''].join(',')).join('\n')}\n`;
      const reply = await request(server.port, 'POST', '/invocations', { body, headers: { 'Content-Type': 'text/csv', Accept: 'application/json' } });
      expect(reply.status).toBe(200);
      const got = reply.json().predictions;
      expect(got).toEqual(expected.map((e) => ({ predicted_label: e.predicted_label, probabilities: e.probabilities.map((v) => expect.closeTo(v, 6)) })));
      // An unseen category and a missing one are both all zeros; a missing number is its training mean.
      expect(got[1]).toEqual(got[2]);
      expect(got[3]).toEqual(got[4]);
      const objects = await request(server.port, 'POST', '/invocations', { body: JSON.stringify(probe), headers: { 'Content-Type': 'application/json' } });
      expect(objects.json().predictions).toEqual(got);
    } finally {
      await server.stop();
    }
  });

  test('numbers only, with empty cells: the one [N, F] input is kept and the graph fills a missing value with the training mean', async () => {
    const holed = IRIS.map((line, i) => (i % 7 === 3 ? line.replace(/,[^,]+$/, ',') : line));
    const dir = base({ hyperparameters: { feature_names: IRIS_NAMES, epochs: '500' }, channels: { training: { 'iris.csv': holed.join('\n') } } });
    expect(train(dir).status).toBe(0);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'model/model.json'), 'utf8'));
    const fill = json.columns[3].missing;
    expect(fill).toBeCloseTo(1.2, 0);
    const server = await startServer({ baseDir: dir, env: { MODEL_SERVER_WORKERS: '1', SAGEMAKER_INFERENCE_OUTPUT: 'predicted_label,probabilities' } });
    try {
      expect((await server.waitForLog((l) => /^ready:/.test(l.msg))).inputs).toEqual([{ name: 'input', type: 'float32', shape: ['N', 4] }]);
      const reply = await csv(server.port, `6.1,2.8,4.7,\n6.1,2.8,4.7,${fill}\n`, 'application/json');
      const [missing, filled] = reply.json().predictions;
      expect(missing).toEqual(filled);
    } finally {
      await server.stop();
    }
  });

  test('linear: a named categorical column of numeric-looking codes and a text column; served by name', async () => {
    const rows = dataset(800, 8);
    // The city as a numeric-looking code: only the categorical hyperparameter makes it a category.
    const coded = (r: ReturnType<typeof dataset>) => `code,weight,colour,y\n${r.map((x) => [CITIES.indexOf(x.city) * 100 + 7, x.weight, x.colour, x.y].join(',')).join('\n')}\n`;
    const dir = base({ hyperparameters: { algorithm: 'linear', target: 'y', categorical: 'code' }, channels: { training: { 'train.csv': coded(rows) }, validation: { 'v.csv': coded(dataset(200, 9)) } } });
    const run = train(dir);
    expect(run.status).toBe(0);
    expect(metricLines(run.stdout)['validation:r2']).toBeGreaterThan(0.99);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'model/model.json'), 'utf8')).columns.map((c: { type: string }) => c.type)).toEqual(['string', 'float32', 'string']);
    const server = await startServer({ baseDir: dir, env: { MODEL_SERVER_WORKERS: '1' } });
    try {
      const reply = await request(server.port, 'GET', '/predict_parameters?code=307&weight=20&colour=red');
      expect(reply.status).toBe(200);
      const session = await ort.InferenceSession.create(path.join(dir, 'model/model.onnx'));
      const out = await session.run({ code: new ort.Tensor('string', ['307'], [1, 1]), weight: new ort.Tensor('float32', Float32Array.from([20]), [1, 1]), colour: new ort.Tensor('string', ['red'], [1, 1]) });
      expect(reply.json()).toEqual({ score: expect.closeTo((out.score.data as Float32Array)[0], 4) });
      expect(reply.json().score).toBeCloseTo(10 * 3 + 3 * 20 + 7, 0);
    } finally {
      await server.stop();
    }
  });
});
