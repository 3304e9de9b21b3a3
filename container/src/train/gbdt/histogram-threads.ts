// The trainer's threads: `nthread - 1` helper threads beside the main thread, which works too. A call
// (histograms of a tree level, binning, cutting) is published as chunks in shared memory; every thread
// claims chunks from one counter until none is left, and the main thread waits only for the chunks a helper
// took. Synchronous by design (Atomics, no event loop), so a tree level costs microseconds of coordination,
// and a helper the busy machine has not scheduled yet costs nothing: the main thread does its chunks.
import * as path from 'node:path';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { assembleCuts, type Cuts } from './bins';
import { CHUNK_INTS, controlWords, Kind, Word, Worksite, type GrowContext, type HistogramData, type ThreadMessage } from './histogram';
import { readSplit, SPLIT_VALUES } from './node-work';
import type { Split, SplitParams } from './split';
import type { Table } from './table';

// Threads run compiled JavaScript (jest's transform does not reach worker threads), so from the TypeScript
// sources this points at the build output.
const THREAD_FILE = __filename.endsWith('.ts') ? path.resolve(__dirname, '../../../dist/train/gbdt/histogram-thread.js') : path.join(__dirname, 'histogram-thread.js');

/** Histograms per shared block. */
const BLOCK = 16;
/** Below this many cells (rows × features) a histogram call runs on the main thread alone (waking a helper costs more). */
const SMALL = 1 << 16;
/** A histogram chunk's cells, at least (smaller ones cost more in per-row overhead than they share). */
const MIN_CHUNK = 1 << 15;

/** A histogram: (gradient, hessian) pairs of every slot, in a block of shared memory. */
export interface Histogram {
  block: number;
  base: number;
  /** The block itself (slots at base .. base + 2·slots). */
  data: Float64Array;
}

export class HistogramThreads {
  private readonly workers: Worker[] = [];
  private readonly ports: MessagePort[] = [];
  private readonly control: Int32Array;
  private readonly posted: number[] = [];
  private readonly site = new Worksite();
  private readonly free: Histogram[] = [];
  private calls = 0;
  private data!: HistogramData;
  slots = 0;

  /** `threads` in all, the main thread included. */
  constructor(readonly threads: number) {
    const helpers = Math.max(0, threads - 1);
    this.control = new Int32Array(new SharedArrayBuffer(4 * controlWords(helpers)));
    for (let slot = 0; slot < helpers; slot++) {
      const { port1, port2 } = new MessageChannel();
      const worker = new Worker(THREAD_FILE, { workerData: { port: port2, control: this.control, slot }, transferList: [port2] });
      // A helper never keeps the job alive on its own.
      worker.unref();
      this.workers.push(worker);
      this.ports.push(port1);
      this.posted.push(0);
    }
  }

  /** Sends a message to every helper (it reads it before its next chunk) and applies it here. */
  private share(message: ThreadMessage): void {
    for (let slot = 0; slot < this.workers.length; slot++) {
      this.ports[slot].postMessage(message);
      this.posted[slot] += 1;
      Atomics.store(this.control, Word.Posted + slot, this.posted[slot]);
    }
    this.site.take(message);
  }

  /** Runs chunks 0..n-1 of the shared table: published to the helpers, claimed by whoever comes first. */
  private call(kind: Kind, n: number): void {
    if (n === 0) return;
    const c = this.control;
    if (this.workers.length === 0 || n === 1) {
      for (let i = 0; i < n; i++) this.site.run(kind, i);
      return;
    }
    this.calls = (this.calls + 1) & 0xfff;
    Atomics.store(c, Word.Total, n);
    Atomics.store(c, Word.Kind, kind);
    Atomics.store(c, Word.Done, 0);
    Atomics.store(c, Word.Claim, this.calls << 20);
    Atomics.add(c, Word.Wake, 1);
    Atomics.notify(c, Word.Wake);
    for (;;) {
      const w = Atomics.load(c, Word.Claim);
      const i = w & 0xfffff;
      if (i >= n) break;
      if (Atomics.compareExchange(c, Word.Claim, w, w + 1) !== w) continue;
      this.site.run(kind, i);
      Atomics.add(c, Word.Done, 1);
    }
    for (let done = Atomics.load(c, Word.Done); done < n; done = Atomics.load(c, Word.Done)) Atomics.wait(c, Word.Done, done, 100);
    if (Atomics.load(c, Word.Failed) !== 0) {
      const report = this.ports.map((p) => receiveMessageOnPort(p)?.message as { error?: string } | undefined).find((m) => m?.error);
      throw new Error(`a trainer thread failed: ${report?.error ?? 'no report'}`);
    }
  }

