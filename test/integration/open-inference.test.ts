// The Open Inference Protocol (KServe's V2 protocol) on the real stack, spoken by a client written from its
// specification (tools/src/oip-client.ts): every route in single-model and multi-model mode, the binary
// tensor extension both ways, its error shape on its paths (the workers' and nginx's own), and liveness
// while no worker listens. Answers are checked against onnxruntime run in the test on the same tensors.
import * as ort from 'onnxruntime-node';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OipClient, ProtocolError, type Tensor } from '../../tools/src/oip-client';
import { baseDir, EXAMPLE_DIR, exampleBase, linearModel, multiInputModel } from '../helpers/models';
import { alive, request, requireNginx, sleep, startServer, until, type Server } from '../helpers/server';

const IRIS_ROWS = [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3];
const irisInput: Tensor = { name: 'input', datatype: 'FP32', shape: [2, 4], data: IRIS_ROWS };

/** What onnxruntime answers for the iris model, in-process. */
async function irisDirect(): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(path.join(EXAMPLE_DIR, 'model/model.onnx'));
  return session.run({ input: new ort.Tensor('float32', Float32Array.from(IRIS_ROWS), [2, 4]) });
}

/** A ProtocolError from a call, or a failure when it answered. */
async function refused(call: Promise<unknown>): Promise<ProtocolError> {
  try {
    await call;
  } catch (err) {
    if (err instanceof ProtocolError) return err;
    throw err;
  }
  throw new Error('the call answered 200');
}

beforeAll(() => requireNginx());

