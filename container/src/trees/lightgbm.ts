// LightGBM's text model format (save_model, LightGBM 3 and 4): a header of key=value lines (objective,
// classes, features), then one "Tree=" block per tree with its splits as space-separated arrays, read into
// ensemble trees. LightGBM sends x left when x <= threshold (double), a category in the split's bitset
// left; decision_type says, per split, categorical (bit 1), default left (bit 2) and the missing type
// (bits 3-4: none, zero, NaN), which decides where NaN and zero go.
import { Columns, type Tree } from './ensemble';
import { lightgbmObjective, type Objective } from './objectives';
import { TreeModelError } from './xgboost';

export interface LgbBooster {
  objective: Objective;
  features: number;
  groups: number;
  featureNames?: string[];
  version: string;
  trees: Tree[];
  derived: Columns;
  iterations: number;
  averageOutput: boolean;
}

/** Whether text starts like a LightGBM model file. */
export function looksLikeLightgbm(head: string): boolean {
  return /^tree\r?\nversion=v[0-9]/.test(head);
}

function keyValues(lines: string[], from: number, to: number): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = from; i < to; i++) {
    const eq = lines[i].indexOf('=');
    if (eq > 0) out.set(lines[i].slice(0, eq), lines[i].slice(eq + 1));
  }
  return out;
}

export function readLightgbm(text: string): LgbBooster {
  const lines = text.split(/\r?\n/);
  const firstTree = lines.findIndex((l) => l.startsWith('Tree='));
  const header = keyValues(lines, 0, firstTree < 0 ? lines.length : firstTree);
  const version = header.get('version') ?? '?';
  const objectiveLine = header.get('objective');
  if (!objectiveLine) throw new TreeModelError('the header has no objective= line (a custom objective cannot be served: its output transform is not in the file)');
  const objective = lightgbmObjective(objectiveLine);
  if (!objective) throw new TreeModelError(`objective "${objectiveLine}" is not one the server predicts (binary, multiclass, multiclassova, regression, regression_l1, huber, fair, quantile, mape, poisson, gamma, tweedie, cross_entropy, lambdarank)`);
  const features = Number(header.get('max_feature_idx')) + 1;
  const groups = Number(header.get('num_tree_per_iteration') ?? header.get('num_class') ?? 1);
  if (!Number.isInteger(features) || features <= 0 || !Number.isInteger(groups) || groups <= 0) throw new TreeModelError('the header has no valid max_feature_idx or num_tree_per_iteration');
  if (header.has('linear_tree') && header.get('linear_tree') !== '0') throw new TreeModelError('it has linear trees (linear_tree=true), which the server does not serve');
  const names = header.get('feature_names')?.split(' ');
  const columns = new Columns(features);
  const trees: Tree[] = [];
  if (firstTree >= 0) {
    let start = firstTree;
    while (start < lines.length && lines[start].startsWith('Tree=')) {
      let end = start + 1;
      while (end < lines.length && lines[end] !== '' && !lines[end].startsWith('Tree=')) end += 1;
      const index = Number(lines[start].slice(5));
      trees.push(readTree(keyValues(lines, start + 1, end), index, index % groups, features, columns));
      while (end < lines.length && lines[end] === '') end += 1;
      start = end;
    }
  }
  if (trees.length === 0) throw new TreeModelError('it holds no trees');
  return {
    objective,
    features,
    groups,
    ...(names && names.length === features ? { featureNames: names } : {}),
    version,
    trees,
    derived: columns,
    iterations: Math.floor(trees.length / groups),
    averageOutput: header.has('average_output'),
  };
}

function numbers(block: Map<string, string>, key: string, count: number, tree: number): number[] {
  const raw = block.get(key);
  if (raw === undefined) throw new TreeModelError(`tree ${tree} has no ${key}`);
  // LightGBM prints the infinities and NaN as C does: inf, -inf, nan.
  const values = raw.trim() === '' ? [] : raw.trim().split(' ').map((t) => (t === 'inf' ? Infinity : t === '-inf' ? -Infinity : t === 'nan' || t === '-nan' ? NaN : Number(t)));
  if (values.length !== count) throw new TreeModelError(`tree ${tree}: ${key} has ${values.length} values, expected ${count}`);
  const bad = raw.trim().split(' ').find((t, i) => Number.isNaN(values[i]) && !/^-?nan$/.test(t));
  if (bad !== undefined) throw new TreeModelError(`tree ${tree}: ${key} holds ${JSON.stringify(bad.slice(0, 30))}, which is not a number`);
  return values;
}

