// XGBoost's model as its JSON and UBJSON formats hold it (the legacy binary format is read into the same
// shape, xgboost-binary.ts): learner parameters, objective, gbtree or dart trees. One booster becomes one
// part of an ensemble; several (SageMaker's k-fold output) are combined by the caller.
import { Columns, type Tree } from './ensemble';
import { xgboostBaseMargin, xgboostObjective, type Objective } from './objectives';

/** Why a model file cannot be served; the loader adds the file's name. */
export class TreeModelError extends Error {}

type Doc = Record<string, unknown>;

const obj = (v: unknown, what: string): Doc => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TreeModelError(`${what} is missing or not an object`);
  return v as Doc;
};
const arr = (v: unknown, what: string): unknown[] => {
  if (!Array.isArray(v)) throw new TreeModelError(`${what} is missing or not an array`);
  return v;
};
const num = (v: unknown, what: string): number => {
  // UBJSON holds NaN as a float (JSON as null, xgboost-json.ts); both are a missing number.
  if (typeof v === 'number') return v;
  const n = typeof v === 'string' ? Number(v) : typeof v === 'boolean' ? Number(v) : v === null ? NaN : (v as number);
  if (typeof n !== 'number' || (Number.isNaN(n) && v !== null)) throw new TreeModelError(`${what} is not a number (${JSON.stringify(v)})`);
  return n;
};
const nums = (v: unknown, what: string): number[] => arr(v, what).map((x, i) => num(x, `${what}[${i}]`));

/** One XGBoost booster, read. */
export interface XgbBooster {
  objective: Objective;
  booster: string;
  features: number;
  groups: number;
  baseMargin: number;
  trees: { group: number; weight: number; tree: XgbTree }[];
  iterations: number;
  bestIteration?: number;
  featureNames?: string[];
  version?: string;
}

interface XgbTree {
  left: number[];
  right: number[];
  feature: number[];
  cond: number[];
  defaultLeft: number[];
  categorical?: Map<number, number[]>;
}

/** Reads the parsed JSON or UBJSON document (or the binary format's equivalent). */
export function readXgboostDoc(doc: unknown): XgbBooster {
  const learner = obj(obj(doc, 'the document').learner, '"learner"');
  const params = obj(learner.learner_model_param, 'learner.learner_model_param');
  const objectiveName = String(obj(learner.objective, 'learner.objective').name);
  const objective = xgboostObjective(objectiveName);
  if (!objective) throw new TreeModelError(`objective "${objectiveName}" is not one the server predicts (binary:logistic, binary:logitraw, binary:hinge, multi:softprob, multi:softmax, reg:*, count:poisson, reg:gamma, reg:tweedie, survival:cox, rank:*)`);
  const features = num(params.num_feature, 'num_feature');
  const numClass = num(params.num_class ?? 0, 'num_class');
  const numTarget = params.num_target === undefined ? 1 : num(params.num_target, 'num_target');
  const groups = Math.max(numClass, numTarget, 1);
  const baseScore = num(params.base_score ?? 0.5, 'base_score');
  const gb = obj(learner.gradient_booster, 'learner.gradient_booster');
  const booster = String(gb.name);
  if (booster === 'gblinear') throw new TreeModelError('it is a linear booster (booster=gblinear), which the server does not serve: it serves tree boosters (gbtree, dart); retrain with booster="gbtree", or export the linear model to ONNX');
  if (booster !== 'gbtree' && booster !== 'dart') throw new TreeModelError(`booster "${booster}" is not one the server serves (gbtree, dart)`);
  const gbtree = booster === 'dart' ? obj(gb.gbtree, 'dart gbtree') : gb;
  const model = obj(gbtree.model, 'gradient_booster.model');
  const treeDocs = arr(model.trees, 'model.trees');
  const info = nums(model.tree_info, 'model.tree_info');
  const weights = booster === 'dart' ? nums(gb.weight_drop, 'dart weight_drop').map(Math.fround) : undefined;
  if (info.length !== treeDocs.length || (weights && weights.length !== treeDocs.length)) throw new TreeModelError(`${treeDocs.length} trees, but tree_info has ${info.length} entries${weights ? ` and weight_drop ${weights.length}` : ''}`);
  const modelParam = model.gbtree_model_param ? obj(model.gbtree_model_param, 'gbtree_model_param') : {};
  const parallel = Math.max(1, modelParam.num_parallel_tree === undefined ? 1 : num(modelParam.num_parallel_tree, 'num_parallel_tree'));
  const perIteration = groups * parallel;
  const iterationsAll = Math.floor(treeDocs.length / perIteration);
  // SageMaker's container predicts with ntree_limit=best_ntree_limit, which XGBoost 1.x turns into the
  // first best_ntree_limit / num_parallel_tree iterations.
  const attributes = learner.attributes ? obj(learner.attributes, 'learner.attributes') : {};
  let iterations = iterationsAll;
  let bestIteration: number | undefined;
  if (attributes.best_ntree_limit !== undefined) {
    const limit = num(attributes.best_ntree_limit, 'attribute best_ntree_limit');
    if (limit > 0) iterations = Math.min(iterationsAll, Math.floor(limit / parallel));
    if (attributes.best_iteration !== undefined) bestIteration = num(attributes.best_iteration, 'attribute best_iteration');
  }
  const used = iterations * perIteration;
  const trees = treeDocs.slice(0, used).map((t, i) => ({ group: info[i], weight: weights ? weights[i] : 1, tree: readTree(obj(t, `tree ${i}`), i, features) }));
  const names = Array.isArray(learner.feature_names) && learner.feature_names.length === features ? (learner.feature_names as unknown[]).map(String) : undefined;
  const version = Array.isArray((doc as Doc).version) ? ((doc as Doc).version as unknown[]).join('.') : undefined;
  return { objective, booster, features, groups, baseMargin: params.base_margin_stored ? Math.fround(baseScore) : xgboostBaseMargin(objectiveName, baseScore), trees, iterations, bestIteration, ...(names ? { featureNames: names } : {}), ...(version ? { version } : {}) };
}

