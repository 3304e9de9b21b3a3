// An ensemble as an ONNX graph onnxruntime runs: one ai.onnx.ml TreeEnsemble (opset 5), whose thresholds
// and leaf weights are tensors of the input's type (float32 for XGBoost, double for LightGBM) and whose
// BRANCH_MEMBER splits test categories, preceded by the derived columns splits need (ensemble.ts). The
// output is the margin, [N, targets]. Each output's bias is a first one-leaf tree, so the sum runs in the
// library's own order (bias, then tree by tree): onnxruntime adds trees in order, in the input's precision.
import { GraphBuilder, attr, serializeModel } from '../onnx/writer';
import type { Derivation, Ensemble } from './ensemble';

const MODE = { LEQ: 0, LT: 1, MEMBER: 6 } as const;

export const INPUT = 'input';
export const MARGIN = 'margin';
/** Not in the graph: the library's predict output, which the session computes from the margins for tensor callers. */
export const PREDICTION = 'prediction';

/** The input with derived columns appended: Gather each kind's sources, transform, Concat. */
function withDerivedColumns(g: GraphBuilder, e: Ensemble, elem: 'FLOAT' | 'DOUBLE', input: string): string {
  if (e.derived.length === 0) return input;
  const parts = [input];
  const kinds: Derivation[] = ['floor', 'trunc', 'zero-as-missing'];
  // Columns are appended in the ensemble's order; each kind's columns must then be contiguous in it.
  const order = kinds.flatMap((how) => e.derived.map((d, i) => ({ ...d, i })).filter((d) => d.how === how));
  if (order.some((d, k) => d.i !== k)) throw new Error('derived columns must be grouped by kind');
  for (const how of kinds) {
    const sources = e.derived.filter((d) => d.how === how).map((d) => d.source);
    if (sources.length === 0) continue;
    const indices = g.constant('sources', 'INT64', [sources.length], sources);
    const x = g.node('Gather', [input, indices], { axis: attr.int(1) });
    let y: string;
    if (how === 'floor') y = g.node('Floor', [x]);
    else if (how === 'trunc') y = g.node('Mul', [g.node('Sign', [x]), g.node('Floor', [g.node('Abs', [x])])]);
    else {
      // LightGBM's kZeroThreshold is the float 1e-35f.
      const tiny = g.constant('zero_threshold', elem, [], [Math.fround(1e-35)]);
      const nan = g.constant('nan', elem, [], [NaN]);
      y = g.node('Where', [g.node('LessOrEqual', [g.node('Abs', [x]), tiny]), nan, x]);
    }
    parts.push(y);
  }
  return g.node('Concat', parts, { axis: attr.int(1) });
}

/** Derived columns sorted by kind, so that withDerivedColumns can build them kind by kind. */
export function groupDerived(e: Ensemble): Ensemble {
  const kinds: Derivation[] = ['floor', 'trunc', 'zero-as-missing'];
  const order = kinds.flatMap((how) => e.derived.map((d, i) => ({ d, i })).filter(({ d }) => d.how === how));
  if (order.every(({ i }, k) => i === k)) return e;
  const moved = new Map(order.map(({ i }, k) => [e.features + i, e.features + k]));
  return {
    ...e,
    derived: order.map(({ d }) => d),
    trees: e.trees.map((t) => ({ ...t, column: t.column.map((c) => moved.get(c) ?? c) })),
  };
}

export function ensembleToOnnx(ensemble: Ensemble, metadata: Record<string, string> = {}): Uint8Array {
  const g = new GraphBuilder('tree_ensemble');
  g.input(INPUT, ensemble.precision === 'float' ? 'FLOAT' : 'DOUBLE', ['N', ensemble.features]);
  addTreeEnsemble(g, ensemble, INPUT, MARGIN);
  g.output(MARGIN, ensemble.precision === 'float' ? 'FLOAT' : 'DOUBLE', ['N', ensemble.targets]);
  return serializeModel(g, { domains: { 'ai.onnx.ml': 5 }, metadata });
}

/**
 * The ensemble's TreeEnsemble node (and the derived columns before it) on `input` [N, features], into
 * `output` [N, targets] (the margins); a graph that goes on from the margins (train's) builds on it.
 */