describe('single-model endpoint, its model named by MODEL_SERVER_MODEL_NAME', () => {
  let server: Server;
  let client: OipClient;
  let direct: Record<string, ort.Tensor>;

  beforeAll(async () => {
    server = await startServer({ baseDir: exampleBase(), env: { MODEL_SERVER_MODEL_NAME: 'iris', SAGEMAKER_MAX_PAYLOAD_IN_MB: '0.01' } });
    client = new OipClient(`http://127.0.0.1:${server.port}`);
    direct = await irisDirect();
  });
  afterAll(() => server.stop());

  test('server metadata names the server, its version and the binary tensor extension', async () => {
    const meta = await client.serverMetadata();
    const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8'));
    expect(meta).toEqual({ name: pkg.name, version: pkg.version, extensions: ['binary_tensor_data'] });
  });

  test('live and ready answer 200 with the JSON the specification gives', async () => {
    const live = await client.request('GET', '/v2/health/live');
    expect({ status: live.status, body: JSON.parse(live.body.toString()) }).toEqual({ status: 200, body: { live: true } });
    const ready = await client.request('GET', '/v2/health/ready');
    expect({ status: ready.status, body: JSON.parse(ready.body.toString()) }).toEqual({ status: 200, body: { ready: true } });
    expect((await client.request('HEAD', '/v2/health/live')).status).toBe(200);
  });

  test('model metadata: platform, inputs and outputs with datatype and shape, -1 for a dynamic dimension; by its name, as "model" and by version', async () => {
    const expected = {
      name: 'iris',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [{ name: 'label', datatype: 'BYTES', shape: [-1] }, { name: 'probabilities', datatype: 'FP32', shape: [-1, 3] }],
    };
    expect(await client.modelMetadata('iris')).toEqual(expected);
    expect(await client.modelMetadata('model')).toEqual(expected);
    expect(await client.modelMetadata('iris', '1')).toEqual(expected);
    expect(await client.isModelReady('iris')).toBe(true);
    expect(await client.isModelReady('model', '1')).toBe(true);
    const ready = await client.request('GET', '/v2/models/iris/ready');
    expect(JSON.parse(ready.body.toString())).toEqual({ name: 'iris', ready: true });
  });

  test('infer answers what onnxruntime answers, by either name, with the id given', async () => {
    const result = await client.infer('iris', [irisInput], { id: 'req-42' });
    expect(result.model_name).toBe('iris');
    expect(result.id).toBe('req-42');
    expect(result.model_version).toBeUndefined();
    expect(result.outputs.map((o) => [o.name, o.datatype, o.shape])).toEqual([['label', 'BYTES', [2]], ['probabilities', 'FP32', [2, 3]]]);
    expect(result.outputs[0].data).toEqual(Array.from(direct.label.data as string[]));
    (result.outputs[1].data as number[]).forEach((v, i) => expect(v).toBeCloseTo((direct.probabilities.data as Float32Array)[i], 6));
    const asModel = await client.infer('model', [irisInput], { version: '1', outputs: ['probabilities'] });
    expect(asModel.model_name).toBe('iris');
    expect(asModel.model_version).toBe('1');
    expect(asModel.outputs.map((o) => o.name)).toEqual(['probabilities']);
  });

  test('binary tensor data both ways: raw float32 bytes in, every output as bytes out, exactly onnxruntime\'s', async () => {
    const { body, headers } = client.inferRequest([irisInput], { binaryInputs: true, binaryOutputs: true });
    const reply = await client.request('POST', '/v2/models/iris/infer', body, headers);
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/octet-stream');
    const headerLength = Number(reply.headers['inference-header-content-length']);
    const header = JSON.parse(reply.body.subarray(0, headerLength).toString());
    expect(header.outputs.map((o: { parameters: unknown }) => o.parameters)).toEqual([{ binary_data_size: 4 + 6 + 4 + 9 }, { binary_data_size: 24 }]);
    const result = OipClient.readInferBody(reply);
    expect(result.outputs[0].data).toEqual(Array.from(direct.label.data as string[]));
    expect(Float32Array.from(result.outputs[1].data as number[])).toEqual(direct.probabilities.data);
    // One output binary, one JSON, as the request asks per output.
    const mixed = await client.infer('iris', [irisInput], { binaryInputs: true, outputs: ['label', 'probabilities'], binaryOutputs: ['probabilities'] });
    expect(mixed.outputs[0].data).toEqual(['setosa', 'virginica']);
    expect(Float32Array.from(mixed.outputs[1].data as number[])).toEqual(direct.probabilities.data);
  });

  test('errors on the protocol\'s paths take its shape, {"error": "..."}, with a message that says what is wrong', async () => {
    const unknown = await refused(client.modelMetadata('nope'));
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body)).toEqual({ error: 'no model "nope": this endpoint serves "iris" (also as "model") (MODEL_SERVER_MODEL_NAME, or serve --model_name)' });
    const version = await refused(client.infer('iris', [irisInput], { version: '2' }));
    expect(version.status).toBe(404);
    expect(version.message).toMatch(/has no version "2"/);
    const datatype = await refused(client.infer('iris', [{ ...irisInput, datatype: 'FP64' }]));
    expect(datatype.status).toBe(400);
    expect(datatype.message).toBe('input "input": datatype FP64, but the model takes FP32');
    const rows = await client.request('POST', '/v2/models/iris/infer', Buffer.from('{"instances": [[1, 2, 3, 4]]}'), { 'Content-Type': 'application/json' });
    expect(rows.status).toBe(400);
    expect(JSON.parse(rows.body.toString()).error).toMatch(/rows \(\{"instances": \.\.\.\}\) go to POST \/invocations/);
    const method = await client.request('GET', '/v2/models/iris/infer');
    expect({ status: method.status, allow: method.headers.allow, body: JSON.parse(method.body.toString()) }).toEqual({ status: 405, allow: 'POST', body: { error: 'GET is not allowed on /v2/models/iris/infer; use POST' } });
    const nowhere = await client.request('GET', '/v2/nowhere');
    expect(nowhere.status).toBe(404);
    expect(typeof JSON.parse(nowhere.body.toString()).error).toBe('string');
    // nginx's own answer (the body is over the 0.01 MB limit) takes the protocol's shape on its paths only.
    const big = { ...irisInput, shape: [2000, 4], data: new Array(8000).fill(1.5) };
    const tooLarge = await refused(client.infer('iris', [big]));
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.message).toMatch(/larger than the 0\.01 MB \(10485 bytes\) limit/);
    const product = await request(server.port, 'POST', '/invocations', { body: JSON.stringify({ inputs: [big] }), headers: { 'Content-Type': 'application/json' } });
    expect(product.json().error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  test('binary tensor data that does not add up is refused with 400 naming the input and the sizes', async () => {
    const { body, headers } = client.inferRequest([irisInput], { binaryInputs: true });
    const short = await client.request('POST', '/v2/models/iris/infer', body.subarray(0, body.length - 4), headers);
    expect(short.status).toBe(400);
    expect(JSON.parse(short.body.toString())).toEqual({ error: 'input "input": binary_data_size is 32 bytes, but only 28 bytes of binary data are left after the inputs before it' });
    const header = await client.request('POST', '/v2/models/iris/infer', body, { ...headers, 'Inference-Header-Content-Length': String(body.length + 1) });
    expect(JSON.parse(header.body.toString()).error).toBe(`Inference-Header-Content-Length is ${body.length + 1}, but the body has only ${body.length} bytes`);
    const extra = await client.request('POST', '/v2/models/iris/infer', Buffer.concat([body, Buffer.alloc(3)]), headers);
    expect(JSON.parse(extra.body.toString()).error).toBe("the binary data after the JSON header is 35 bytes, but the inputs' binary_data_size add up to 32");
  });

  test('the SageMaker paths keep the product\'s error shape', async () => {
    const reply = await request(server.port, 'POST', '/invocations', { body: '{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]}', headers: { 'Content-Type': 'application/json' } });
    expect(reply.json()).toEqual({ error: { code: 'INVALID_TENSOR', message: 'input "input": datatype FP64, but the model takes FP32' } });
  });
});

