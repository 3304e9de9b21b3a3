// Trains the bundled example model: multinomial logistic regression on the iris data in
// local-test/test-dir/input/data/training/iris.csv (label first, no header), written as
// local-test/test-dir/model/{model.onnx,model.json}. Deterministic: rerunning gives the same bytes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'csv-parse/sync';
import { logisticToOnnx } from '../train/export';
import { fitLogistic, predictProbabilities } from '../train/logistic';

export const FEATURES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];
export const OPTIONS = { l2: 0.001, epochs: 2000, learningRate: 0.5 };

export function buildExampleModel(csvText: string): { onnx: Uint8Array; json: string; accuracy: number } {
  const records = parse(csvText, { skip_empty_lines: true }) as string[][];
  const labels = [...new Set(records.map((r) => r[0]))].sort();
  const rows = records.length;
  const x = Float64Array.from(records.flatMap((r) => r.slice(1).map(Number)));
  const y = Int32Array.from(records.map((r) => labels.indexOf(r[0])));
  const model = fitLogistic(x, y, rows, FEATURES.length, labels.length, OPTIONS);
  const p = predictProbabilities(model, x, rows);
  let correct = 0;
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let j = 1; j < labels.length; j++) if (p[r * labels.length + j] > p[r * labels.length + best]) best = j;
    if (best === y[r]) correct += 1;
  }
  const accuracy = correct / rows;
  const onnx = logisticToOnnx(model, { labels, metadata: { features: FEATURES.join(','), source: 'iris (UCI, CC BY 4.0)' } });
  const json = `${JSON.stringify({ features: FEATURES, labels, task: 'classification', algorithm: 'logistic', hyperparameters: OPTIONS, metrics: { 'train:accuracy': accuracy } }, null, 2)}\n`;
  return { onnx, json, accuracy };
}

if (require.main === module) {
  const testDir = path.resolve(__dirname, '../../../local-test/test-dir');
  const { onnx, json, accuracy } = buildExampleModel(fs.readFileSync(path.join(testDir, 'input/data/training/iris.csv'), 'utf8'));
  fs.mkdirSync(path.join(testDir, 'model'), { recursive: true });
  fs.writeFileSync(path.join(testDir, 'model/model.onnx'), onnx);
  fs.writeFileSync(path.join(testDir, 'model/model.json'), json);
  console.log(`wrote ${path.join(testDir, 'model')} (model.onnx ${onnx.length} bytes), train:accuracy=${accuracy.toFixed(4)}`);
}
