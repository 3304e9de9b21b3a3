// Any model onnxruntime can load starts: a single float 2-D input with a fixed first dimension is a tensor
// model (not rows), model.json may still declare it tabular, and a warm-up run the model refuses is logged
// as warmed: false with its reason, never a failed start. Real nginx, workers, threads and ONNX models.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GraphBuilder, serializeModel } from '../../container/src/onnx/writer';
import { baseDir } from '../helpers/models';
import { csv, request, requireNginx, startServer, type Server } from '../helpers/server';

/** softmax(x) for x: FP32 [2, 2], a fixed first dimension (a matrix, as in ONNX's test_softmax or test_det_2d). */
function fixedMatrixModel(): Uint8Array {
  const g = new GraphBuilder('fixed');
  g.input('x', 'FLOAT', [2, 2]);
  g.node('Softmax', ['x'], {}, { outputs: ['y'] });
  g.output('y', 'FLOAT', [2, 2]);
  return serializeModel(g);
}

/** A classifier on [N, 2] rows that only runs on exactly two rows (a Reshape to [2, 2]): one row cannot warm it. */
function twoRowsOnlyModel(): Uint8Array {
  const g = new GraphBuilder('two-rows');
  g.input('input', 'FLOAT', ['N', 2]);
  g.node('Softmax', [g.node('Reshape', ['input', g.constant('shape', 'INT64', [2], [2, 2])])], {}, { outputs: ['probabilities'] });
  g.output('probabilities', 'FLOAT', ['N', 2]);
  return serializeModel(g);
}

const v2 = (server: Server, body: unknown, urlPath = '/invocations') => request(server.port, 'POST', urlPath, { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
const readyLine = (server: Server) => server.waitForLog((l) => /^ready:/.test(l.msg));

beforeAll(() => requireNginx());

describe('a single float input of fixed shape [2, 2]', () => {
  test('starts as a tensor model, warmed with a [2, 2] run, and answers V2; rows get 415', async () => {
    const server = await startServer({ baseDir: baseDir({ 'model.onnx': fixedMatrixModel() }) });
    try {
      expect(await readyLine(server)).toMatchObject({ kind: 'tensor', warmed: true });
      const r = await v2(server, { inputs: [{ name: 'x', shape: [2, 2], datatype: 'FP32', data: [0, 0, '-Infinity', 0] }] });
      expect(r.status).toBe(200);
      expect(r.json().outputs).toEqual([{ name: 'y', datatype: 'FP32', shape: [2, 2], data: [0.5, 0.5, 0, 1] }]);
      expect((await csv(server.port, '1,2\n3,4')).status).toBe(415);
    } finally {
      await server.stop();
    }
    expect(server.nonJsonOutput()).toEqual([]);
  });

  test('is served as rows when model.json says it is tabular (warmed with its two rows)', async () => {
    const server = await startServer({ baseDir: baseDir({ 'model.onnx': fixedMatrixModel(), 'model.json': JSON.stringify({ features: ['a', 'b'] }) }) });
    try {
      expect(await readyLine(server)).toMatchObject({ kind: 'classifier', warmed: true });
      const r = await csv(server.port, '1,1\n0,2', 'application/json');
      expect(r.status).toBe(200);
      expect(r.json()).toEqual({ predictions: [{ predicted_label: 0 }, { predicted_label: 1 }] });
    } finally {
      await server.stop();
    }
  });
});

describe('a model whose warm-up run cannot be made', () => {
  test('starts with warmed: false and the reason in the start-up line, and serves requests it can run', async () => {
    const server = await startServer({ baseDir: baseDir({ 'model.onnx': twoRowsOnlyModel() }) });
    try {
      const ready = await readyLine(server);
      expect(ready).toMatchObject({ kind: 'classifier', warmed: false, warmupError: expect.stringMatching(/Reshape/) });
      const r = await csv(server.port, '1,1\n0,2', 'application/json');
      expect(r.status).toBe(200);
      expect(r.json().predictions.map((p: { predicted_label: number }) => p.predicted_label)).toEqual([0, 1]);
      const one = await csv(server.port, '1,1');
      expect(one.status).toBe(400);
      expect(one.json().error.code).toBe('INVALID_TENSOR');
    } finally {
      await server.stop();
    }
    expect(server.nonJsonOutput()).toEqual([]);
  });

  test('loads in multi-model mode, and the load line says warmed: false with the reason', async () => {
    const server = await startServer({ baseDir: fs.mkdtempSync(path.join(os.tmpdir(), 'ms-start-base-')), env: { SAGEMAKER_MULTI_MODEL: 'true' } });
    try {
      const dir = path.join(baseDir({ 'model.onnx': twoRowsOnlyModel() }), 'model');
      const loaded = await request(server.port, 'POST', '/models', { body: JSON.stringify({ model_name: 'two', url: dir }), headers: { 'Content-Type': 'application/json' } });
      expect(loaded.status).toBe(200);
      const line = await server.waitForLog((l) => l.msg === 'model two loaded');
      expect(line).toMatchObject({ kind: 'classifier', warmed: false, warmupError: expect.stringMatching(/Reshape/) });
      const r = await request(server.port, 'POST', '/models/two/invoke', { body: '1,1\n0,2', headers: { 'Content-Type': 'text/csv' } });
      expect([r.status, r.body]).toEqual([200, '0\n1\n']);
    } finally {
      await server.stop();
    }
  });
});
