// The work the trainer's threads share, and how they share it: histogram sums of gradient and hessian per
// bin (for the rows of a node, over a range of features), partitioning nodes' rows, evaluating split
// children, binning rows, cutting features. A call is split
// into chunks that never write the same memory (a histogram chunk owns its features of its node), which any
// thread claims from a shared counter: the main thread works through them itself and waits only for the
// chunks another thread actually took, so a thread the machine has not scheduled yet costs nothing.
import { binRows, featureCuts, type Cuts } from './bins';
import { evaluateChildren, partitionRows, SPLIT_VALUES, writeSplit } from './node-work';
import type { SplitParams } from './split';

/** What every thread reads: the bins, the layout, the gradients and the rows of each node. */
export interface HistogramData {
  /** Each cell's histogram slot, row-major. */
  bins: Uint16Array | Uint32Array;
  /** The same, feature-major (binning writes both). */
  columns: Uint16Array | Uint32Array;
  features: number;
  slot2: Int32Array;
  /** Interleaved (gradient, hessian) per row, float32. */
  gh: Float32Array;
  /** Row indices, each node owning a contiguous range. */
  rows: Int32Array;
}

/**
 * Adds rows[begin, end) into `hist` (pairs of doubles) at `base`, for features [fromFeature, toFeature):
 * zeroes those features' slots first. Rows whose gradient and hessian are both 0 (left out by subsample)
 * add nothing and are skipped. Each slot is summed by one call, in row order: the same sums whatever the
 * threads.
 */
export function buildHistogram(d: HistogramData, begin: number, end: number, hist: Float64Array, base: number, fromFeature: number, toFeature: number): void {
  const { bins, features: F, slot2, gh, rows } = d;
  hist.fill(0, base + slot2[fromFeature], base + slot2[toFeature]);
  for (let i = begin; i < end; i++) {
    const r = rows[i];
    const g = gh[2 * r];
    const h = gh[2 * r + 1];
    if (h === 0 && g === 0) continue;
    const at = r * F;
    for (let f = fromFeature; f < toFeature; f++) {
      const s = base + 2 * bins[at + f];
      hist[s] += g;
      hist[s + 1] += h;
    }
  }
}

export const enum Kind {
  Histogram = 1,
  Bin = 2,
  Cuts = 3,
  Partition = 4,
  Children = 5,
}

/**
 * Ints per chunk in the shared table: histogram [begin, end, block, base, fromFeature, toFeature], bin
 * [from, to], cuts [feature], partition [from, to, feature, last bin, default left, categories],
 * children [parent block, parent base, built block, built base, built is left, left features, right features].
 */
export const CHUNK_INTS = 8;

/** What growing a tree shares with the threads (sent once, and again when a buffer grows). */
export interface GrowContext {
  cuts: Pick<Cuts, 'ptr' | 'values' | 'categorical' | 'features' | 'min'>;
  params: SplitParams;
  slots: number;
  rowsTotal: number;
  /** As long as the rows: a node's right side is gathered at its own positions. */
  scratch: Int32Array;
  /** Per chunk: the most categories a split can name (one buffer row each). */
  maxCats: number;
  /** Per children chunk: left then right feature sets, `features` ints each. */
  featureSets: Int32Array;
  /** Per children chunk: left G, left H, right G, right H. */
  stats: Float64Array;
  /** Per children chunk: two splits of SPLIT_VALUES. */
  splits: Float64Array;
  /** Per partition chunk: its categories; per children chunk: two splits' categories. */
  catsIn: Int32Array;
  catsOut: Int32Array;
  /** Per partition chunk: where the right side starts. */
  mids: Int32Array;
}

/** Shared control words. */
export const enum Word {
  /** Bumped (and notified) when a call's chunks are published. */
  Wake = 0,
  /** (call number mod 4096) << 20 | the next chunk to claim. */
  Claim = 1,
  Total = 2,
  Done = 3,
  Kind = 4,
  Failed = 5,
  /** Then, per helper thread: messages posted to it. */
  Posted = 6,
}

export const controlWords = (helpers: number): number => Word.Posted + helpers;

