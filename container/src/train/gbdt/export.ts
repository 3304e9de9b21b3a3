// The trained trees written two ways: an ONNX graph `serve` loads unchanged (the tree-model reader's
// TreeEnsemble, then the objective's transform into a label and probabilities, or a score), and XGBoost
// 1.7's JSON model format, which XGBoost loads and which serve's XGBoost path reads too.
import { attr, GraphBuilder, serializeModel } from '../../onnx/writer';
import type { Ensemble, Tree as EnsembleTree } from '../../trees/ensemble';
import { addTreeEnsemble } from '../../trees/to-onnx';
import type { BoostParams, ObjectiveName } from './params';
import type { Tree } from './tree';

export interface TrainedModel {
  objective: ObjectiveName;
  /** Outputs per row (classes of a multi:* objective, else 1). */
  groups: number;
  features: number;
  names: string[];
  categories: (string[] | undefined)[];
  baseScore: number;
  baseMargin: number;
  /** The kept rounds' trees, round-major, class-minor. */
  trees: Tree[];
  /** A classifier's class names, in class-index order. */
  classNames?: (string | number)[];
  bestIteration?: number;
  bestScore?: number;
  params: BoostParams;
}

export const isClassifier = (o: ObjectiveName): boolean => o.startsWith('binary:') || o.startsWith('multi:');

/** The trees as the tree-model reader's ensemble: float32, x < threshold left, a category in the set right. */
export function toEnsemble(m: TrainedModel): Ensemble {
  const trees: EnsembleTree[] = m.trees.map((t, i) => ({
    target: i % m.groups,
    column: t.left.map((l, n) => (l < 0 ? -1 : t.feature[n])),
    value: t.value.map((v, n) => (t.left[n] >= 0 && t.categories[n] ? 0 : v)),
    left: t.left,
    right: t.right,
    missingLeft: t.defaultLeft,
    categories: t.categories,
  }));
  return { precision: 'float', comparison: 'lt', memberGoes: 'right', features: m.features, derived: [], targets: m.groups, base: new Array(m.groups).fill(m.baseMargin), trees };
}

/**
 * The ONNX graph: one float input [N, F] for numeric data, or (with categorical columns) one input per
 * column as the project's other trainers write them (numbers float [N, 1], categories string [N, 1], a
 * category mapped to its code, anything unseen to missing). Classifiers answer `label` and
 * `probabilities`, regressors `score`.
 */
export function toOnnx(m: TrainedModel, metadata: Record<string, string>): Uint8Array {
  const g = new GraphBuilder('gradient_boosted_trees');
  let x: string;
  if (m.categories.every((c) => c === undefined)) x = g.input('input', 'FLOAT', ['N', m.features]);
  else {
    const columns = m.names.map((name, f) => {
      const cats = m.categories[f];
      if (!cats) return g.input(name, 'FLOAT', ['N', 1]);
      const text = g.input(name, 'STRING', ['N', 1]);
      return g.node('LabelEncoder', [text], { keys_strings: attr.strings(cats), values_floats: attr.floats(cats.map((_, i) => i)), default_float: attr.float(NaN) }, { domain: 'ai.onnx.ml' });
    });
    x = columns.length > 1 ? g.node('Concat', columns, { axis: attr.int(1) }) : columns[0];
  }
  const margin = addTreeEnsemble(g, toEnsemble(m), x, 'margin');
  if (isClassifier(m.objective)) {
    const names = m.classNames ?? Array.from({ length: m.groups === 1 ? 2 : m.groups }, (_, i) => i);
    let probabilities: string;
    if (m.groups === 1) {
      const p = g.node('Sigmoid', [margin]);
      const q = g.node('Sub', [g.constant('one', 'FLOAT', [], [1]), p]);
      probabilities = g.node('Concat', [q, p], { axis: attr.int(1) }, { outputs: ['probabilities'] });
    } else probabilities = g.node('Softmax', [margin], { axis: attr.int(-1) }, { outputs: ['probabilities'] });
    const index = g.node('ArgMax', [probabilities], { axis: attr.int(1), keepdims: attr.int(0) });
    const numeric = names.every((n) => typeof n === 'number');
    const table = numeric ? g.constant('class_names', 'INT64', [names.length], names as number[]) : g.constant('class_names', 'STRING', [names.length], names.map(String));
    g.node('Gather', [table, index], { axis: attr.int(0) }, { outputs: ['label'] });
    g.output('label', numeric ? 'INT64' : 'STRING', ['N']);
    g.output('probabilities', 'FLOAT', ['N', names.length]);
  } else {
    const transformed = m.objective === 'reg:logistic' ? g.node('Sigmoid', [margin]) : m.objective === 'count:poisson' ? g.node('Exp', [margin]) : margin;
    g.node('Reshape', [transformed, g.constant('shape', 'INT64', [1], [-1])], {}, { outputs: ['score'] });
    g.output('score', 'FLOAT', ['N']);
  }
  return serializeModel(g, { opset: 17, domains: { 'ai.onnx.ml': 5 }, metadata });
}