function readTree(t: Doc, index: number, features: number): XgbTree {
  const what = `tree ${index}`;
  const left = nums(t.left_children, `${what} left_children`);
  const n = left.length;
  const tree: XgbTree = {
    left,
    right: nums(t.right_children, `${what} right_children`),
    feature: nums(t.split_indices, `${what} split_indices`),
    // XGBoost's values are float32; JSON holds their shortest decimal form, which must be read back as float32.
    cond: nums(t.split_conditions, `${what} split_conditions`).map(Math.fround),
    defaultLeft: nums(t.default_left, `${what} default_left`),
  };
  for (const [name, a] of Object.entries({ right_children: tree.right, split_indices: tree.feature, split_conditions: tree.cond, default_left: tree.defaultLeft })) {
    if (a.length !== n) throw new TreeModelError(`${what}: ${name} has ${a.length} entries for ${n} nodes`);
  }
  const types = t.split_type === undefined ? [] : nums(t.split_type, `${what} split_type`);
  if (types.some((x) => x !== 0)) {
    const nodes = nums(t.categories_nodes, `${what} categories_nodes`);
    const segments = nums(t.categories_segments, `${what} categories_segments`);
    const sizes = nums(t.categories_sizes, `${what} categories_sizes`);
    const categories = nums(t.categories, `${what} categories`);
    tree.categorical = new Map();
    nodes.forEach((node, i) => tree.categorical!.set(node, categories.slice(segments[i], segments[i] + sizes[i])));
    types.forEach((type, node) => {
      if (type !== 0 && !tree.categorical!.has(node)) tree.categorical!.set(node, []);
    });
  }
  for (let i = 0; i < n; i++) {
    if (tree.left[i] >= 0 && (tree.feature[i] < 0 || tree.feature[i] >= features)) throw new TreeModelError(`${what} node ${i} splits on feature ${tree.feature[i]}, but the model has ${features}`);
  }
  return tree;
}

/**
 * The booster's trees as ensemble trees for outputs [offset, offset + groups): XGBoost sends x left when
 * x < threshold (float32) and a category in the split's set right; DART trees' leaves carry their weight.
 */
export function xgboostTrees(b: XgbBooster, columns: Columns, offset: number): Tree[] {
  return b.trees.map(({ group, weight, tree }) => {
    const out: Tree = { target: offset + group, column: [], value: [], left: [], right: [], missingLeft: [], categories: [] };
    // Depth-first from the root, so deleted nodes (legacy pruning) are left out and indices are compact.
    const visit = (node: number, depth: number): number => {
      if (depth > 256 || node < 0 || node >= tree.left.length) throw new TreeModelError(`a tree refers to node ${node}, which it does not have (or is deeper than 256)`);
      const id = out.column.length;
      out.column.push(-1);
      out.value.push(0);
      out.left.push(-1);
      out.right.push(-1);
      out.missingLeft.push(false);
      out.categories.push(undefined);
      if (tree.left[node] < 0) {
        // float32 multiply, as DART's prediction does (w * leaf).
        out.value[id] = weight === 1 ? tree.cond[node] : Math.fround(tree.cond[node] * weight);
        return id;
      }
      const cats = tree.categorical?.get(node);
      out.column[id] = cats ? columns.derive(tree.feature[node], 'floor') : tree.feature[node];
      out.value[id] = cats ? 0 : tree.cond[node];
      out.missingLeft[id] = tree.defaultLeft[node] !== 0;
      out.categories[id] = cats;
      out.left[id] = visit(tree.left[node], depth + 1);
      out.right[id] = visit(tree.right[node], depth + 1);
      return id;
    };
    visit(0, 0);
    return out;
  });
}