describe('every model kind answers on the infer path', () => {
  test('a model of several inputs and types: INT64, BOOL and BYTES as JSON and as binary data', async () => {
    const server = await startServer({ baseDir: baseDir({ 'model.onnx': multiInputModel() }) });
    try {
      const client = new OipClient(`http://127.0.0.1:${server.port}`);
      const inputs: Tensor[] = [
        { name: 'a', datatype: 'FP32', shape: [2, 2], data: [1, 2, 3, 4] },
        { name: 'b', datatype: 'INT64', shape: [2], data: [10n, 9007199254740993n] },
        { name: 'flag', datatype: 'BOOL', shape: [], data: [true] },
        { name: 'tag', datatype: 'BYTES', shape: [2], data: ['x', 'ünï'] },
      ];
      const meta = await client.modelMetadata('model');
      expect(meta.inputs).toEqual([
        { name: 'a', datatype: 'FP32', shape: [-1, 2] },
        { name: 'b', datatype: 'INT64', shape: [-1] },
        { name: 'flag', datatype: 'BOOL', shape: [] },
        { name: 'tag', datatype: 'BYTES', shape: [-1] },
      ]);
      for (const binary of [false, true]) {
        const result = await client.infer('model', inputs, { binaryInputs: binary, binaryOutputs: binary });
        const byName = Object.fromEntries(result.outputs.map((o) => [o.name, o]));
        expect(Float32Array.from(byName.sum.data as number[])).toEqual(Float32Array.of(13, 2 ** 53));
        expect(byName.b2.data).toEqual(binary ? [20n, 18014398509481986n] : [20, '18014398509481986']);
        expect(byName.not_flag).toMatchObject({ datatype: 'BOOL', shape: [], data: [false] });
        expect(byName.tag_out.data).toEqual(['x', 'ünï']);
      }
    } finally {
      await server.stop();
    }
  });

  test('a model with inference code: the built-in input decodes the tensors, its outputFn writes the answer', async () => {
    const code = `export function outputFn(outputs, accept) { return { doubled: Array.from(outputs.variable.data, (v) => v * 2), accept }; }\n`;
    const server = await startServer({ baseDir: baseDir({ 'model.onnx': linearModel([1, 2], 0.5), 'code/inference.mjs': code }) });
    try {
      const client = new OipClient(`http://127.0.0.1:${server.port}`);
      const { body, headers } = client.inferRequest([{ name: 'features', datatype: 'FP32', shape: [2, 2], data: [1, 1, 2, 3] }]);
      const reply = await client.request('POST', '/v2/models/model/infer', body, headers);
      expect({ status: reply.status, body: JSON.parse(reply.body.toString()) }).toEqual({ status: 200, body: { doubled: [7, 17], accept: 'application/json' } });
      // Its inputFn would get the body without its binary framing: the extension is refused for it, saying so.
      const withInput = await startServer({ baseDir: baseDir({ 'model.onnx': linearModel([1, 2], 0.5), 'code/inference.mjs': 'export function inputFn(body) { return JSON.parse(body).inputs[0].data; }\n' }) });
      try {
        const c2 = new OipClient(`http://127.0.0.1:${withInput.port}`);
        const binary = c2.inferRequest([{ name: 'features', datatype: 'FP32', shape: [1, 2], data: [1, 1] }], { binaryInputs: true });
        const refusedBinary = await c2.request('POST', '/v2/models/model/infer', binary.body, binary.headers);
        expect(refusedBinary.status).toBe(415);
        expect(JSON.parse(refusedBinary.body.toString()).error).toMatch(/its own inputFn or transformFn/);
      } finally {
        await withInput.stop();
      }
    } finally {
      await server.stop();
    }
  });
});