  /** The shared chunk table, grown (and sent again) when a call needs more rows. */
  private tableFor(n: number): Int32Array {
    if (this.site.table.length < n * CHUNK_INTS) this.share({ kind: 'table', table: new Int32Array(new SharedArrayBuffer(4 * CHUNK_INTS * Math.max(n, 2 * this.site.table.length / CHUNK_INTS, 64))) });
    return this.site.table;
  }

  /** What histograms are built from (the bins, gradients and row order every thread shares). */
  setData(data: HistogramData, slots: number): void {
    this.data = data;
    this.slots = slots;
    this.share({ kind: 'data', ...data });
  }

  /** The cuts of a training table, a feature per chunk. */
  cuts(t: Table, maxBin: number): Cuts {
    const numeric = t.categories.flatMap((c, f) => (c ? [] : [f]));
    const stride = maxBin + 1;
    const out = new Float32Array(new SharedArrayBuffer(4 * stride * t.features));
    const sizes = new Int32Array(new SharedArrayBuffer(4 * t.features));
    const mins = new Float32Array(new SharedArrayBuffer(4 * t.features));
    this.share({ kind: 'context', x: t.x, rows: t.rows, features: t.features, maxBin, out, sizes, mins });
    const table = this.tableFor(numeric.length);
    numeric.forEach((f, i) => (table[i * CHUNK_INTS] = f));
    this.call(Kind.Cuts, numeric.length);
    return assembleCuts(t, (f) => ({ values: out.subarray(f * stride, f * stride + sizes[f]), min: mins[f] }));
  }

  /** Bins every row of `x` into the shared bins, in chunks of rows. */
  bin(cuts: Cuts, x: Float32Array, rows: number): void {
    this.share({ kind: 'context', x, rows, features: cuts.features, cuts, maxBin: 0 });
    const step = Math.max(1024, Math.ceil(rows / (8 * this.threads)));
    const n = Math.ceil(rows / step);
    const table = this.tableFor(n);
    for (let i = 0; i < n; i++) {
      table[i * CHUNK_INTS] = i * step;
      table[i * CHUNK_INTS + 1] = Math.min(rows, (i + 1) * step);
    }
    this.call(Kind.Bin, n);
  }

  /** A histogram of every slot (the call that builds into it zeroes it). */
  alloc(): Histogram {
    const h = this.free.pop();
    if (h) return h;
    const block = new Float64Array(new SharedArrayBuffer(BLOCK * 2 * this.slots * 8));
    this.share({ kind: 'block', block });
    const index = this.site.blocks.length - 1;
    for (let k = BLOCK - 1; k > 0; k--) this.free.push({ block: index, base: k * 2 * this.slots, data: block });
    return { block: index, base: 0, data: block };
  }

  release(h: Histogram): void {
    this.free.push(h);
  }

  /**
   * Builds the histograms of `jobs` (rows of a node each). A node's features are split into chunks in
   * proportion to its rows, so a tree's top levels (few, large nodes) spread over the threads as well as
   * its lower ones (many small nodes).
   */
  build(jobs: { begin: number; end: number; hist: Histogram }[]): void {
    const F = this.data.features;
    let cells = 0;
    for (const j of jobs) cells += (j.end - j.begin) * F;
    const parallel = this.workers.length > 0 && cells >= SMALL;
    // Each chunk re-reads its rows' gradients: a large node is cut in as many pieces as there are threads,
    // no more; many small nodes are a chunk each.
    const target = parallel ? Math.max(MIN_CHUNK, cells / this.threads) : Infinity;
    const pieces = jobs.map((j) => Math.max(1, Math.min(F, Math.floor(((j.end - j.begin) * F) / target))));
    const table = this.tableFor(pieces.reduce((a, b) => a + b, 0));
    let n = 0;
    jobs.forEach((j, k) => {
      for (let p = 0; p < pieces[k]; p++) {
        const at = n * CHUNK_INTS;
        table[at] = j.begin;
        table[at + 1] = j.end;
        table[at + 2] = j.hist.block;
        table[at + 3] = j.hist.base;
        table[at + 4] = Math.floor((p * F) / pieces[k]);
        table[at + 5] = Math.floor(((p + 1) * F) / pieces[k]);
        n++;
      }
    });
    if (parallel) this.call(Kind.Histogram, n);
    else for (let i = 0; i < n; i++) this.site.run(Kind.Histogram, i);
  }

  /** What growing trees shares with the threads: the cuts, the split parameters, buffers for node work. */
  startGrowing(cuts: Cuts, params: SplitParams, maxCats: number): void {
    this.growBuffers(cuts, params, Math.max(1, maxCats), 64);
  }