/**
 * A float32 as XGBoost writes and reads one: the shortest decimal that reads back as the same float32
 * (XGBoost parses base_score with a float parser that refuses longer forms), with a point or an exponent
 * (an integer would be read as an integer), NaN bare.
 */
function float(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  const f = Math.fround(v);
  if (!Number.isFinite(f)) return f > 0 ? '3.4028235e+38' : '-3.4028235e+38';
  if (Object.is(f, -0)) return '-0.0';
  let s = String(f);
  for (let digits = 1; digits <= 9; digits++) {
    const shorter = f.toPrecision(digits);
    if (Math.fround(Number(shorter)) === f) {
      s = String(Number(shorter));
      break;
    }
  }
  return /[.e]/.test(s) ? s : `${s}.0`;
}
const floats = (a: number[]) => `[${a.map(float).join(',')}]`;
const ints = (a: number[]) => `[${a.join(',')}]`;

function treeJson(t: Tree, id: number, features: number): string {
  const n = t.left.length;
  const catNodes: number[] = [];
  const segments: number[] = [];
  const sizes: number[] = [];
  const cats: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = t.left[i] >= 0 ? t.categories[i] : undefined;
    if (!c) continue;
    catNodes.push(i);
    segments.push(cats.length);
    sizes.push(c.length);
    cats.push(...c);
  }
  const leaf = (i: number) => t.left[i] < 0;
  const fields: [string, string][] = [
    ['base_weights', floats(t.baseWeight)],
    ['categories', ints(cats)],
    ['categories_nodes', ints(catNodes)],
    ['categories_segments', ints(segments)],
    ['categories_sizes', ints(sizes)],
    ['default_left', ints(t.defaultLeft.map((d, i) => (d && !leaf(i) ? 1 : 0)))],
    ['id', String(id)],
    ['left_children', ints(t.left)],
    ['loss_changes', floats(t.lossChg)],
    ['parents', ints(t.parent)],
    ['right_children', ints(t.right)],
    ['split_conditions', floats(t.value.map((v, i) => (!leaf(i) && t.categories[i] ? NaN : v)))],
    ['split_indices', ints(t.feature.map((f, i) => (leaf(i) ? 0 : f)))],
    ['split_type', ints(t.left.map((_, i) => (!leaf(i) && t.categories[i] ? 1 : 0)))],
    ['sum_hessian', floats(t.sumHess)],
    ['tree_param', `{"num_deleted":"0","num_feature":"${features}","num_nodes":"${n}","size_leaf_vector":"0"}`],
  ];
  return `{${fields.map(([k, v]) => `"${k}":${v}`).join(',')}}`;
}

function objectiveJson(m: TrainedModel): string {
  const name = JSON.stringify(m.objective);
  switch (m.objective) {
    case 'reg:absoluteerror':
      return `{"name":${name}}`;
    case 'count:poisson':
      return `{"name":${name},"poisson_regression_param":{"max_delta_step":"${float(m.params.maxDeltaStep ?? 0.7)}"}}`;
    case 'multi:softprob':
    case 'multi:softmax':
      return `{"name":${name},"softmax_multiclass_param":{"num_class":"${m.groups}"}}`;
    default:
      return `{"name":${name},"reg_loss_param":{"scale_pos_weight":"${float(m.params.scalePosWeight)}"}}`;
  }
}

/** XGBoost 1.7's JSON model: what Booster.save_model("….json") writes, loadable by XGBoost 1.7 and later. */
export function toXgboostJson(m: TrainedModel): string {
  const rounds = m.trees.length / m.groups;
  const attributes: Record<string, string> = { best_iteration: String(m.bestIteration ?? rounds - 1), best_ntree_limit: String(rounds) };
  if (m.bestScore !== undefined) attributes.best_score = String(m.bestScore);
  const learner = [
    `"attributes":${JSON.stringify(attributes)}`,
    // No feature names or types: XGBoost then refuses data without the same names, which is what
    // SageMaker's XGBoost container passes it (model.json holds the names).
    `"feature_names":[]`,
    `"feature_types":[]`,
    `"gradient_booster":{"model":{"gbtree_model_param":{"num_parallel_tree":"1","num_trees":"${m.trees.length}","size_leaf_vector":"0"},"tree_info":${ints(m.trees.map((_, i) => i % m.groups))},"trees":[${m.trees.map((t, i) => treeJson(t, i, m.features)).join(',')}]},"name":"gbtree"}`,
    `"learner_model_param":{"base_score":"${float(m.baseScore)}","boost_from_average":"1","num_class":"${m.groups > 1 ? m.groups : 0}","num_feature":"${m.features}","num_target":"1"}`,
    `"objective":${objectiveJson(m)}`,
  ];
  return `{"learner":{${learner.join(',')}},"version":[1,7,4]}`;
}
