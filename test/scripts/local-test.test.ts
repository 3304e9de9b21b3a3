// The local-test scripts in their direct mode (no image): train-local -> serve-local -> predict, on a copy
// of test-dir, plus their usage lines. (test-image.sh runs their image mode.)
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, requireNginx, sleep } from '../helpers/server';

const LOCAL = path.resolve(__dirname, '../../local-test');

beforeAll(() => requireNginx());

test('train-local.sh, serve-local.sh and predict.sh work together on a folder laid out like /opt/ml', async () => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-local-'));
  fs.cpSync(path.join(LOCAL, 'test-dir/input'), path.join(base, 'input'), { recursive: true });
  const env = { PATH: process.env.PATH!, SAGEMAKER_BASE_DIR: base };

  const trained = spawnSync(path.join(LOCAL, 'train-local.sh'), [], { env, encoding: 'utf8' });
  expect(trained.status).toBe(0);
  expect(trained.stdout).toMatch(/^train:accuracy=0\.98$/m);
  expect(fs.readdirSync(path.join(base, 'model')).sort()).toEqual(['model.json', 'model.onnx']);

  const port = await freePort();
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-run-'));
  const server = spawn(path.join(LOCAL, 'serve-local.sh'), [], { env: { ...env, PORT: String(port), MODEL_SERVER_RUN_DIR: runDir, MODEL_SERVER_WORKERS: '1' } });
  try {
    let answer = '';
    for (let i = 0; i < 100 && answer === ''; i++) {
      await sleep(100);
      const r = spawnSync(path.join(LOCAL, 'predict.sh'), [path.join(LOCAL, 'payloads/iris.json'), 'application/json', 'text/csv'], { env: { PATH: process.env.PATH!, PORT: String(port) }, encoding: 'utf8' });
      if (r.status === 0) answer = r.stdout;
    }
    expect(answer).toBe('setosa\nversicolor\nvirginica\n');
    const header = spawnSync(path.join(LOCAL, 'predict.sh'), [path.join(LOCAL, 'payloads/iris-header.csv')], { env: { PATH: process.env.PATH!, PORT: String(port) }, encoding: 'utf8' });
    expect(header.stdout).toBe('setosa\nversicolor\nvirginica\n');
    const bad = spawnSync(path.join(LOCAL, 'predict.sh'), [path.join(LOCAL, 'payloads/iris.csv'), 'text/xml'], { env: { PATH: process.env.PATH!, PORT: String(port) }, encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toMatch(/UNSUPPORTED_MEDIA_TYPE/);
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
  }
});

test('serve-multi-model.sh and invoke-model.sh: a model loaded on first use, then invoked by target, as SageMaker does', async () => {
  const models = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-models-'));
  for (const name of ['iris', 'iris2']) fs.cpSync(path.join(LOCAL, 'test-dir/model'), path.join(models, name, 'model'), { recursive: true });
  const port = await freePort();
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-run-'));
  const env = { PATH: process.env.PATH!, PORT: String(port), MODELS_DIR: models, MODELS_URL: models };
  const server = spawn(path.join(LOCAL, 'serve-multi-model.sh'), [], { env: { ...env, MODEL_SERVER_RUN_DIR: runDir, MODEL_SERVER_WORKERS: '2' } });
  try {
    const invoke = (target: string) => spawnSync(path.join(LOCAL, 'invoke-model.sh'), [target, path.join(LOCAL, 'payloads/iris.csv'), 'text/csv', 'application/jsonlines'], { env, encoding: 'utf8' });
    let first = invoke('iris.tar.gz');
    for (let i = 0; i < 100 && first.status !== 0; i++) {
      await sleep(100);
      first = invoke('iris.tar.gz');
    }
    expect(first.stdout).toBe('{"predicted_label":"setosa"}\n{"predicted_label":"versicolor"}\n{"predicted_label":"virginica"}\n');
    // Loaded once, then only invoked.
    expect(invoke('iris.tar.gz').status).toBe(0);
    expect(invoke('iris2.tar.gz').status).toBe(0);
    const list = spawnSync('curl', ['-s', `http://localhost:${port}/models`], { encoding: 'utf8' });
    expect(JSON.parse(list.stdout).models.map((m: { modelName: string }) => m.modelName)).toEqual(['iris', 'iris2']);
    const missing = invoke('nothing-here.tar.gz');
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/invoke-model: loading nothing-here from .*nothing-here\/model failed \(404\).*NO_MODEL_AT_URL/);
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
  }
});

test.each([
  ['invoke-model.sh', ['only-a-target'], /^usage: .*invoke-model\.sh TARGET PAYLOAD \[CONTENT_TYPE \[ACCEPT\]\]/],
  ['serve-multi-model.sh', ['a', 'b'], /^usage: .*serve-multi-model\.sh \[IMAGE\]/],
  ['predict.sh', [], /^usage: .*predict\.sh PAYLOAD \[CONTENT_TYPE \[ACCEPT\]\]/],
  ['predict.sh', ['/no/such/file'], /predict: no such file: \/no\/such\/file/],
  ['serve-local.sh', ['a', 'b'], /^usage: .*serve-local\.sh \[IMAGE\]/],
  ['train-local.sh', ['a', 'b'], /^usage: .*train-local\.sh \[IMAGE\]/],
  ['build-base-image.sh', ['--bogus'], /^usage: .*build-base-image\.sh \[--force\]/],
  ['test-image.sh', ['a', 'b'], /^usage: .*test-image\.sh \[IMAGE\]/],
])('%s %j says how to use it', (script, args, message) => {
  const r = spawnSync(path.join(LOCAL, script), args, { env: { PATH: process.env.PATH! }, encoding: 'utf8' });
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(message);
});

test('image mode names the missing container tool', () => {
  const r = spawnSync(path.join(LOCAL, 'serve-local.sh'), ['some-image'], { env: { PATH: '/usr/bin:/bin', DOCKER: 'no-such-docker' }, encoding: 'utf8' });
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/serve-local: no-such-docker is not installed .*set DOCKER=podman/);
});