/** What binning and cutting read, sent once before their calls. */
export interface BinContext {
  x: Float32Array;
  rows: number;
  features: number;
  cuts?: Pick<Cuts, 'ptr' | 'values' | 'categorical' | 'features' | 'min'>;
  maxBin: number;
  /** Cuts' output: feature f's values at f·(maxBin+1), their count, its minimum threshold. */
  out?: Float32Array;
  sizes?: Int32Array;
  mins?: Float32Array;
}

/** The messages the main thread posts to a helper (structured-clone safe). */
export type ThreadMessage =
  | ({ kind: 'data' } & HistogramData)
  | { kind: 'block'; block: Float64Array }
  | { kind: 'table'; table: Int32Array }
  | ({ kind: 'context' } & BinContext)
  | ({ kind: 'grow' } & GrowContext)
  | { kind: 'stop' };

/** One thread's view of the shared state, and the one place a chunk is run (on any thread). */
export class Worksite {
  data?: HistogramData;
  context?: BinContext;
  grow?: GrowContext;
  readonly blocks: Float64Array[] = [];
  table: Int32Array = new Int32Array(0);
  private scratch?: Float32Array[];

  run(kind: number, i: number): void {
    const t = this.table;
    const at = i * CHUNK_INTS;
    if (kind === Kind.Histogram) {
      buildHistogram(this.data!, t[at], t[at + 1], this.blocks[t[at + 2]], t[at + 3], t[at + 4], t[at + 5]);
    } else if (kind === Kind.Partition) {
      const g = this.grow!;
      const d = this.data!;
      const cats = t[at + 5] >= 0 ? g.catsIn.subarray(i * g.maxCats, i * g.maxCats + t[at + 5]) : undefined;
      g.mids[i] = partitionRows(g.cuts as Cuts, d.slot2, d.columns, g.rowsTotal, d.rows, g.scratch, t[at], t[at + 1], t[at + 2], t[at + 3], t[at + 4] === 1, cats);
    } else if (kind === Kind.Children) {
      const g = this.grow!;
      const F = g.cuts.features;
      const sets = g.featureSets;
      const [left, right] = evaluateChildren(g.params, g.cuts as Cuts, this.data!.slot2, g.slots, this.blocks[t[at]], t[at + 1], this.blocks[t[at + 2]], t[at + 3], t[at + 4] === 1, g.stats.subarray(4 * i, 4 * i + 4), sets.subarray(2 * F * i, 2 * F * i + t[at + 5]), sets.subarray(2 * F * i + F, 2 * F * i + F + t[at + 6]));
      writeSplit(left, g.splits, 2 * SPLIT_VALUES * i, g.catsOut, 2 * g.maxCats * i);
      writeSplit(right, g.splits, 2 * SPLIT_VALUES * i + SPLIT_VALUES, g.catsOut, 2 * g.maxCats * i + g.maxCats);
    } else if (kind === Kind.Bin) {
      const c = this.context!;
      binRows(c.cuts as Cuts, this.data!.slot2, c.x, this.data!.bins, this.data!.columns, t[at], t[at + 1]);
    } else {
      const c = this.context!;
      if (!this.scratch || this.scratch[0].length < c.rows) this.scratch = [new Float32Array(c.rows), new Float32Array(c.rows)];
      const f = t[at];
      const cut = featureCuts(c.x, c.rows, c.features, f, c.maxBin, this.scratch[0], this.scratch[1]);
      c.out!.set(cut.values, f * (c.maxBin + 1));
      c.sizes![f] = cut.values.length;
      c.mins![f] = cut.min;
    }
  }

  /** Applies a message; false for stop. */
  take(m: ThreadMessage): boolean {
    switch (m.kind) {
      case 'data':
        this.data = m;
        return true;
      case 'block':
        this.blocks.push(m.block);
        return true;
      case 'table':
        this.table = m.table;
        return true;
      case 'context':
        this.context = m;
        return true;
      case 'grow':
        this.grow = m;
        return true;
      case 'stop':
        return false;
    }
  }
}
