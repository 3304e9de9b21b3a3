// Growing one tree from the gradients, as XGBoost 1.7's hist updater does: the root's histogram, then for
// each expansion the smaller child's histogram built from its rows and its sibling's taken by subtraction
// from the parent's; nodes expanded level by level (depthwise) or best gain first (lossguide, max_leaves),
// under max_depth, gamma and the column samples. Training rows are routed by their bins, so each one's leaf
// is known at the end without walking the tree.
import { binCount, type Binned } from './bins';
import type { Histogram, HistogramThreads } from './histogram-threads';
import type { Random } from './random';
import { findSplit, leafWeight, type Split, type SplitParams } from './split';
import { addLeaf, newTree, type Tree } from './tree';

export interface GrowParams extends SplitParams {
  eta: number;
  gamma: number;
  maxDepth: number;
  maxLeaves: number;
  growPolicy: 'depthwise' | 'lossguide';
  colsampleBytree: number;
  colsampleBylevel: number;
  colsampleBynode: number;
}

/** XGBoost's kRtEps: a split must gain more than this. */
const RT_EPS = 1e-6;

/** Feature subsets per tree, level and node (XGBoost's ColumnSampler: shuffle, keep ⌊n·ratio⌋ (at least 1), sort). */
export class ColumnSampler {
  private tree: Int32Array;
  private readonly levels = new Map<number, Int32Array>();

  constructor(private readonly rng: Random, private readonly features: number, private readonly p: GrowParams) {
    this.tree = Int32Array.from({ length: features }, (_, i) => i);
  }

  private sample(from: Int32Array, ratio: number): Int32Array {
    if (ratio === 1) return from;
    const n = Math.max(1, Math.floor(ratio * from.length));
    return this.rng.shuffle(Int32Array.from(from)).subarray(0, n).sort();
  }

  startTree(): void {
    this.levels.clear();
    this.tree = this.sample(Int32Array.from({ length: this.features }, (_, i) => i), this.p.colsampleBytree);
  }

  featureSet(depth: number): Int32Array {
    if (this.p.colsampleBylevel === 1 && this.p.colsampleBynode === 1) return this.tree;
    let level = this.levels.get(depth);
    if (!level) {
      level = this.sample(this.tree, this.p.colsampleBylevel);
      this.levels.set(depth, level);
    }
    return this.p.colsampleBynode === 1 ? level : this.sample(level, this.p.colsampleBynode);
  }
}

interface Entry {
  node: number;
  depth: number;
  split: Split;
}

/** A grown tree and where the training rows ended up: leaf `leaf` holds rows[begin[leaf], end[leaf]). */
export interface Grown {
  tree: Tree;
  begin: number[];
  end: number[];
}

export class TreeGrower {
  constructor(
    private readonly binned: Binned,
    private readonly threads: HistogramThreads,
    /** Shared with the threads: the row order that partitions rows by node. */
    private readonly rows: Int32Array,
    private readonly p: GrowParams,
    private readonly sampler: ColumnSampler,
  ) {
    let widest = 0;
    for (let f = 0; f < binned.features; f++) if (binned.cuts.categorical[f]) widest = Math.max(widest, binCount(binned.cuts, f));
    threads.startGrowing(binned.cuts, p, widest);
  }

