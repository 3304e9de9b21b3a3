// Each way start-up can fail: exit non-zero within seconds, one fatal JSON line saying what is wrong and
// how to fix it, and no nginx or worker process left behind.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { baseDir, EXAMPLE_DIR, zipMapModel } from '../helpers/models';
import { processesMentioning, requireNginx, sleep, startServer } from '../helpers/server';

const iris = () => fs.readFileSync(path.join(EXAMPLE_DIR, 'model/model.onnx'));

async function failsWith(base: string, env: Record<string, string>, code: string, message: RegExp): Promise<void> {
  const started = Date.now();
  const server = await startServer({ baseDir: base, env, ready: false });
  const timer = setTimeout(() => server.proc.kill('SIGKILL'), 20_000);
  const exit = await server.exited;
  clearTimeout(timer);
  expect(exit.code).not.toBe(0);
  expect(exit.code).not.toBeNull();
  expect(Date.now() - started).toBeLessThan(10_000);
  const fatal = server.logs.filter((l) => l.level === 'fatal');
  expect(fatal).toHaveLength(1);
  expect(fatal[0].code).toBe(code);
  expect(fatal[0].msg).toMatch(message);
  expect(server.nonJsonOutput()).toEqual([]);
  await sleep(200);
  expect(processesMentioning(server.runDir)).toEqual([]);
}

beforeAll(() => requireNginx());

describe('start-up failures', () => {
  test('no model: says where it looked and what to put there', () =>
    failsWith(baseDir(), {}, 'MODEL_NOT_FOUND', /no model under .*\/model: put an ONNX model there as model\.onnx, or an XGBoost or LightGBM model file/));

  test('no model directory at all', () =>
    failsWith(path.join(baseDir(), 'missing'), {}, 'MODEL_NOT_FOUND', /model directory .* does not exist/));

  test('two .onnx files and no model.onnx: names both', () =>
    failsWith(baseDir({ 'a.onnx': iris(), 'sub/b.onnx': iris() }), {}, 'MODEL_AMBIGUOUS', /2 \.onnx files .*\(a\.onnx, sub\/b\.onnx\).*name the one to serve model\.onnx/));

  test('a corrupt model file', () =>
    failsWith(baseDir({ 'model.onnx': Buffer.from('version https://git-lfs.github.com/spec/v1\noid sha256:abc\n') }), {}, 'MODEL_INVALID', /onnxruntime cannot load .*model\.onnx.*Git LFS pointer/));

  test('a truncated model file', () =>
    failsWith(baseDir({ 'model.onnx': iris().subarray(0, 300) }), {}, 'MODEL_INVALID', /onnxruntime cannot load/));

  test('a ZipMap output: says how to export without it', () =>
    failsWith(baseDir({ 'model.onnx': zipMapModel() }), {}, 'MODEL_UNSUPPORTED_OUTPUT', /output "output_probability" is a sequence or map.*zipmap": False/));

  test('an invalid model.json', () =>
    failsWith(baseDir({ 'model.onnx': iris(), 'model.json': '{"features": "a,b"}' }), {}, 'MODEL_INVALID', /model\.json: "features" must be an array/));

  test('a bad setting names the variable', () =>
    failsWith(baseDir({ 'model.onnx': iris() }), { MODEL_SERVER_WORKERS: 'lots' }, 'CONFIG_INVALID', /MODEL_SERVER_WORKERS="lots" is invalid: expected a whole number/));

  test('a bad timeout names the variable', () =>
    failsWith(baseDir({ 'model.onnx': iris() }), { MODEL_SERVER_TIMEOUT: '-3' }, 'CONFIG_INVALID', /MODEL_SERVER_TIMEOUT="-3" is invalid/));

  test('nginx missing: says how to install it', () =>
    failsWith(baseDir({ 'model.onnx': iris() }), { MODEL_SERVER_NGINX: '/nonexistent/nginx' }, 'NGINX_MISSING', /apt-get install -y nginx/));

  test('a run directory nginx workers cannot reach is refused, naming the directory and the fix', async () => {
    const parent = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'ms-private-'));
    fs.chmodSync(parent, 0o700);
    await failsWith(baseDir({ 'model.onnx': iris() }), { MODEL_SERVER_RUN_DIR: path.join(parent, 'run') }, 'CONFIG_INVALID', /is inside .*ms-private-\w+ \(mode 700\), which nginx's worker processes \(user nobody\) cannot enter; use a directory under \/tmp, or chmod o\+x/);
  });

  test('the port already taken: nginx says so and the server stops', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '0.0.0.0', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      await failsWith(baseDir({ 'model.onnx': iris() }), { SAGEMAKER_BIND_TO_PORT: String(port) }, 'NGINX_FAILED', /nginx exited unexpectedly/);
    } finally {
      blocker.close();
    }
  });
});