function readTree(block: Map<string, string>, index: number, target: number, features: number, columns: Columns): Tree {
  const leaves = Number(block.get('num_leaves'));
  if (!Number.isInteger(leaves) || leaves < 1) throw new TreeModelError(`tree ${index} has no valid num_leaves`);
  if (block.get('is_linear') === '1') throw new TreeModelError(`tree ${index} is a linear tree (linear_tree=true), which the server does not serve`);
  const leafValue = numbers(block, 'leaf_value', leaves, index);
  const out: Tree = { target, column: [], value: [], left: [], right: [], missingLeft: [], categories: [] };
  const add = (column: number, value: number): number => {
    out.column.push(column);
    out.value.push(value);
    out.left.push(-1);
    out.right.push(-1);
    out.missingLeft.push(false);
    out.categories.push(undefined);
    return out.column.length - 1;
  };
  if (leaves === 1) {
    add(-1, leafValue[0]);
    return out;
  }
  const splits = leaves - 1;
  const feature = numbers(block, 'split_feature', splits, index);
  const threshold = numbers(block, 'threshold', splits, index);
  const decision = numbers(block, 'decision_type', splits, index);
  const left = numbers(block, 'left_child', splits, index);
  const right = numbers(block, 'right_child', splits, index);
  const numCat = Number(block.get('num_cat') ?? 0);
  const boundaries = numCat > 0 ? numbers(block, 'cat_boundaries', numCat + 1, index) : [];
  const words = numCat > 0 ? (block.get('cat_threshold') ?? '').trim().split(' ').map(Number) : [];
  const visit = (child: number, depth: number): number => {
    if (depth > 1024) throw new TreeModelError(`tree ${index} is deeper than 1024`);
    if (child < 0) {
      const leaf = ~child;
      if (leaf >= leaves) throw new TreeModelError(`tree ${index} refers to leaf ${leaf} of ${leaves}`);
      return add(-1, leafValue[leaf]);
    }
    if (child >= splits) throw new TreeModelError(`tree ${index} refers to split ${child} of ${splits}`);
    const f = feature[child];
    if (!Number.isInteger(f) || f < 0 || f >= features) throw new TreeModelError(`tree ${index} splits on feature ${f}, but the model has ${features}`);
    const type = decision[child];
    const defaultLeft = (type & 2) !== 0;
    const missing = (type >> 2) & 3;
    const id = add(f, 0);
    if (type & 1) {
      // Categorical: the bitset of words [boundaries[k], boundaries[k+1]) holds the categories going left.
      const k = threshold[child];
      const cats: number[] = [];
      for (let w = boundaries[k]; w < boundaries[k + 1]; w++) for (let bit = 0; bit < 32; bit++) if ((words[w] >>> bit) & 1) cats.push((w - boundaries[k]) * 32 + bit);
      out.column[id] = columns.derive(f, 'trunc');
      out.categories[id] = cats;
      // LightGBM sends NaN right whatever the split says.
      out.missingLeft[id] = false;
    } else {
      out.value[id] = threshold[child];
      if (missing === 2) out.missingLeft[id] = defaultLeft;
      else if (missing === 1) {
        // Zero (and NaN, which LightGBM reads as zero) takes the default direction.
        out.column[id] = columns.derive(f, 'zero-as-missing');
        out.missingLeft[id] = defaultLeft;
      } else {
        // No missing type: NaN is read as 0.
        out.missingLeft[id] = 0 <= threshold[child];
      }
    }
    out.left[id] = visit(left[child], depth + 1);
    out.right[id] = visit(right[child], depth + 1);
    return id;
  };
  visit(0, 0);
  return out;
}