export function addTreeEnsemble(g: GraphBuilder, ensemble: Ensemble, input: string, output: string): string {
  const e = groupDerived(ensemble);
  const elem = e.precision === 'float' ? 'FLOAT' : 'DOUBLE';
  const Values = e.precision === 'float' ? Float32Array : Float64Array;
  const nodes = { featureids: [] as number[], modes: [] as number[], splits: [] as number[], trueids: [] as number[], trueleafs: [] as number[], falseids: [] as number[], falseleafs: [] as number[], missing: [] as number[] };
  const leaves = { targets: [] as number[], weights: [] as number[] };
  const membership: number[] = [];
  const roots: number[] = [];

  const leaf = (target: number, weight: number): number => {
    leaves.targets.push(target);
    leaves.weights.push(weight);
    return leaves.targets.length - 1;
  };
  // The bias of each output: a root whose both branches reach the same leaf.
  for (let target = 0; target < e.targets; target++) {
    roots.push(nodes.featureids.length);
    const l = leaf(target, e.base[target] ?? 0);
    pushNode(0, MODE.LEQ, 0, l, true, l, true, false);
  }
  function pushNode(feature: number, mode: number, split: number, trueId: number, trueLeaf: boolean, falseId: number, falseLeaf: boolean, missingTrue: boolean): number {
    nodes.featureids.push(feature);
    nodes.modes.push(mode);
    nodes.splits.push(split);
    nodes.trueids.push(trueId);
    nodes.trueleafs.push(trueLeaf ? 1 : 0);
    nodes.falseids.push(falseId);
    nodes.falseleafs.push(falseLeaf ? 1 : 0);
    nodes.missing.push(missingTrue ? 1 : 0);
    return nodes.featureids.length - 1;
  }

  for (const t of e.trees) {
    if (t.column[0] < 0) {
      // A one-leaf tree.
      roots.push(nodes.featureids.length);
      const l = leaf(t.target, t.value[0]);
      pushNode(0, MODE.LEQ, 0, l, true, l, true, false);
      continue;
    }
    // Splits get node ids in depth-first order; children are filled in once they have ids.
    const ids = new Map<number, number>();
    const order: number[] = [];
    const collect = (n: number) => {
      if (t.column[n] < 0) return;
      ids.set(n, order.length + nodes.featureids.length);
      order.push(n);
      collect(t.left[n]);
      collect(t.right[n]);
    };
    collect(0);
    roots.push(nodes.featureids.length);
    const base = nodes.featureids.length;
    for (let k = 0; k < order.length; k++) pushNode(0, 0, 0, 0, false, 0, false, false);
    const target = (child: number): { id: number; leaf: boolean } => (t.column[child] < 0 ? { id: leaf(t.target, t.value[child]), leaf: true } : { id: ids.get(child)!, leaf: false });
    order.forEach((n, k) => {
      const at = base + k;
      const cats = t.categories[n];
      let trueSide = t.left[n];
      let falseSide = t.right[n];
      let missingTrue = t.missingLeft[n];
      nodes.featureids[at] = t.column[n];
      if (cats) {
        const memberRight = e.memberGoes === 'right';
        if (cats.length === 0) {
          // No category goes the member's way: every value goes the other (NaN as the split says).
          const everything = memberRight;
          nodes.modes[at] = everything ? MODE.LEQ : MODE.LT;
          nodes.splits[at] = everything ? Infinity : -Infinity;
        } else {
          nodes.modes[at] = MODE.MEMBER;
          for (const c of cats) membership.push(c);
          membership.push(NaN);
          if (memberRight) {
            trueSide = t.right[n];
            falseSide = t.left[n];
            missingTrue = !t.missingLeft[n];
          }
        }
      } else {
        nodes.modes[at] = e.comparison === 'lt' ? MODE.LT : MODE.LEQ;
        nodes.splits[at] = t.value[n];
      }
      const tr = target(trueSide);
      const fa = target(falseSide);
      nodes.trueids[at] = tr.id;
      nodes.trueleafs[at] = tr.leaf ? 1 : 0;
      nodes.falseids[at] = fa.id;
      nodes.falseleafs[at] = fa.leaf ? 1 : 0;
      nodes.missing[at] = missingTrue ? 1 : 0;
    });
  }

  const x = withDerivedColumns(g, e, elem, input);
  g.node(
    'TreeEnsemble',
    [x],
    {
      aggregate_function: attr.int(1),
      n_targets: attr.int(e.targets),
      post_transform: attr.int(0),
      tree_roots: attr.ints(roots),
      nodes_featureids: attr.ints(nodes.featureids),
      nodes_modes: attr.tensor('UINT8', [nodes.modes.length], nodes.modes),
      nodes_splits: attr.tensor(elem, [nodes.splits.length], Values.from(nodes.splits)),
      nodes_truenodeids: attr.ints(nodes.trueids),
      nodes_trueleafs: attr.ints(nodes.trueleafs),
      nodes_falsenodeids: attr.ints(nodes.falseids),
      nodes_falseleafs: attr.ints(nodes.falseleafs),
      nodes_missing_value_tracks_true: attr.ints(nodes.missing),
      leaf_targetids: attr.ints(leaves.targets),
      leaf_weights: attr.tensor(elem, [leaves.weights.length], Values.from(leaves.weights)),
      ...(membership.length > 0 ? { membership_values: attr.tensor(elem, [membership.length], Values.from(membership)) } : {}),
    },
    { outputs: [output], domain: 'ai.onnx.ml' },
  );
  return output;
}
