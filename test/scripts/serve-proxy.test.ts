// local-test/serve-proxy.sh in its direct mode (no image): the example Java scorer on SCORER_PORT fronted
// on PORT, answered through predict.sh; its usage line and missing-tool message. (test-image.sh runs its
// image mode.)
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { requireJava } from '../helpers/scorers';
import { freePort, requireNginx, sleep } from '../helpers/server';

const LOCAL = path.resolve(__dirname, '../../local-test');

beforeAll(() => {
  requireNginx();
  requireJava();
});

test('serve-proxy.sh starts the example scorer and fronts it: predict.sh gets its labels, its own errors pass through', async () => {
  const [port, scorerPort] = [await freePort(), await freePort()];
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-run-'));
  const server = spawn(path.join(LOCAL, 'serve-proxy.sh'), [], { env: { PATH: process.env.PATH!, PORT: String(port), SCORER_PORT: String(scorerPort), MODEL_SERVER_RUN_DIR: runDir, MODEL_SERVER_WORKERS: '1' } });
  let output = '';
  server.stdout.on('data', (d) => (output += d));
  server.stderr.on('data', (d) => (output += d));
  const predict = (...args: string[]) => spawnSync(path.join(LOCAL, 'predict.sh'), args, { env: { PATH: process.env.PATH!, PORT: String(port) }, encoding: 'utf8' });
  try {
    let answer = predict(path.join(LOCAL, 'payloads/iris.csv'), 'text/csv');
    for (let i = 0; i < 300 && answer.status !== 0; i++) {
      await sleep(100);
      answer = predict(path.join(LOCAL, 'payloads/iris.csv'), 'text/csv');
    }
    expect(answer.stdout).toBe('setosa\nversicolor\nvirginica\n');
    expect(predict(path.join(LOCAL, 'payloads/iris-header.csv'), 'text/csv').stdout).toBe('setosa\nversicolor\nvirginica\n');
    const refused = predict(path.join(LOCAL, 'payloads/iris.json'), 'application/json');
    expect(refused.status).not.toBe(0);
    expect(refused.stdout).toBe('{"error":"this scorer reads text/csv, not application/json"}');
    // The scorer's temporary files are under the run directory (its output is in the log, as JSON lines).
    const loaded = /"msg":"example scorer: model loaded \(work area ([^)]*)\)"/;
    for (let i = 0; i < 100 && !loaded.test(output); i++) await sleep(100);
    expect(loaded.exec(output)?.[1]).toMatch(new RegExp(`^${runDir}/upstream-tmp/scorer-model-`));
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
  }
  expect(output).toMatch(/"msg":"the scorer has stopped"/);
}, 60_000);

test('serve-proxy.sh says how to use it, and names a missing java', () => {
  const usage = spawnSync(path.join(LOCAL, 'serve-proxy.sh'), ['a', 'b'], { env: { PATH: process.env.PATH! }, encoding: 'utf8' });
  expect(usage.status).toBe(2);
  expect(usage.stderr).toMatch(/^usage: .*serve-proxy\.sh \[IMAGE\]/);
  // A PATH with bash and what the script needs before it looks for java.
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-bin-'));
  for (const tool of ['bash', 'dirname']) fs.symlinkSync(spawnSync('bash', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim(), path.join(bin, tool));
  const noJava = spawnSync(path.join(LOCAL, 'serve-proxy.sh'), [], { env: { PATH: bin }, encoding: 'utf8' });
  expect(noJava.status).toBe(1);
  expect(noJava.stderr).toMatch(/serve-proxy: java is not installed \(the example scorer is Java: apt-get install -y openjdk-17-jdk-headless\)/);
  const noDocker = spawnSync(path.join(LOCAL, 'serve-proxy.sh'), ['some-image'], { env: { PATH: '/usr/bin:/bin', DOCKER: 'no-such-docker' }, encoding: 'utf8' });
  expect(noDocker.status).toBe(1);
  expect(noDocker.stderr).toMatch(/^serve-proxy.sh: no-such-docker is not installed \(needed to run image some-image; set DOCKER=podman to use podman\)/);
});
