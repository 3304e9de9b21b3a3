// Inputs that pass every check the server can make before the graph runs and are still refused by it:
// what onnxruntime attributes to the input is a 400 naming the node, a failure of the model's own making
// a 500; neither leaks onnxruntime's internals or its own (non-JSON) log lines, and the server keeps
// serving; inside If, Loop and Scan subgraphs too, judged by the innermost failure. And scalars: a declared
// scalar is told apart from an input of unknown rank.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GraphBuilder, attr, serializeModel } from '../../container/src/onnx/writer';
import { addModel, baseDir, brokenInsideIfModel, loopModel, scalarModel, scanModel, speechModel } from '../helpers/models';
import { request, requireNginx, startServer, type Server } from '../helpers/server';

const tensor = (name: string, shape: number[], data: unknown) => ({ name, shape, datatype: 'FP32', data });
const v2 = (...inputs: ReturnType<typeof tensor>[]) => JSON.stringify({ inputs });
const post = (server: Server, body: string) => request(server.port, 'POST', '/invocations', { body, headers: { 'Content-Type': 'application/json' } });

/**
 * A graph that fails whatever its input: Range with a constant step of 0 ("delta can not be zero"), its
 * start computed from the input so that onnxruntime cannot fold it away at load time.
 */
function brokenModel(): Uint8Array {
  const g = new GraphBuilder('broken');
  g.input('a', 'FLOAT', ['N']);
  const start = g.node('ReduceSum', [g.node('Mul', ['a', g.constant('zero', 'FLOAT', [], [0])])], { keepdims: attr.int(0) });
  g.node('Range', [start, g.constant('limit', 'FLOAT', [], [5]), g.constant('delta', 'FLOAT', [], [0])], {}, { outputs: ['y'] });
  g.output('y', 'FLOAT', ['K']);
  return serializeModel(g);
}

beforeAll(() => requireNginx());

