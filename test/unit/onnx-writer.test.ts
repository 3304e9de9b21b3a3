import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, attr, serializeModel } from '../../container/src/onnx/writer';
import { linearToOnnx, logisticToOnnx } from '../../container/src/train/export';
import { fitRidge, predictLinear } from '../../container/src/train/linear';
import { fitLogistic, predictProbabilities } from '../../container/src/train/logistic';
import * as os from 'node:os';
import { createLogger } from '../../container/src/logger';
import { runTraining } from '../../container/src/train/run';
import { EXAMPLE_DIR, linearModel } from '../helpers/models';

/** A deterministic pseudo-random stream (tests must not depend on Math.random). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

describe('ONNX writer', () => {
  test('a logistic regression graph matches the TypeScript reference within 1e-5', async () => {
    const rand = lcg(7);
    const rows = 200;
    const features = 5;
    const classes = 3;
    const x = Float64Array.from({ length: rows * features }, () => rand() * 10 - 5);
    const y = Int32Array.from({ length: rows }, (_, r) => (x[r * features] + x[r * features + 1] > 0 ? (x[r * features + 2] > 0 ? 2 : 1) : 0));
    const model = await fitLogistic(x, y, rows, features, classes, { l2: 0.01, epochs: 300, learningRate: 0.3 });
    const session = await ort.InferenceSession.create(logisticToOnnx(model, { labels: ['a', 'b', 'c'] }));
    const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(x), [rows, features]) });
    const reference = predictProbabilities(model, Float64Array.from(Float32Array.from(x)), rows);
    const got = out.probabilities.data as Float32Array;
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - reference[i]));
    expect(worst).toBeLessThan(1e-5);
    const labels = out.label.data as string[];
    for (let r = 0; r < rows; r++) {
      const p = reference.subarray(r * classes, r * classes + classes);
      expect(labels[r]).toBe(['a', 'b', 'c'][p.indexOf(Math.max(...p))]);
    }
  });

  test('double-precision tensors, metadata and typed attributes round-trip through onnxruntime', async () => {
    const session = await ort.InferenceSession.create(linearModel([0.5, -2, 3], 1.25, true));
    expect(session.inputMetadata[0]).toMatchObject({ name: 'features', type: 'float64', shape: ['N', 3] });
    const out = await session.run({ features: new ort.Tensor('float64', Float64Array.from([1, 2, 3, 0, 0, 0]), [2, 3]) });
    expect(Array.from(out.variable.data as Float64Array)).toEqual([0.5 - 4 + 9 + 1.25, 1.25]);

    const g = new GraphBuilder('attrs');
    const x = g.input('x', 'FLOAT', [2, 3]);
    g.node('ReduceSum', [x, g.constant('axes', 'INT64', [1], [1])], { keepdims: attr.int(0) }, { outputs: ['sum'] });
    g.node('LeakyRelu', [x], { alpha: attr.float(0.5) }, { outputs: ['leaky'] });
    g.output('sum', 'FLOAT', [2]);
    g.output('leaky', 'FLOAT', [2, 3]);
    const s2 = await ort.InferenceSession.create(serializeModel(g, { metadata: { author: 'test' } }));
    const r = await s2.run({ x: new ort.Tensor('float32', Float32Array.from([1, 2, 3, -2, -4, 6]), [2, 3]) });
    expect(Array.from(r.sum.data as Float32Array)).toEqual([6, 0]);
    expect(Array.from(r.leaky.data as Float32Array)).toEqual([1, 2, 3, -1, -2, 6]);
  });

  test('the bundled example model is exactly what `train` builds from the bundled iris data', async () => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-example-'));
    fs.cpSync(path.join(EXAMPLE_DIR, 'input'), path.join(base, 'input'), { recursive: true });
    const result = await runTraining(base, createLogger('silent'), () => false);
    expect(Buffer.from(fs.readFileSync(path.join(base, 'model/model.onnx'))).equals(fs.readFileSync(path.join(EXAMPLE_DIR, 'model/model.onnx')))).toBe(true);
    expect(fs.readFileSync(path.join(base, 'model/model.json'), 'utf8')).toBe(fs.readFileSync(path.join(EXAMPLE_DIR, 'model/model.json'), 'utf8'));
    expect(result.metrics['train:accuracy']).toBeGreaterThan(0.95);
  });

  test('a ridge regression graph matches the TypeScript reference within 1e-5', async () => {
    const rand = lcg(11);
    const rows = 100;
    const f = 4;
    const x = Float64Array.from({ length: rows * f }, () => rand() * 4 - 2);
    const y = Float64Array.from({ length: rows }, (_, r) => 3 * x[r * f] - x[r * f + 2] + 0.5 + (rand() - 0.5) * 0.01);
    const model = fitRidge(x, y, rows, f, 0.001);
    const session = await ort.InferenceSession.create(linearToOnnx(model));
    const xf = Float32Array.from(x);
    const out = await session.run({ input: new ort.Tensor('float32', xf, [rows, f]) });
    const reference = predictLinear(model, Float64Array.from(xf), rows);
    const got = out.score.data as Float32Array;
    for (let r = 0; r < rows; r++) expect(Math.abs(got[r] - reference[r])).toBeLessThan(1e-5 * Math.max(1, Math.abs(reference[r])));
    expect(model.bias).toBeCloseTo(y.reduce((a, b) => a + b, 0) / rows, 10);
  });
});