  private growBuffers(cuts: Cuts, params: SplitParams, maxCats: number, chunks: number): void {
    const shared = <T>(make: (b: SharedArrayBuffer) => T, bytes: number) => make(new SharedArrayBuffer(Math.max(8, bytes)));
    const F = cuts.features;
    const rows = this.data.rows.length;
    const context: GrowContext = {
      cuts,
      params,
      slots: this.slots,
      rowsTotal: rows,
      scratch: this.site.grow?.scratch ?? shared((b) => new Int32Array(b), 4 * rows),
      maxCats,
      featureSets: shared((b) => new Int32Array(b), 4 * 2 * F * chunks),
      stats: shared((b) => new Float64Array(b), 8 * 4 * chunks),
      splits: shared((b) => new Float64Array(b), 8 * 2 * SPLIT_VALUES * chunks),
      catsIn: shared((b) => new Int32Array(b), 4 * maxCats * chunks),
      catsOut: shared((b) => new Int32Array(b), 4 * 2 * maxCats * chunks),
      mids: shared((b) => new Int32Array(b), 4 * chunks),
    };
    this.share({ kind: 'grow', ...context });
  }

  /** The grow buffers, grown (and sent again) when a call has more chunks than they hold. */
  private growFor(chunks: number): GrowContext {
    const g = this.site.grow!;
    if (g.mids.length < chunks) this.growBuffers(g.cuts as Cuts, g.params, g.maxCats, Math.max(chunks, 2 * g.mids.length));
    return this.site.grow!;
  }

  /** Partitions each node's rows by its split (a node per chunk); returns where each right side starts. */
  partition(nodes: { from: number; to: number; split: Split }[]): number[] {
    const g = this.growFor(nodes.length);
    const table = this.tableFor(nodes.length);
    let rows = 0;
    nodes.forEach((node, i) => {
      const at = i * CHUNK_INTS;
      const s = node.split;
      table[at] = node.from;
      table[at + 1] = node.to;
      table[at + 2] = s.feature;
      table[at + 3] = s.bin;
      table[at + 4] = s.defaultLeft ? 1 : 0;
      table[at + 5] = s.categories ? s.categories.length : -1;
      if (s.categories) g.catsIn.set(s.categories, i * g.maxCats);
      rows += node.to - node.from;
    });
    if (rows >= SMALL / 4 && nodes.length > 1) this.call(Kind.Partition, nodes.length);
    else for (let i = 0; i < nodes.length; i++) this.site.run(Kind.Partition, i);
    return Array.from(g.mids.subarray(0, nodes.length));
  }

  /**
   * For each split whose children are to be evaluated: the sibling's histogram (the parent's, minus the
   * built child's, in place) and both children's best splits (a split per chunk).
   */
  children(pairs: { parent: Histogram; built: Histogram; builtIsLeft: boolean; stats: [number, number, number, number]; left: Int32Array; right: Int32Array }[]): [Split, Split][] {
    const g = this.growFor(pairs.length);
    const table = this.tableFor(pairs.length);
    const F = g.cuts.features;
    pairs.forEach((q, i) => {
      const at = i * CHUNK_INTS;
      table[at] = q.parent.block;
      table[at + 1] = q.parent.base;
      table[at + 2] = q.built.block;
      table[at + 3] = q.built.base;
      table[at + 4] = q.builtIsLeft ? 1 : 0;
      table[at + 5] = q.left.length;
      table[at + 6] = q.right.length;
      g.featureSets.set(q.left, 2 * F * i);
      g.featureSets.set(q.right, 2 * F * i + F);
      g.stats.set(q.stats, 4 * i);
    });
    if (pairs.length > 1 && pairs.length * this.slots >= SMALL / 8) this.call(Kind.Children, pairs.length);
    else for (let i = 0; i < pairs.length; i++) this.site.run(Kind.Children, i);
    return pairs.map((q, i) => [
      readSplit(g.splits, 2 * SPLIT_VALUES * i, g.catsOut, 2 * g.maxCats * i, q.stats[0], q.stats[1]),
      readSplit(g.splits, 2 * SPLIT_VALUES * i + SPLIT_VALUES, g.catsOut, 2 * g.maxCats * i + g.maxCats, q.stats[2], q.stats[3]),
    ]);
  }

  /** Stops the helpers (each leaves its loop once it reads the message). */
  close(): void {
    if (this.workers.length === 0) return;
    this.share({ kind: 'stop' });
    Atomics.add(this.control, Word.Wake, 1);
    Atomics.notify(this.control, Word.Wake);
  }
}
