// The trainer's threads: `nthread - 1` worker threads beside the main thread, which works too. Each call
// hands every thread a share (features for histograms, rows for binning) and returns when all are done.
// Synchronous by design: a round of messages, a shared signal (Atomics), no event loop between them, so a
// tree level costs microseconds of coordination rather than the milliseconds of promise round trips.
import * as path from 'node:path';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { assembleCuts, binRows, featureCuts, type Cuts } from './bins';
import { buildHistogram, controlWords, DONE, FAILED, POSTED, type HistogramData, type HistogramJob, type ThreadMessage } from './histogram';
import type { Table } from './table';

// Threads run compiled JavaScript (jest's transform does not reach worker threads), so from the TypeScript
// sources this points at the build output.
const THREAD_FILE = __filename.endsWith('.ts') ? path.resolve(__dirname, '../../../dist/train/gbdt/histogram-thread.js') : path.join(__dirname, 'histogram-thread.js');

/** Histograms per shared block. */
const BLOCK = 16;
/**
 * Below this many cells (rows × features) a build runs on the main thread alone: waking a thread costs a
 * scheduler round trip (up to milliseconds on a busy machine), more than such a build takes.
 */
const SMALL_BUILD = 1 << 17;

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
  private readonly blocks: Float64Array[] = [];
  private readonly free: Histogram[] = [];
  private signals = 0;
  private data!: HistogramData;
  slots = 0;

  /** `threads` in all, the main thread included. */
  constructor(readonly threads: number) {
    const helpers = Math.max(0, threads - 1);
    this.control = new Int32Array(new SharedArrayBuffer(4 * controlWords(helpers)));
    for (let slot = 0; slot < helpers; slot++) {
      const { port1, port2 } = new MessageChannel();
      const worker = new Worker(THREAD_FILE, { workerData: { port: port2, control: this.control, slot }, transferList: [port2] });
      // A histogram thread never keeps the job alive on its own.
      worker.unref();
      this.workers.push(worker);
      this.ports.push(port1);
      this.posted.push(0);
    }
  }

  /** What histograms are built from (the bins, gradients and row order every thread shares). */
  setData(data: HistogramData, slots: number): void {
    this.data = data;
    this.slots = slots;
    for (let slot = 0; slot < this.workers.length; slot++) this.post(slot, { kind: 'data', bins: data.bins, columns: data.columns, features: data.features, slot2: data.slot2, gh: data.gh, rows: data.rows });
  }

  /** The cuts of a training table, numeric features shared out between the threads. */
  cuts(t: Table, maxBin: number): Cuts {
    const numeric = t.categories.flatMap((c, f) => (c ? [] : [f]));
    const parts = Math.max(1, Math.min(this.workers.length + 1, numeric.length));
    const stride = maxBin + 1;
    const out = new Float32Array(new SharedArrayBuffer(4 * stride * t.features));
    const sizes = new Int32Array(new SharedArrayBuffer(4 * t.features));
    const mins = new Float32Array(new SharedArrayBuffer(4 * t.features));
    const share = (p: number) => numeric.filter((_, i) => i % parts === p);
    for (let p = 1; p < parts; p++) this.post(p - 1, { kind: 'cuts', x: t.x, rows: t.rows, width: t.features, features: share(p), maxBin, out, sizes, mins });
    this.signal(() => {
      const scratch = new Float32Array(t.rows);
      const scratch2 = new Float32Array(t.rows);
      for (const f of share(0)) {
        const c = featureCuts(t.x, t.rows, t.features, f, maxBin, scratch, scratch2);
        out.set(c.values, f * stride);
        sizes[f] = c.values.length;
        mins[f] = c.min;
      }
    });
    return assembleCuts(t, (f) => ({ values: out.subarray(f * stride, f * stride + sizes[f]), min: mins[f] }));
  }

  private post(slot: number, message: ThreadMessage): void {
    this.ports[slot].postMessage(message);
    this.posted[slot] += 1;
  }

  /** Wakes every thread for what was posted to it, runs the main thread's share, and waits until each is done. */
  private signal(ownShare: () => void): void {
    for (let slot = 0; slot < this.workers.length; slot++) Atomics.store(this.control, POSTED(slot), this.posted[slot]);
    this.signals += 1;
    Atomics.store(this.control, 0, this.signals);
    Atomics.notify(this.control, 0);
    ownShare();
    for (let slot = 0; slot < this.workers.length; slot++) {
      for (;;) {
        const done = Atomics.load(this.control, DONE(slot));
        if (done === this.signals) break;
        Atomics.wait(this.control, DONE(slot), done, 1000);
      }
      if (Atomics.load(this.control, FAILED(slot)) !== 0) {
        const report = receiveMessageOnPort(this.ports[slot])?.message as { error?: string } | undefined;
        throw new Error(`a histogram thread failed: ${report?.error ?? 'no report'}`);
      }
    }
  }

  /** A zeroed histogram of every slot (the caller fills it or builds into it). */
  alloc(): Histogram {
    const h = this.free.pop();
    if (h) return h;
    const block = new Float64Array(new SharedArrayBuffer(BLOCK * 2 * this.slots * 8));
    this.blocks.push(block);
    for (let slot = 0; slot < this.workers.length; slot++) this.post(slot, { kind: 'block', block });
    const index = this.blocks.length - 1;
    for (let k = BLOCK - 1; k > 0; k--) this.free.push({ block: index, base: k * 2 * this.slots, data: block });
    return { block: index, base: 0, data: block };
  }

  release(h: Histogram): void {
    this.free.push(h);
  }

  /** Builds the histograms of `jobs` (rows of a node each), every thread on its share of the features. */
  build(jobs: { begin: number; end: number; hist: Histogram }[]): void {
    if (jobs.length === 0) return;
    const F = this.data.features;
    let cells = 0;
    for (const j of jobs) cells += (j.end - j.begin) * F;
    const parts = cells < SMALL_BUILD ? 1 : Math.min(this.workers.length + 1, F);
    const plain: HistogramJob[] = jobs.map((j) => ({ begin: j.begin, end: j.end, block: j.hist.block, base: j.hist.base }));
    const range = (p: number) => [Math.floor((p * F) / parts), Math.floor(((p + 1) * F) / parts)];
    for (let p = 1; p < parts; p++) {
      const [fromFeature, toFeature] = range(p);
      this.post(p - 1, { kind: 'build', jobs: plain, fromFeature, toFeature });
    }
    const own = () => {
      const [fromFeature, toFeature] = range(0);
      for (const j of jobs) buildHistogram(this.data, j.begin, j.end, j.hist.data, j.hist.base, fromFeature, toFeature);
    };
    // Messages already posted (a new block) wait for the next signal; they are read in order.
    if (parts === 1) own();
    else this.signal(own);
  }

  /** Bins every row of `x` into the shared bins, every thread on its share of the rows. */
  bin(cuts: Cuts, x: Float32Array, rows: number): void {
    const parts = this.workers.length + 1;
    const range = (p: number) => [Math.floor((p * rows) / parts), Math.floor(((p + 1) * rows) / parts)];
    for (let p = 1; p < parts; p++) {
      const [from, to] = range(p);
      this.post(p - 1, { kind: 'bin', x, cuts, from, to });
    }
    this.signal(() => {
      const [from, to] = range(0);
      binRows(cuts, this.data.slot2, x, this.data.bins, this.data.columns, from, to);
    });
  }

  /** Stops the threads: each has read the message and leaves its loop when this returns. */
  close(): void {
    for (let slot = 0; slot < this.workers.length; slot++) this.post(slot, { kind: 'stop' });
    if (this.workers.length > 0) this.signal(() => undefined);
  }
}