describe('multi-model endpoint', () => {
  test('loaded models answer by name on every model path, routed to the workers that hold them; unloaded ones are 404', async () => {
    const models = baseDir();
    fs.mkdirSync(path.join(models, 'models/iris/model'), { recursive: true });
    fs.copyFileSync(path.join(EXAMPLE_DIR, 'model/model.onnx'), path.join(models, 'models/iris/model/model.onnx'));
    fs.mkdirSync(path.join(models, 'models/lin/model'), { recursive: true });
    fs.writeFileSync(path.join(models, 'models/lin/model/model.onnx'), linearModel([1, 2], 0.5));
    const server = await startServer({ baseDir: models, env: { SAGEMAKER_MULTI_MODEL: 'true', MODEL_SERVER_WORKERS: '3' } });
    try {
      const client = new OipClient(`http://127.0.0.1:${server.port}`);
      for (const name of ['iris', 'lin']) {
        const loaded = await request(server.port, 'POST', '/models', { body: JSON.stringify({ model_name: name, url: path.join(models, 'models', name, 'model') }), headers: { 'Content-Type': 'application/json' } });
        expect(loaded.status).toBe(200);
      }
      expect(await client.isServerReady()).toBe(true);
      // Each model is held by one of three workers: every request must reach it (not 503 from another).
      for (let i = 0; i < 6; i++) {
        expect((await client.infer('iris', [irisInput])).outputs[0].data).toEqual(['setosa', 'virginica']);
        expect((await client.infer('lin', [{ name: 'features', datatype: 'FP32', shape: [1, 2], data: [1, 1] }])).outputs[0].data).toEqual([3.5]);
        expect(await client.isModelReady('lin')).toBe(true);
      }
      expect((await client.modelMetadata('lin')).inputs).toEqual([{ name: 'features', datatype: 'FP32', shape: [-1, 2] }]);
      expect((await refused(client.modelMetadata('model'))).status).toBe(404);
      expect((await request(server.port, 'DELETE', '/models/lin')).status).toBe(200);
      const gone = await refused(client.infer('lin', [{ name: 'features', datatype: 'FP32', shape: [1, 2], data: [1, 1] }]));
      expect(gone.status).toBe(404);
      expect(gone.message).toMatch(/model "lin" is not loaded/);
      expect(await client.isModelReady('lin')).toBe(false);
    } finally {
      await server.stop();
    }
  });
});

describe('liveness', () => {
  // warmupFn holds each worker's start for a while: long enough to ask the server while no worker listens.
  const slowStart = () => baseDir({ 'model.onnx': linearModel([1, 2], 0.5), 'code/inference.mjs': 'export async function warmupFn() { await new Promise((r) => setTimeout(r, 4000)); }\n' });

  test('is 200 from the moment the port listens, while models load and while the only worker restarts; readiness follows /ping', async () => {
    const server = await startServer({ baseDir: slowStart(), ready: false, env: { MODEL_SERVER_WORKERS: '1' } });
    try {
      const client = new OipClient(`http://127.0.0.1:${server.port}`);
      let live = false;
      for (let i = 0; i < 200 && !live; i++) {
        live = await client.isServerLive().catch(() => false);
        if (!live) await sleep(20);
      }
      expect(live).toBe(true);
      const ping = await request(server.port, 'GET', '/ping');
      expect(ping.status).toBe(503);
      const ready = await client.request('GET', '/v2/health/ready');
      expect({ status: ready.status, body: JSON.parse(ready.body.toString()) }).toEqual({ status: 503, body: { error: 'no model server worker is available (starting, restarting or shutting down); retry later' } });
      const infer = await refused(client.infer('model', [{ name: 'features', datatype: 'FP32', shape: [1, 2], data: [1, 1] }]));
      expect(infer.status).toBe(503);
      await server.waitReady();
      expect(await client.isServerReady()).toBe(true);
      // The one worker dies: until its replacement has warmed up, live stays 200 and ready says 503.
      const [worker] = server.workerPids();
      process.kill(worker, 'SIGKILL');
      expect(await until(() => !alive(worker), 5000)).toBe(true);
      expect(await client.isServerLive()).toBe(true);
      // (The first request after the death may meet nginx's kept-alive connection to the dead worker: that
      // is /ping's behaviour too, so readiness is compared with /ping once nginx sees no worker.)
      let pingStatus = 0;
      for (let i = 0; i < 100 && pingStatus !== 503; i++) pingStatus = (await request(server.port, 'GET', '/ping')).status;
      expect(pingStatus).toBe(503);
      const notReady = await client.request('GET', '/v2/health/ready');
      expect({ status: notReady.status, body: JSON.parse(notReady.body.toString()) }).toEqual({ status: 503, body: { error: 'no model server worker is available (starting, restarting or shutting down); retry later' } });
      expect(await client.isServerLive()).toBe(true);
      await server.waitReady();
      expect(await client.isServerReady()).toBe(true);
    } finally {
      await server.stop();
    }
  });
});
