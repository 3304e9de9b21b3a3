// `npm run cold-start`: how long `serve` takes from its start to the first 200 on /ping, for the example
// model and for a generated 100 MB model (a MatMul with a 5000 x 5000 float weight), with the default
// settings (one worker per CPU), several runs each; loopback only.
// usage: npm run cold-start -- [--runs N]
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GraphBuilder, serializeModel } from '../../container/dist/onnx/writer';
import { freePort, httpGet, option } from './cli-helpers';

const ROOT = path.resolve(__dirname, '../..');
const SERVE = path.join(ROOT, 'container/serve');

/** A [N, size] -> [N, size] MatMul whose weight alone is size * size * 4 bytes. */
export function largeModel(size = 5000): Uint8Array {
  const g = new GraphBuilder('large');
  const x = g.input('input', 'FLOAT', ['N', size]);
  const weights = new Float32Array(size * size);
  for (let i = 0; i < weights.length; i += 997) weights[i] = (i % 13) / 13;
  g.node('MatMul', [x, g.constant('w', 'FLOAT', [size, size], weights)], {}, { outputs: ['scores'] });
  g.output('scores', 'FLOAT', ['N', size]);
  return serializeModel(g);
}

/** Milliseconds from spawning serve to its first 200 on /ping. */
async function coldStart(baseDir: string): Promise<number> {
  const port = await freePort();
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-cold-'));
  fs.chmodSync(runDir, 0o755);
  const started = performance.now();
  const server = spawn(SERVE, [], { env: { ...process.env, ORT_DISABLE_TELEMETRY: '1', LOG_LEVEL: 'warn', SAGEMAKER_BASE_DIR: baseDir, SAGEMAKER_BIND_TO_PORT: String(port), MODEL_SERVER_RUN_DIR: runDir }, stdio: 'ignore' });
  try {
    for (;;) {
      if (server.exitCode !== null) throw new Error(`serve exited with ${server.exitCode}`);
      if (performance.now() - started > 180_000) throw new Error('no 200 on /ping within 180 s');
      try {
        if ((await httpGet(`http://127.0.0.1:${port}/ping`)).status === 200) return Math.round(performance.now() - started);
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const runs = Number(option('runs', '3'));
  const large = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-large-'));
  fs.mkdirSync(path.join(large, 'model'));
  fs.writeFileSync(path.join(large, 'model/model.onnx'), largeModel());
  const size = (file: string) => {
    const bytes = fs.statSync(file).size;
    return bytes < 1e6 ? `${(bytes / 1e3).toFixed(1)} kB` : `${(bytes / 1e6).toFixed(1)} MB`;
  };
  const cases = [
    { name: `example (iris, ${size(path.join(ROOT, 'local-test/test-dir/model/model.onnx'))})`, dir: path.join(ROOT, 'local-test/test-dir') },
    { name: `MatMul 5000 x 5000 (${size(path.join(large, 'model/model.onnx'))})`, dir: large },
  ];
  console.log(`cold start (serve -> first 200 on /ping), ${runs} runs each, ${os.cpus().length} CPUs, default workers`);
  try {
    for (const c of cases) {
      const times: number[] = [];
      for (let i = 0; i < runs; i++) times.push(await coldStart(c.dir));
      const sorted = [...times].sort((a, b) => a - b);
      console.log(`  ${c.name}: median ${sorted[Math.floor(sorted.length / 2)]} ms (runs: ${times.join(', ')} ms)`);
    }
  } finally {
    fs.rmSync(large, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
