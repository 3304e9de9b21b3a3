// Small deterministic tables for the boosted trees, fitted in-process (real histogram threads, which run the
// compiled JavaScript), and a reader of the XGBoost JSON the trainer writes, for tests that look at trees.
import { fitBoosted, type Fitted, type LabelledTable } from '../../container/src/train/gbdt/fit';
import { parseBoostParams } from '../../container/src/train/gbdt/params';
import type { Tree } from '../../container/src/train/gbdt/tree';

/** A deterministic stream of numbers in [0, 1). */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

export interface TableSpec {
  rows: number;
  features: number;
  seed?: number;
  /** Share of cells of feature 1 left missing. */
  missing?: number;
  /** Features that are categorical, with their number of categories (values are codes). */
  categorical?: Record<number, number>;
  /** The label from a row (NaN cells included). */
  label: (x: number[], random: () => number) => number;
}

export function table(spec: TableSpec): LabelledTable {
  const random = lcg(spec.seed ?? 7);
  const F = spec.features;
  const x = new Float32Array(spec.rows * F);
  const labels = new Float32Array(spec.rows);
  for (let r = 0; r < spec.rows; r++) {
    const row: number[] = [];
    for (let f = 0; f < F; f++) {
      const k = spec.categorical?.[f];
      let v = k ? Math.floor(random() * k) : Math.round((random() * 4 - 2) * 1000) / 1000;
      if (f === 1 && spec.missing && random() < spec.missing) v = NaN;
      row.push(v);
      x[r * F + f] = v;
    }
    labels[r] = spec.label(row, random);
  }
  const categories = Array.from({ length: F }, (_, f) => (spec.categorical?.[f] ? Array.from({ length: spec.categorical[f] }, (_, i) => `c${i}`) : undefined));
  return {
    rows: spec.rows,
    features: F,
    names: Array.from({ length: F }, (_, i) => `f${i}`),
    categories,
    x,
    labelNumbers: Float64Array.from(labels),
    labelCodes: new Int32Array(spec.rows).fill(-1),
    labelTexts: [],
    format: 'csv',
    files: [],
    labels,
  };
}

/** A binary problem: an interaction of features 0 and 2, a threshold on 3, noise. */
export const binary = (rows = 2000, seed = 7) =>
  table({ rows, features: 6, seed, label: (x, random) => (x[0] * x[2] + (x[3] > 0.5 ? 1 : -0.5) + (random() - 0.5) * 1.5 > 0 ? 1 : 0) });

/** Fits with XGBoost hyperparameters given as strings, on `threads` threads, logging into `lines`. */
export async function fit(train: LabelledTable, hp: Record<string, string>, validation?: LabelledTable, threads = 2, lines: string[] = []): Promise<Fitted> {
  return fitBoosted(parseBoostParams(hp), train, validation, { threads, log: (l) => lines.push(l) });
}

/** Depth of a tree (a lone leaf: 0). */
export function depth(t: Tree, node = 0): number {
  return t.left[node] < 0 ? 0 : 1 + Math.max(depth(t, t.left[node]), depth(t, t.right[node]));
}

export const leafIds = (t: Tree) => t.left.flatMap((l, n) => (l < 0 ? [n] : []));
export const splitIds = (t: Tree) => t.left.flatMap((l, n) => (l >= 0 ? [n] : []));
/** The nodes at a depth. */
export function nodesAt(t: Tree, d: number): number[] {
  let level = [0];
  for (let i = 0; i < d; i++) level = level.flatMap((n) => (t.left[n] < 0 ? [] : [t.left[n], t.right[n]]));
  return level;
}