  /** Grows a tree on the gradients the threads read (gh). */
  grow(): Grown {
    const p = this.p;
    const t = newTree();
    const begin: number[] = [];
    const end: number[] = [];
    const G: number[] = [];
    const H: number[] = [];
    const hist: (Histogram | undefined)[] = [];
    const rows = this.rows;
    for (let i = 0; i < rows.length; i++) rows[i] = i;
    this.sampler.startTree();

    // The root: its histogram gives its sums (one feature's slots, missing included, hold every row).
    const rootHist = this.threads.alloc();
    this.threads.build([{ begin: 0, end: rows.length, hist: rootHist }]);
    let g0 = 0;
    let h0 = 0;
    const { slot2 } = this.binned;
    for (let s = rootHist.base + slot2[0]; s < rootHist.base + slot2[1]; s += 2) {
      g0 += rootHist.data[s];
      h0 += rootHist.data[s + 1];
    }
    const w0 = leafWeight(p, g0, h0);
    addLeaf(t, 2147483647, Math.fround(Math.fround(w0) * Math.fround(p.eta)), w0, h0);
    begin.push(0);
    end.push(rows.length);
    G.push(g0);
    H.push(h0);
    hist.push(rootHist);

    const queue: Entry[] = [{ node: 0, depth: 0, split: this.evaluate(rootHist, g0, h0, 0) }];
    let numLeaves = 1;
    const better = p.growPolicy === 'lossguide' ? (a: Entry, b: Entry) => a.split.lossChg > b.split.lossChg || (a.split.lossChg === b.split.lossChg && a.node < b.node) : (a: Entry, b: Entry) => a.node < b.node;
    const valid = (e: Entry) =>
      e.split.lossChg > RT_EPS && e.split.leftH !== 0 && e.split.rightH !== 0 && !(e.split.lossChg < p.gamma) && !(p.maxDepth > 0 && e.depth === p.maxDepth) && !(p.maxLeaves > 0 && numLeaves === p.maxLeaves);
    const pop = (): Entry[] => {
      if (queue.length === 0) return [];
      queue.sort((a, b) => (better(a, b) ? -1 : better(b, a) ? 1 : 0));
      if (p.growPolicy === 'lossguide') {
        const e = queue.shift()!;
        if (!valid(e)) return [];
        numLeaves++;
        return [e];
      }
      const level = queue[0].depth;
      const out: Entry[] = [];
      while (queue.length > 0 && queue[0].depth === level) {
        const e = queue.shift()!;
        if (valid(e)) {
          numLeaves++;
          out.push(e);
        }
      }
      return out;
    };
    const childValid = (e: Entry) => !(p.maxDepth > 0 && e.depth + 1 >= p.maxDepth) && !(p.maxLeaves > 0 && numLeaves >= p.maxLeaves);

    for (let expand = pop(); expand.length > 0; expand = pop()) {
      const toEvaluate: Entry[] = [];
      const mids = this.threads.partition(expand.map((e) => ({ from: begin[e.node], to: end[e.node], split: e.split })));
      for (const [k, e] of expand.entries()) {
        const s = e.split;
        const n = e.node;
        const wl = leafWeight(p, s.leftG, s.leftH);
        const wr = leafWeight(p, s.rightG, s.rightH);
        t.baseWeight[n] = Math.fround(leafWeight(p, s.leftG + s.rightG, s.leftH + s.rightH));
        const l = addLeaf(t, n, Math.fround(Math.fround(wl) * Math.fround(p.eta)), wl, s.leftH);
        const r = addLeaf(t, n, Math.fround(Math.fround(wr) * Math.fround(p.eta)), wr, s.rightH);
        t.left[n] = l;
        t.right[n] = r;
        t.feature[n] = s.feature;
        t.value[n] = s.categories ? NaN : s.threshold;
        t.bin[n] = s.bin;
        t.defaultLeft[n] = s.defaultLeft;
        t.categories[n] = s.categories;
        t.lossChg[n] = s.lossChg;
        const mid = mids[k];
        begin.push(begin[n], mid);
        end.push(mid, end[n]);
        G.push(s.leftG, s.rightG);
        H.push(s.leftH, s.rightH);
        hist.push(undefined, undefined);
        if (childValid(e)) toEvaluate.push(e);
      }
      // The smaller child (by hessian, as XGBoost) is built; its sibling is the parent minus it, in place.
      const jobs: { begin: number; end: number; hist: Histogram }[] = [];
      for (const e of toEvaluate) {
        const l = t.left[e.node];
        const r = t.right[e.node];
        const build = e.split.rightH < e.split.leftH ? r : l;
        const h = this.threads.alloc();
        hist[build] = h;
        jobs.push({ begin: begin[build], end: end[build], hist: h });
      }
      this.threads.build(jobs);
      // Feature sets are drawn here, node by node in XGBoost's order (left child, then right), so the column
      // sampler's random numbers do not depend on which thread evaluates which node.
      const pairs = toEvaluate.map((e) => {
        const l = t.left[e.node];
        const r = t.right[e.node];
        const builtIsLeft = hist[l] !== undefined;
        const built = builtIsLeft ? hist[l]! : hist[r]!;
        const parent = hist[e.node]!;
        hist[builtIsLeft ? r : l] = parent;
        hist[e.node] = undefined;
        return { parent, built, builtIsLeft, stats: [G[l], H[l], G[r], H[r]] as [number, number, number, number], left: this.sampler.featureSet(e.depth + 1), right: this.sampler.featureSet(e.depth + 1) };
      });
      const splits = this.threads.children(pairs);
      toEvaluate.forEach((e, k) => {
        const [ls, rs] = splits[k];
        if (ls.lossChg > RT_EPS) queue.push({ node: t.left[e.node], depth: e.depth + 1, split: ls });
        if (rs.lossChg > RT_EPS) queue.push({ node: t.right[e.node], depth: e.depth + 1, split: rs });
      });
    }
    for (const h of hist) if (h) this.threads.release(h);
    return { tree: t, begin, end };
  }

  private evaluate(h: Histogram, g: number, hs: number, depth: number): Split {
    return findSplit(this.p, this.binned.cuts, this.binned.slot2, h.data, h.base, g, hs, this.sampler.featureSet(depth));
  }
}
