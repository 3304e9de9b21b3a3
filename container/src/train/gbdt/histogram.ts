// The histogram kernel: sums of gradient and hessian per bin, for the rows of one node, over a range of
// features. The trainer's threads each run it on their own features of every node (histogram-threads.ts), so
// no two threads ever write the same sum and nothing needs adding up afterwards.

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
 * add nothing and are skipped.
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

/** A node's histogram to build: its rows' range and where the histogram lives. */
export interface HistogramJob {
  begin: number;
  end: number;
  /** Index of the arena block and the histogram's offset (in doubles) inside it. */
  block: number;
  base: number;
}

/** The messages main thread and histogram threads exchange (structured-clone safe). */
export type ThreadMessage =
  | { kind: 'data'; bins: Uint16Array | Uint32Array; columns: Uint16Array | Uint32Array; features: number; slot2: Int32Array; gh: Float32Array; rows: Int32Array }
  | { kind: 'block'; block: Float64Array }
  | { kind: 'bin'; x: Float32Array; cuts: { ptr: Int32Array; values: Float32Array; categorical: boolean[]; features: number; min: Float32Array }; from: number; to: number }
  | { kind: 'cuts'; x: Float32Array; rows: number; width: number; features: number[]; maxBin: number; out: Float32Array; sizes: Int32Array; mins: Float32Array }
  | { kind: 'build'; jobs: HistogramJob[]; fromFeature: number; toFeature: number }
  | { kind: 'stop' };

/** Control words: [0] the signal count; per thread: done (the signal it finished), error flag, messages posted to it. */
export const DONE = (slot: number): number => 1 + 3 * slot;
export const FAILED = (slot: number): number => 2 + 3 * slot;
export const POSTED = (slot: number): number => 3 + 3 * slot;
export const controlWords = (threads: number): number => 1 + 3 * threads;