test('vectors that do not broadcast are a 400 INVALID_TENSOR naming the node that refused them, no internals, no raw log line', async () => {
  const server = await startServer({ baseDir: baseDir({ 'model.onnx': addModel() }), env: { MODEL_SERVER_WORKERS: '1' } });
  try {
    const reply = await post(server, v2(tensor('a', [2], [1, 2]), tensor('b', [3], [1, 2, 3])));
    expect(reply.status).toBe(400);
    expect(reply.json().error.code).toBe('INVALID_TENSOR');
    expect(reply.json().error.message).toMatch(/^the input does not fit the model: onnxruntime's Add node "node_Add_\d+" refused it: Attempting to broadcast an axis by a dimension other than 1\. 2 by 3$/);
    const ok = await post(server, v2(tensor('a', [2], [1, 2]), tensor('b', [2], [10, 20])));
    expect(ok.status).toBe(200);
    expect(ok.json().outputs).toEqual([{ name: 'sum', datatype: 'FP32', shape: [2], data: [11, 22] }]);
  } finally {
    await server.stop();
  }
  expect(server.nonJsonOutput()).toEqual([]);
});

test('a graph that fails whatever the input is a 500 MODEL_ERROR with onnxruntime\'s reason, logged as JSON only', async () => {
  const server = await startServer({ baseDir: baseDir({ 'model.onnx': brokenModel() }), env: { MODEL_SERVER_WORKERS: '1' } });
  try {
    const reply = await post(server, v2(tensor('a', [2], [1, 2])));
    expect(reply.status).toBe(500);
    expect(reply.json().error.code).toBe('MODEL_ERROR');
    expect(reply.json().error.message).toMatch(/^onnxruntime failed on the given tensors: Range node "node_Range_\d+": .*delta.*zero/);
    expect(reply.json().error.message).not.toMatch(/onnxruntime_src|::/);
    await server.waitForLog((l) => l.level === 'error' && l.error === 'MODEL_ERROR');
    expect((await request(server.port, 'GET', '/ping')).status).toBe(200);
  } finally {
    await server.stop();
  }
  expect(server.nonJsonOutput()).toEqual([]);
});

test('a declared scalar takes only shape []; an input of unknown rank takes any shape', async () => {
  const server = await startServer({ baseDir: baseDir({ 'model.onnx': scalarModel() }), env: { MODEL_SERVER_WORKERS: '1' } });
  try {
    const started = await server.waitForLog((l) => /^ready/.test(l.msg));
    expect(started.inputs).toEqual([
      { name: 'x', type: 'float32', shape: ['N'] },
      { name: 'scale', type: 'float32', shape: [], scalar: true },
      { name: 'anything', type: 'float32', shape: [] },
    ]);
    const refused = await post(server, v2(tensor('x', [2], [1, 2]), tensor('scale', [1], [3]), tensor('anything', [], 0)));
    expect(refused.status).toBe(400);
    expect(refused.json().error).toEqual({ code: 'INVALID_TENSOR', message: 'input "scale": shape [1] has 1 dimension(s), but the model takes a scalar (shape [])' });
    for (const anything of [tensor('anything', [], 1), tensor('anything', [3], [1, 0, 0]), tensor('anything', [1, 2], [[0.5, 0.5]])]) {
      const reply = await post(server, v2(tensor('x', [2], [1, 2]), tensor('scale', [], 3), anything));
      expect(reply.status).toBe(200);
      expect(reply.json().outputs).toEqual([{ name: 'y', datatype: 'FP32', shape: [2], data: [4, 7] }]);
    }
  } finally {
    await server.stop();
  }
  expect(server.nonJsonOutput()).toEqual([]);
});

describe('inside If, Loop and Scan subgraphs', () => {
  let server: Server;
  const invoke = (model: string, ...inputs: object[]) => request(server.port, 'POST', `/models/${model}/invoke`, { body: JSON.stringify({ inputs }), headers: { 'Content-Type': 'application/json' } });
  const speech = (samples: number, sr: number, batch = 1, stateBatch = batch) => [
    tensor('input', [batch, samples], new Array(batch * samples).fill(0.1)),
    tensor('state', [2, stateBatch, 8], new Array(2 * stateBatch * 8).fill(0)),
    { name: 'sr', shape: [], datatype: 'INT64', data: sr },
  ];
  const refused = (node: string, within: string, reason: string) => ({ status: 400, error: { code: 'INVALID_TENSOR', message: `the input does not fit the model: onnxruntime's ${node} (in ${within}) refused it: ${reason}` } });
  const answer = async (reply: ReturnType<typeof invoke>) => {
    const r = await reply;
    return r.status === 200 ? { status: 200 } : { status: r.status, error: r.json().error };
  };

  beforeAll(async () => {
    server = await startServer({ baseDir: fs.mkdtempSync(path.join(os.tmpdir(), 'ms-subgraphs-')), env: { SAGEMAKER_MULTI_MODEL: 'true', MODEL_SERVER_WORKERS: '1' } });
    const models = { speech: speechModel(), loop: loopModel(), scan: scanModel(), broken: brokenInsideIfModel() };
    for (const [name, bytes] of Object.entries(models)) {
      const dir = path.join(baseDir({ 'model.onnx': bytes }), 'model');
      const loaded = await request(server.port, 'POST', '/models', { body: JSON.stringify({ model_name: name, url: dir }), headers: { 'Content-Type': 'application/json' } });
      expect([name, loaded.status]).toEqual([name, 200]);
    }
  });
  afterAll(() => server.stop());

  test('a speech model given the wrong sample count, sample rate or batch: 400 naming the node inside the If that refused it', async () => {
    expect(await answer(invoke('speech', ...speech(64, 16000)))).toEqual({ status: 200 });
    expect(await answer(invoke('speech', ...speech(64, 8000, 2)))).toEqual({ status: 200 });
    expect(await answer(invoke('speech', ...speech(10, 16000)))).toEqual(refused('Conv node "r16k/stft/Conv"', 'If node "If_0"', 'Invalid input shape: {10}'));
    for (const sr of [44100, -1, 0]) {
      expect(await answer(invoke('speech', ...speech(64, sr)))).toEqual(refused('LSTM node "other/decoder/rnn/LSTM"', 'If node "If_0", If node "If_8k", If node "other/decoder/If_1"', 'Input W must have shape {1,32,2}. Actual:{1,32,4}'));
    }
    expect(await answer(invoke('speech', ...speech(64, 16000, 2, 1)))).toEqual(refused('LSTM node "r16k/decoder/rnn/LSTM"', 'If node "If_0", If node "r16k/decoder/If_1"', 'Input initial_h must have shape {1,2,8}. Actual:{1,1,8}'));
    expect(await answer(invoke('speech', ...speech(64, 8000, 1, 2)))).toEqual(refused('LSTM node "r8k/decoder/rnn/LSTM"', 'If node "If_0", If node "If_8k", If node "r8k/decoder/If_1"', 'Input initial_h must have shape {1,1,8}. Actual:{1,2,8}'));
  });

  test('a Loop body that cannot reshape the input, a Scan body whose state does not broadcast: 400 naming the inner node', async () => {
    expect(await answer(invoke('loop', tensor('x', [8], new Array(8).fill(1))))).toEqual({ status: 200 });
    expect(await answer(invoke('loop', tensor('x', [6], new Array(6).fill(1))))).toEqual(refused('Reshape node "rows_of_4"', 'Loop node "turns"', 'The input tensor cannot be reshaped to the requested shape. Input shape:{6}, requested shape:{-1,4}'));
    expect(await answer(invoke('scan', tensor('start', [3], [0, 0, 0]), tensor('rows', [2, 3], [[1, 2, 3], [4, 5, 6]])))).toEqual({ status: 200 });
    expect(await answer(invoke('scan', tensor('start', [4], [0, 0, 0, 0]), tensor('rows', [2, 3], [[1, 2, 3], [4, 5, 6]])))).toEqual(refused('Add node "add_row"', 'Scan node "running_sum"', 'Attempting to broadcast an axis by a dimension other than 1. 3 by 4'));
  });

  test("a model's own failure inside an If stays a 500 MODEL_ERROR naming the inner node, and nothing but JSON is written", async () => {
    expect(await answer(invoke('broken', tensor('a', [2], [1, 2])))).toEqual({
      status: 500,
      error: { code: 'MODEL_ERROR', message: 'onnxruntime failed on the given tensors: Range node "steps" (in If node "count_if"): delta in Range operator can not be zero!' },
    });
    expect((await request(server.port, 'GET', '/ping')).status).toBe(200);
    expect(server.logs.filter((l) => /died/.test(l.msg))).toEqual([]);
    expect(server.nonJsonOutput()).toEqual([]);
  });
});
