// Inputs that pass every check the server can make before the graph runs and are still refused by it:
// what onnxruntime attributes to the input is a 400 naming the node, a failure of the model's own making
// a 500; neither leaks onnxruntime's internals or its own (non-JSON) log lines, and the server keeps
// serving. And scalars: a declared scalar is told apart from an input of unknown rank.
import { GraphBuilder, attr, serializeModel } from '../../container/src/onnx/writer';
import { addModel, baseDir, scalarModel } from '../helpers/models';
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
