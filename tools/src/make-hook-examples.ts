// Writes the inference-code examples' models and sample payloads (local-test/examples), and copies the
// PNG example's one dependency into its code/node_modules, as a user does before packing model.tar.gz.
// Deterministic; run by `npm run examples`, local-test/setup.sh and before the tests.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { GraphBuilder, attr, serializeModel } from '../../container/dist/onnx/writer';
import { logisticToOnnx } from '../../container/dist/train/export';

export const EXAMPLES_DIR = path.resolve(__dirname, '../../local-test/examples');

/** A churn classifier on [N, 3] (tenure_months, monthly_charges, support_calls): classes stay, churn. */
export function churnModel(): Uint8Array {
  return logisticToOnnx(
    {
      features: 3,
      classes: 2,
      mean: Float64Array.from([24, 70, 2]),
      scale: Float64Array.from([18, 25, 1.5]),
      // Row-major [features, classes]: long tenure keeps customers, high charges and support calls lose them.
      weights: Float64Array.from([0, -1.2, 0, 0.8, 0, 1.0]),
      bias: Float64Array.from([0, -0.5]),
    },
    { labels: ['stay', 'churn'] },
  );
}

/** image [1, 3, height, width] (RGB in 0..1) -> mean per channel -> softmax: which colour dominates. */
export function colourModel(): Uint8Array {
  const g = new GraphBuilder('dominant_colour');
  const image = g.input('image', 'FLOAT', [1, 3, 'height', 'width']);
  const means = g.node('ReduceMean', [image], { axes: attr.ints([2, 3]), keepdims: attr.int(0) });
  const sharpened = g.node('Mul', [means, g.constant('sharpness', 'FLOAT', [], [12])]);
  g.node('Softmax', [sharpened], { axis: attr.int(-1) }, { outputs: ['probabilities'] });
  g.output('probabilities', 'FLOAT', [1, 3]);
  return serializeModel(g, { opset: 17 });
}

/** A solid-colour PNG with a little noise-free gradient, so decoding is exercised beyond one pixel value. */
export function samplePng(rgb: [number, number, number], width = 16, height = 12): Buffer {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      const shade = (x + y) % 4;
      png.data[i] = Math.max(0, rgb[0] - shade);
      png.data[i + 1] = Math.max(0, rgb[1] - shade);
      png.data[i + 2] = Math.max(0, rgb[2] - shade);
      png.data[i + 3] = 255;
    }
  }
  return PNG.sync.write(png);
}

/** Copies an installed package (and nothing else: pngjs has no dependencies) into a code/node_modules. */
export function vendor(pkg: string, codeDir: string): void {
  const from = path.dirname(require.resolve(`${pkg}/package.json`));
  const to = path.join(codeDir, 'node_modules', pkg);
  fs.rmSync(to, { recursive: true, force: true });
  fs.cpSync(from, to, { recursive: true });
}

/** Writes both examples under `dir` (local-test/examples by default). */
export function writeExamples(dir = EXAMPLES_DIR): void {
  const churn = path.join(dir, 'churn-threshold');
  fs.mkdirSync(path.join(churn, 'model'), { recursive: true });
  fs.writeFileSync(path.join(churn, 'model', 'model.onnx'), churnModel());
  fs.writeFileSync(path.join(churn, 'model', 'model.json'), `${JSON.stringify({ features: ['tenure_months', 'monthly_charges', 'support_calls'], labels: ['stay', 'churn'] }, null, 2)}\n`);

  const colour = path.join(dir, 'png-colour');
  fs.mkdirSync(path.join(colour, 'model', 'code'), { recursive: true });
  fs.writeFileSync(path.join(colour, 'model', 'model.onnx'), colourModel());
  fs.writeFileSync(path.join(colour, 'red.png'), samplePng([220, 40, 30]));
  fs.writeFileSync(path.join(colour, 'blue.png'), samplePng([20, 60, 230]));
  vendor('pngjs', path.join(colour, 'model', 'code'));
}

if (require.main === module) {
  writeExamples();
  console.log(`wrote the inference-code examples in ${EXAMPLES_DIR}`);
}
