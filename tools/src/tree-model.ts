// A deterministic random-forest-shaped classifier (ai.onnx.ml TreeEnsembleClassifier) for benchmarks and
// tests: `features` inputs, `trees` full binary trees of `depth`, `classes` classes, softmax outputs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { GraphBuilder, attr, serializeModel } from '../../container/dist/onnx/writer';
import { prng } from '../../container/dist/train/logistic';

export interface TreeModelOptions {
  features?: number;
  trees?: number;
  depth?: number;
  classes?: number;
  seed?: number;
  /** String class names (classlabels_strings, label output STRING) instead of 0..classes-1. */
  labels?: string[];
}

export function treeEnsembleModel(options: TreeModelOptions = {}): Uint8Array {
  const { features = 30, trees = 150, depth = 6, seed = 1, labels } = options;
  const classes = labels?.length ?? options.classes ?? 3;
  const random = prng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
  const n = {
    treeids: [] as number[], nodeids: [] as number[], featureids: [] as number[], values: [] as number[], modes: [] as string[],
    trueids: [] as number[], falseids: [] as number[], hitrates: [] as number[], missing: [] as number[],
  };
  const c = { treeids: [] as number[], nodeids: [] as number[], ids: [] as number[], weights: [] as number[] };
  const internal = 2 ** depth - 1;
  const total = 2 ** (depth + 1) - 1;
  for (let t = 0; t < trees; t++) {
    for (let id = 0; id < total; id++) {
      n.treeids.push(t);
      n.nodeids.push(id);
      n.hitrates.push(1);
      n.missing.push(0);
      if (id < internal) {
        n.featureids.push(Math.floor(random() * features));
        n.values.push(gauss() * 0.8);
        n.modes.push('BRANCH_LEQ');
        n.trueids.push(2 * id + 1);
        n.falseids.push(2 * id + 2);
      } else {
        n.featureids.push(0);
        n.values.push(0);
        n.modes.push('LEAF');
        n.trueids.push(0);
        n.falseids.push(0);
        for (let k = 0; k < classes; k++) {
          c.treeids.push(t);
          c.nodeids.push(id);
          c.ids.push(k);
          c.weights.push(gauss() * 0.1);
        }
      }
    }
  }
  const g = new GraphBuilder('tree_ensemble');
  g.input('input', 'FLOAT', ['N', features]);
  g.node(
    'TreeEnsembleClassifier',
    ['input'],
    {
      nodes_treeids: attr.ints(n.treeids), nodes_nodeids: attr.ints(n.nodeids), nodes_featureids: attr.ints(n.featureids),
      nodes_values: attr.floats(n.values), nodes_modes: attr.strings(n.modes), nodes_truenodeids: attr.ints(n.trueids),
      nodes_falsenodeids: attr.ints(n.falseids), nodes_hitrates: attr.floats(n.hitrates), nodes_missing_value_tracks_true: attr.ints(n.missing),
      class_treeids: attr.ints(c.treeids), class_nodeids: attr.ints(c.nodeids), class_ids: attr.ints(c.ids), class_weights: attr.floats(c.weights),
      ...(labels ? { classlabels_strings: attr.strings(labels) } : { classlabels_int64s: attr.ints(Array.from({ length: classes }, (_, k) => k)) }),
      post_transform: attr.string('SOFTMAX'),
    },
    { outputs: ['label', 'probabilities'], domain: 'ai.onnx.ml' },
  );
  g.output('label', labels ? 'STRING' : 'INT64', ['N']);
  g.output('probabilities', 'FLOAT', ['N', classes]);
  return serializeModel(g, { domains: { 'ai.onnx.ml': 3 }, metadata: { features: JSON.stringify(Array.from({ length: features }, (_, i) => `f${i}`)) } });
}

/** Deterministic rows of standard-normal-ish features, as CSV lines. */
export function randomCsvRows(rows: number, features: number, seed = 7): string[] {
  const random = prng(seed);
  return Array.from({ length: rows }, () => Array.from({ length: features }, () => ((random() + random() + random() - 1.5) * 2).toFixed(4)).join(','));
}

/** The bench's XGBoost model (500 trees of depth 6 over 30 features, trained by XGBoost 1.7.4; test/fixtures/trees) as `dir`/xgboost-model. */
export function writeXgboostBenchModel(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'xgboost-model');
  fs.writeFileSync(file, zlib.gunzipSync(fs.readFileSync(path.resolve(__dirname, '../../test/fixtures/trees/bench-500.model.gz'))));
  return file;
}
