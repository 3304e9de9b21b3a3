// The image under KServe, without a cluster: starts the container the way deploy/kserve/ makes KServe start
// it (its command and arguments with the InferenceService's name, its environment plus Knative's, its
// numeric user, the model read-only at /mnt/models), waits on its probes' paths, then speaks the Open
// Inference Protocol to it through the client written from the specification, on every route.
// Prints one ok/not ok line per check and a closing "N passed, N failed" line; exits 1 on any failure.
// usage: node tools/dist/kserve-check.js --engine podman|docker --image IMAGE --model DIR
import { spawnSync } from 'node:child_process';
import { freePort, option } from './cli-helpers';
import { podContainer, readManifests, MODEL_MOUNT } from './kserve-manifests';
import { OipClient, ProtocolError, type Tensor } from './oip-client';

const engine = option('engine', 'podman');
const image = option('image', '');
const model = option('model', '');
if (!image || !model) {
  console.error('usage: node tools/dist/kserve-check.js --engine podman|docker --image IMAGE --model DIR');
  process.exit(2);
}

let passed = 0;
let failed = 0;
function check(what: string, ok: boolean, detail = ''): void {
  if (ok) passed += 1;
  else failed += 1;
  console.log(`${ok ? 'ok' : 'not ok'} - kserve: ${what}${!ok && detail ? ` (${detail})` : ''}`);
}

const run = (...args: string[]) => spawnSync(engine, args, { encoding: 'utf8' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const manifests = readManifests();
  const pod = podContainer(manifests);
  const { service, runtime } = manifests;
  check('the InferenceService asks for protocol v2 and names the runtime', service.spec.predictor.model.protocolVersion === 'v2' && service.spec.predictor.model.runtime === runtime.metadata.name);
  const hostPort = await freePort();
  const name = `kserve-check-${process.pid}`;
  const started = run(
    'run', '-d', '--name', name, '--user', `${pod.user}:${pod.group}`,
    ...Object.entries(pod.env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    '-p', `127.0.0.1:${hostPort}:${pod.port}`, '-v', `${model}:${MODEL_MOUNT}:ro`,
    ...(pod.command.length > 0 ? ['--entrypoint', pod.command[0]] : []), image, ...pod.command.slice(1), ...pod.args,
  );
  check(`the container starts as uid ${pod.user} with ${[...pod.command, ...pod.args].join(' ')}`, started.status === 0, started.stderr.trim());
  if (started.status !== 0) return;
  try {
    const client = new OipClient(`http://127.0.0.1:${hostPort}`);
    let live = false;
    for (let i = 0; i < 300 && !live; i++) {
      live = (await client.request('GET', pod.livenessPath).catch(() => ({ status: 0 }))).status === 200;
      if (!live) await sleep(100);
    }
    check(`liveness probe ${pod.livenessPath} answers 200`, live);
    let ready = false;
    for (let i = 0; i < 600 && !ready; i++) {
      ready = (await client.request('GET', pod.readinessPath).catch(() => ({ status: 0 }))).status === 200;
      if (!ready) await sleep(100);
    }
    check(`readiness probe ${pod.readinessPath} answers 200 once the model is loaded`, ready, run('logs', name).stdout.split('\n').slice(-5).join(' | '));
    if (!ready) return;
    const uid = run('exec', name, 'sh', '-c', 'id -u; cat /proc/1/status | grep ^Uid');
    check(`the server runs as uid ${pod.user}`, uid.stdout.split('\n')[0] === String(pod.user) && new RegExp(`^Uid:\\s+${pod.user}\\b`, 'm').test(uid.stdout), uid.stdout.trim());
    const meta = await client.serverMetadata();
    check('GET /v2: server metadata with the binary tensor extension', typeof meta.name === 'string' && typeof meta.version === 'string' && meta.extensions.includes('binary_tensor_data'), JSON.stringify(meta));
    const modelMeta = await client.modelMetadata(pod.modelName);
    check(`GET /v2/models/${pod.modelName}: metadata by the InferenceService's name`, modelMeta.name === pod.modelName && modelMeta.platform === 'onnxruntime_onnx' && modelMeta.inputs.length > 0, JSON.stringify(modelMeta));
    check(`GET /v2/models/${pod.modelName}/versions/1 and as "model"`, JSON.stringify(await client.modelMetadata(pod.modelName, '1')) === JSON.stringify(modelMeta) && (await client.modelMetadata('model')).name === pod.modelName);
    check(`GET /v2/models/${pod.modelName}/ready`, await client.isModelReady(pod.modelName));
    const input = modelMeta.inputs[0];
    const width = input.shape[1] > 0 ? input.shape[1] : 4;
    const tensor: Tensor = { name: input.name, datatype: input.datatype, shape: [2, width], data: Array.from({ length: 2 * width }, (_, i) => [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3][i % 8]) };
    const json = await client.infer(pod.modelName, [tensor], { id: 'kserve-1' });
    check('POST /v2/models/{name}/infer with JSON tensors', json.model_name === pod.modelName && json.id === 'kserve-1' && json.outputs.length === modelMeta.outputs.length, JSON.stringify(json));
    const binary = await client.infer(pod.modelName, [tensor], { binaryInputs: true, binaryOutputs: true });
    check('the binary tensor extension both ways gives the same outputs', JSON.stringify(binary.outputs.map((o) => o.data.map((v) => (typeof v === 'number' ? Math.fround(v) : v)))) === JSON.stringify(json.outputs.map((o) => o.data.map((v) => (typeof v === 'number' ? Math.fround(v) : v)))));
    let notFound: ProtocolError | undefined;
    await client.modelMetadata('no-such-model').catch((e: ProtocolError) => (notFound = e));
    check('errors take the specification\'s shape ({"error": "..."})', notFound?.status === 404 && JSON.parse(notFound.body).error === notFound.message && typeof notFound.message === 'string');
    const metrics = (await client.request('GET', '/metrics')).body.toString();
    const counted = new RegExp(`^model_server_requests_total\\{model="${pod.modelName}",route="v2-infer",status="200"\\} 2$`, 'm').test(metrics);
    check('GET /metrics counts the two inferences', counted, metrics.split('\n').filter((l) => l.startsWith('model_server_requests_total')).join(' | '));
    const stop = spawnSync(engine, ['stop', '-t', '30', name], { encoding: 'utf8' });
    const code = run('inspect', name, '--format', '{{.State.ExitCode}}').stdout.trim();
    check('SIGTERM (pod deletion) stops it with exit code 0', stop.status === 0 && code === '0', code);
    const nonJson = run('logs', name).stdout.split('\n').concat(run('logs', name).stderr.split('\n')).filter((l) => l.trim() !== '' && !l.startsWith('{'));
    check('the log is JSON lines only', nonJson.length === 0, nonJson.slice(0, 3).join(' | '));
  } finally {
    run('rm', '-f', name);
  }
}

main()
  .catch((err: unknown) => check('the check ran to the end', false, String((err as Error)?.stack ?? err)))
  .finally(() => {
    console.log(`${passed} passed, ${failed} failed`);
    process.exitCode = failed > 0 ? 1 : 0;
  });
