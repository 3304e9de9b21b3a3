// Inputs that pass every check the server can make and still fail inside the graph: onnxruntime's
// reason reaches the caller as a 500, without its internals, and the server keeps serving.
import { addModel, baseDir } from '../helpers/models';
import { request, requireNginx, startServer } from '../helpers/server';

const v2 = (a: number[], b: number[]) =>
  JSON.stringify({ inputs: [{ name: 'a', shape: [a.length], datatype: 'FP32', data: a }, { name: 'b', shape: [b.length], datatype: 'FP32', data: b }] });

beforeAll(() => requireNginx());

test('vectors that do not broadcast are a 500 MODEL_ERROR with onnxruntime\'s reason, no internals', async () => {
  const server = await startServer({ baseDir: baseDir({ 'model.onnx': addModel() }), env: { MODEL_SERVER_WORKERS: '1' } });
  try {
    const post = (body: string) => request(server.port, 'POST', '/invocations', { body, headers: { 'Content-Type': 'application/json' } });
    const reply = await post(v2([1, 2], [1, 2, 3]));
    expect(reply.status).toBe(500);
    expect(reply.json().error.code).toBe('MODEL_ERROR');
    expect(reply.json().error.message).toMatch(/^onnxruntime failed on the given tensors: .*Add node.*Attempting to broadcast an axis by a dimension other than 1\. 2 by 3$/);
    expect(reply.json().error.message).not.toMatch(/onnxruntime_src|::/);
    const ok = await post(v2([1, 2], [10, 20]));
    expect(ok.status).toBe(200);
    expect(ok.json().outputs).toEqual([{ name: 'sum', datatype: 'FP32', shape: [2], data: [11, 22] }]);
  } finally {
    await server.stop();
  }
});
