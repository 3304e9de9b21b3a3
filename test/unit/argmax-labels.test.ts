// The label shortcut: when a graph computes its label as Gather(class table, ArgMax(probabilities)), the
// server fetches only the probabilities and looks the labels up. It must give exactly onnxruntime's labels.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { OnnxSession } from '../../container/src/inference/session';
import { readModelMetadata } from '../../container/src/onnx/reader';
import { GraphBuilder, attr, serializeModel } from '../../container/src/onnx/writer';
import { treeEnsembleModel } from '../../tools/src/tree-model';
import { EXAMPLE_DIR } from '../helpers/models';

/** x [N, 3] is the probabilities as given (so ties, infinities and NaN can be sent); label = table[ArgMax]. */
function argmaxModel(names: string[] | number[], argmax: Record<string, number> = {}): string {
  const g = new GraphBuilder('argmax');
  const x = g.input('input', 'FLOAT', ['N', 3]);
  g.node('Identity', [x], {}, { outputs: ['probabilities'] });
  const attrs = Object.fromEntries(Object.entries({ axis: 1, keepdims: 0, ...argmax }).map(([k, v]) => [k, attr.int(v)]));
  const index = g.node('ArgMax', ['probabilities'], attrs);
  const numeric = typeof names[0] === 'number';
  const table = numeric ? g.constant('classes', 'INT64', [names.length], names as number[]) : g.constant('classes', 'STRING', [names.length], names as string[]);
  g.node('Gather', [table, index], { axis: attr.int(0) }, { outputs: ['label'] });
  g.output('label', numeric ? 'INT64' : 'STRING', (argmax.keepdims ?? 0) === 1 ? ['N', 1] : ['N']);
  g.output('probabilities', 'FLOAT', ['N', 3]);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ms-argmax-')), 'model.onnx');
  fs.writeFileSync(file, serializeModel(g, { opset: 17 }));
  return file;
}

const ROWS = [
  [0.1, 0.7, 0.2], [0.5, 0.5, 0], [0, 0.3, 0.3], [-0, 0, -0], [1, 1, 1], [Infinity, 1, Infinity],
  [-Infinity, -Infinity, -1], [-5, -3, -3], [3.4e38, -3.4e38, 3.4e38], [1e-45, 0, 1e-45],
];

async function compare(file: string, rows: number[][]): Promise<void> {
  const model = await OnnxSession.load({ modelFile: file, intraOpThreads: 1 });
  const values = Float32Array.from(rows.flat());
  const predicted = await model.predict({ rows: rows.length, width: 3, values });
  const session = await ort.InferenceSession.create(file);
  const raw = (await session.run({ input: new ort.Tensor('float32', values, [rows.length, 3]) })).label.data as ArrayLike<string | bigint>;
  await session.release();
  expect(predicted.kind === 'classification' && predicted.labels).toEqual(Array.from(raw, (v) => (typeof v === 'bigint' ? Number(v) : v)));
}

describe('labels computed from probabilities', () => {
  test('the pattern is recognised in the example model, which then skips onnxruntime\'s label output', async () => {
    const file = path.join(EXAMPLE_DIR, 'model/model.onnx');
    expect(readModelMetadata(file).argmaxLabel).toEqual({ output: 'label', source: 'probabilities', names: ['setosa', 'versicolor', 'virginica'] });
    const model = await OnnxSession.load({ modelFile: file, intraOpThreads: 1 });
    expect(model.description.labelsFromProbabilities).toBe(true);
  });

  test.each([
    ['string classes', ['cat', 'dog', 'eel']],
    ['integer classes', [7, -2, 40]],
  ])('give exactly onnxruntime\'s labels for %s, ties and infinities included', async (_, names) => {
    const file = argmaxModel(names);
    expect(readModelMetadata(file).argmaxLabel?.names).toEqual(names);
    await compare(file, ROWS);
    // axis -1 (a ten-byte varint in the file) is the same axis for [N, classes].
    const last = argmaxModel(names, { axis: -1 });
    expect(readModelMetadata(last).argmaxLabel?.source).toBe('probabilities');
    await compare(last, ROWS);
  });

  test('a row with NaN is left to onnxruntime (the whole call is run with its label output)', async () => {
    await compare(argmaxModel(['a', 'b', 'c']), [[0.1, 0.7, 0.2], [NaN, 1, 0], [1, NaN, 2], [NaN, NaN, NaN]]);
  });

  test('other layouts are not taken for the pattern', async () => {
    // select_last_index picks the last maximum; keepdims keeps [N, 1]; a tree classifier computes its own label.
    expect(readModelMetadata(argmaxModel(['a', 'b', 'c'], { select_last_index: 1 })).argmaxLabel).toBeUndefined();
    expect(readModelMetadata(argmaxModel(['a', 'b', 'c'], { keepdims: 1 })).argmaxLabel).toBeUndefined();
    const trees = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ms-argmax-')), 'trees.onnx');
    fs.writeFileSync(trees, treeEnsembleModel({ features: 3, trees: 2, depth: 2, labels: ['x', 'y', 'z'] }));
    expect(readModelMetadata(trees).argmaxLabel).toBeUndefined();
    // And where it is not taken, labels are still onnxruntime's.
    await compare(argmaxModel(['a', 'b', 'c'], { select_last_index: 1 }), ROWS);
  });
});
