// The worker-process side of an ONNX model: OnnxModel (the Model seam the edge talks to) over a piscina
// pool of inference threads, with readiness, timeouts, overload and opportunistic batching.
//
// Why the pool queues tasks itself: onnxruntime cannot be interrupted, and terminating a thread while its
// session.run is in native code aborts the whole process when the run returns (measured with
// onnxruntime-node 1.30). So a timed-out invocation is answered 504 at its deadline but its thread is left
// to finish; the pool counts it as stuck and lets piscina start a fresh thread (which loads and warms the
// model) in its place. When the stuck run ends, its now-spare thread is retired once idle, which is safe.
import * as path from 'node:path';
import { Piscina } from 'piscina';
import { mediaTypes } from '../codecs/registry';
import { ServerError, type WireError } from '../errors';
import type { Logger } from '../logger';
import type { Answer, Invocation, Model, ModelSpec } from '../models/model';
import type { Receipt, ReceiptBook } from '../receipts';
import type { BodyMemory } from '../shared-bodies';
import type { ModelDescription } from '../vocabulary';
import { inlineRefusal, InlineRunner, invocationBytes } from './inline';
import { claimForStop } from './native-guard';
import { SMALL, type Task, type ThreadEvent, type ThreadInit, type ThreadModel, type ThreadTask } from './protocol';

export interface PoolOptions {
  init: ThreadInit;
  threads: number;
  maxQueue: number;
  timeoutMs: number;
  /** Most queued invocations a free thread takes at once (one ONNX call for their rows); 1 = no batching. */
  maxBatch: number;
  /** The worker's shared body slots: the pool gives a body's slot back once no thread can read it. */
  bodies?: BodyMemory;
  /** The worker's receipts: an invocation handed to a thread may have run, and another worker must know it. */
  receipts?: ReceiptBook;
  /** MODEL_SERVER_INLINE: small batches of a model that allows it run on the worker's own thread (inline.ts). */
  inline: boolean;
  logger: Logger;
}

// Threads run compiled JavaScript (jest's transform does not reach worker threads), so from the TypeScript
// sources this points at the build output.
const THREAD_FILE = __filename.endsWith('.ts')
  ? path.resolve(__dirname, '../../dist/inference/thread.js')
  : path.join(__dirname, 'thread.js');

/** Spare threads retire after this long idle (only threads started to replace stuck ones exceed the minimum). */
const SPARE_IDLE_MS = 5_000;

interface Pending {
  task: Invocation;
  resolve: (r: Answer) => void;
  timer: NodeJS.Timeout;
  started: number;
  state: 'queued' | 'running' | 'abandoned' | 'done';
  batch?: Batch;
}

/** Invocations run together, on a thread (which it holds until every one is done) or on the worker's own. */
interface Batch {
  entries: Pending[];
  /** Run on the worker's own thread (inline.ts): nothing to replace when it overruns. */
  inline?: boolean;
  /** Its invocations' counted bytes (inline.ts), from which the model's cost is learnt. */
  bytes: number;
  /** When a thread took it (performance.now()): the end of its invocations' queue wait. */
  started: number;
  abandoned: number;
  /** Counted in `stuck`: every invocation timed out while the thread is inside onnxruntime. */
  stuck?: boolean;
  /** Models with code: the thread's native-run flag, and the way to stop the thread (see native-guard.ts). */
  guard?: { flag: Int32Array; stop: AbortController };
}

export class InferencePool {
  private readonly pool: Piscina;
  private readonly readyThreads = new Set<number>();
  private readonly failures: WireError[] = [];
  private readonly whenSettled: Promise<ThreadModel>;
  private readonly whenReady: Promise<ThreadModel>;
  private settle!: { resolve: (m: ThreadModel) => void; reject: (e: ServerError) => void };
  private initialised = false;
  private readonly queue: Pending[] = [];
  private running = 0;
  private stuck = 0;
  /** A pump is due at the next turn of the event loop (see invoke). */
  private pumpScheduled = false;
  /** The model has inference code: a timed-out thread outside onnxruntime is stopped, and batching needs its consent. */
  private guarded = false;
  private maxBatch: number;
  /** The model's session on the worker's own thread, for small batches (see inline.ts). */
  private inline?: InlineRunner;

  constructor(private readonly options: PoolOptions) {
    this.whenSettled = new Promise((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    this.whenSettled.catch(() => undefined);
    this.whenReady = this.whenSettled.then((model) => this.loadInline(model));
    this.whenReady.catch(() => undefined);
    this.maxBatch = options.maxBatch;
    this.pool = new Piscina({
      filename: THREAD_FILE,
      workerData: options.init,
      minThreads: options.threads,
      // Room for one replacement per thread while stuck runs finish; beyond that, invocations wait.
      maxThreads: options.threads * 2,
      idleTimeout: SPARE_IDLE_MS,
      concurrentTasksPerWorker: 1,
      // Per-task run/wait histograms cost time on every invocation and nothing reads them.
      recordTiming: false,
    });
    this.pool.on('message', (event: ThreadEvent) => this.onThreadEvent(event));
    this.pool.on('error', (err: Error) => {
      // A thread died outside a task; piscina replaces it. Before readiness this is a start-up failure.
      if (!this.initialised) this.onThreadEvent({ type: 'thread-load-failed', threadId: -1, error: { code: 'MODEL_INVALID', message: `an inference thread failed while loading the model: ${err.message}` } });
      else options.logger.error({ err: err.message }, 'inference thread failed outside a request; replaced');
    });
  }

  private onThreadEvent(event: ThreadEvent): void {
    if (event.type === 'code-fault') {
      this.options.logger.error({ threadId: event.threadId, detail: event.detail }, event.message);
      return;
    }
    if (this.initialised) {
      if (event.type === 'thread-load-failed') this.options.logger.error({ error: event.error }, 'a replacement inference thread failed to load the model');
      else this.options.logger.info({ threadId: event.threadId, loadMs: event.loadMs }, 'replacement inference thread loaded and warmed the model');
      return;
    }
    if (event.type === 'thread-load-failed') this.failures.push(event.error);
    else this.readyThreads.add(event.threadId);
    // Settle only when every thread has reported: tearing threads down while onnxruntime is still inside a
    // native call aborts the whole process.
    if (this.readyThreads.size + this.failures.length < this.options.threads) return;
    this.initialised = true;
    if (this.failures.length > 0) this.settle.reject(new ServerError(this.failures[0].code, this.failures[0].message));
    else if (event.type === 'thread-ready') {
      const code = event.model.code;
      if (code) {
        this.guarded = true;
        // Hooks run for one request at a time unless the module says they may share a run.
        if (!code.batchSafe) this.maxBatch = 1;
      }
      this.settle.resolve(event.model);
    }
  }

  /** Resolves once every thread has loaded and warmed the model; rejects with the first load failure. */
  ready(): Promise<ThreadModel> {
    return this.whenReady;
  }

  /** Loads the model's session on this thread too when it may run small batches here; the threads serve it anyway. */
  private async loadInline(model: ThreadModel): Promise<ThreadModel> {
    const { init, logger } = this.options;
    if (!this.options.inline) return model;
    try {
      const refusal = inlineRefusal(init, model);
      if (refusal) {
        logger.debug({ reason: refusal }, 'the model runs on its inference threads only');
        return model;
      }
      const started = performance.now();
      this.inline = await InlineRunner.load(init);
      logger.debug({ loadMs: Math.round(performance.now() - started) }, "small batches of the model run on the worker's own thread");
    } catch (err) {
      logger.warn({ err: (err as Error).message }, "the model could not load on the worker's own thread; it runs on its inference threads only");
    }
    return model;
  }

  /** Gives a body's shared slot back (a body of its own is simply dropped). */
  private release(task: Invocation): void {
    if (task.input.kind === 'body') this.options.bodies?.release(task.input.body);
  }

  /**
   * Runs one invocation, answering TIMEOUT at the deadline whatever the thread is doing. `whenGone` gets
   * the way to drop it while it still waits for a thread (the caller went away).
   */
  invoke(task: Invocation, whenGone?: (drop: () => void) => void): Promise<Answer> {
    return new Promise((resolve) => {
      const entry: Pending = { task, resolve, timer: undefined as never, started: performance.now(), state: 'queued' };
      entry.timer = setTimeout(() => this.onDeadline(entry), this.options.timeoutMs);
      // Invocations a free thread takes at the next turn are not waiting for one: only the rest count.
      const free = Math.max(0, this.options.threads - (this.running - this.stuck));
      if (this.queue.length >= this.options.maxQueue + free * this.maxBatch) {
        clearTimeout(entry.timer);
        entry.state = 'done';
        this.release(task);
        resolve({ ok: false, error: { code: 'OVERLOADED', message: `${this.queue.length - free * this.maxBatch} invocations are already waiting for a thread in this worker (MODEL_SERVER_MAX_QUEUE=${this.options.maxQueue}); retry later` } });
        return;
      }
      this.queue.push(entry);
      whenGone?.(() => this.drop(entry, { code: 'CLIENT_GONE', message: 'the caller closed the connection before the invocation started' }));
      // A free thread takes it after this turn of the event loop, with every invocation that arrived in the
      // same turn: nginx hands over many requests at once, and one hop to the thread for all of them costs
      // far less than one each (waking a thread is the dearest part of a small request). The same holds
      // for one run on the worker's own thread.
      if (this.hasCapacity() || this.inline?.idle) this.pumpSoon();
    });
  }

  private pumpSoon(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** Takes a queued invocation out of the queue, answering it with `error`. */
  private drop(entry: Pending, error: WireError): void {
    if (entry.state !== 'queued') return;
    this.queue.splice(this.queue.indexOf(entry), 1);
    clearTimeout(entry.timer);
    entry.state = 'done';
    this.release(entry.task);
    entry.resolve({ ok: false, error });
  }

  private hasCapacity(): boolean {
    return this.running - this.stuck < this.options.threads;
  }

  /** Marks queued invocations as running together (recording their receipts), with their tasks and deadlines. */
  private begin(entries: Pending[], bytes: number): { batch: Batch; tasks: ThreadTask[] } {
    const now = performance.now();
    const batch: Batch = { entries, abandoned: 0, started: now, bytes };
    const receipts: Receipt[] = [];
    const tasks: ThreadTask[] = entries.map((entry) => {
      entry.state = 'running';
      entry.batch = batch;
      if (entry.task.receipt) receipts.push(entry.task.receipt);
      return { invocation: entry.task, deadline: Date.now() + Math.max(0, this.options.timeoutMs - (now - entry.started)) };
    });
    this.options.receipts?.record(receipts);
    return { batch, tasks };
  }

  /** Runs the small invocations at the front of the queue, up to maxBatch, on the worker's own thread. */
  private startInline(inline: InlineRunner): void {
    const entries: Pending[] = [];
    let bytes = 0;
    while (this.queue.length > 0 && entries.length < this.maxBatch) {
      const more = invocationBytes(this.queue[0].task);
      if (entries.length > 0 && !inline.takes(bytes + more)) break;
      entries.push(this.queue.shift()!);
      bytes += more;
    }
    const { batch, tasks } = this.begin(entries, bytes);
    batch.inline = true;
    inline.run(tasks, bytes).then(
      (answers) => this.finish(batch, answers),
      (err: Error) => this.finish(batch, entries.map(() => ({ ok: false, error: { code: 'INTERNAL_ERROR', message: 'the invocation failed; see the server log' }, detail: err.stack ?? err.message }) as Answer)),
    );
  }

  /**
   * Hands queued invocations to a free thread: everything waiting, up to maxBatch, which the thread runs
   * as one ONNX call per shape (a lone invocation goes alone, one turn of the event loop after it came).
   */
  private startBatch(entries: Pending[]): void {
    // The bytes are for the inline runner's cost estimate only.
    const { batch, tasks } = this.begin(entries, this.inline ? entries.reduce((n, e) => n + invocationBytes(e.task), 0) : 0);
    this.running += 1;
    // Moving a buffer between threads has a fixed cost; below 64 KiB a copy is cheaper. Bodies in shared
    // slots are neither: the thread reads the same memory.
    const transferList: ArrayBuffer[] = [];
    for (const { invocation: { input } } of tasks) {
      if (input.kind === 'body' && input.body.byteLength >= SMALL && !(input.body.buffer instanceof SharedArrayBuffer)) transferList.push(input.body.buffer as ArrayBuffer);
    }
    const task: Task = { tasks };
    let signal: AbortSignal | undefined;
    if (this.guarded) {
      batch.guard = { flag: new Int32Array(new SharedArrayBuffer(4)), stop: new AbortController() };
      task.native = batch.guard.flag;
      signal = batch.guard.stop.signal;
    }
    const failed = this.guarded ? `the inference thread stopped while running model "${this.options.init.name}"'s code; see the server log` : 'the inference thread failed; see the server log';
    this.pool.run(task, { transferList, signal }).then(
      (result) => this.finish(batch, result as Answer[]),
      (err: Error) => this.finish(batch, entries.map(() => ({ ok: false, error: { code: 'INTERNAL_ERROR', message: failed }, detail: err.stack ?? err.message }) as Answer)),
    );
  }

  private finish(batch: Batch, results: Answer[]): void {
    // For the metrics: how long each waited for a thread, how long the run took, and how many shared it.
    const now = performance.now();
    const runMs = now - batch.started;
    if (!batch.inline) {
      this.running -= 1;
      if (batch.bytes > 0) this.inline?.observe(runMs, batch.bytes, true);
    }
    const where = batch.inline ? 'inline' : 'thread';
    for (let i = 0; i < results.length; i++) results[i].timing = { queuedMs: batch.started - batch.entries[i].started, runMs, batch: results.length, where };
    if (batch.stuck) {
      this.stuck -= 1;
      this.options.logger.warn({ invocations: batch.entries.length, ms: Math.round(performance.now() - batch.entries[0].started) }, 'a timed-out invocation has finished; its thread is free again');
    }
    batch.entries.forEach((entry, i) => {
      // The thread is done with every body of the batch, answered or abandoned.
      this.release(entry.task);
      if (entry.state !== 'running') return;
      clearTimeout(entry.timer);
      entry.state = 'done';
      // A run on the worker's own thread held the event loop, so its deadline timer could not fire: a late
      // answer is still the timeout it would have been on a thread.
      if (batch.inline && now - entry.started > this.options.timeoutMs) this.onLate(entry);
      else entry.resolve(results[i]);
    });
    this.pump();
  }

  private onLate(entry: Pending): void {
    this.options.logger.warn({ ms: Math.round(performance.now() - entry.started) }, "an invocation ran past MODEL_SERVER_TIMEOUT on the worker's own thread; the model's next batches of that size go to its inference threads");
    entry.resolve({ ok: false, error: this.timeoutError() });
  }

  private timeoutError(): WireError {
    return { code: 'TIMEOUT', message: `the invocation took longer than MODEL_SERVER_TIMEOUT=${this.options.timeoutMs / 1000} s and was stopped` };
  }

  private onDeadline(entry: Pending): void {
    const error = this.timeoutError();
    if (entry.state === 'queued') return this.drop(entry, error);
    if (entry.state !== 'running' || !entry.batch) return;
    entry.state = 'abandoned';
    entry.resolve({ ok: false, error });
    const batch = entry.batch;
    batch.abandoned += 1;
    // A run on the worker's own thread ends by itself (it could not have been interrupted anyway).
    if (batch.inline) return;
    // The thread is stuck only once nobody waits for any of its invocations: then a fresh one takes its place.
    if (batch.abandoned === batch.entries.length) {
      // Outside onnxruntime (in the model's own code, a loop perhaps) the thread can be stopped at once.
      if (batch.guard && claimForStop(batch.guard.flag)) {
        this.options.logger.warn({ invocations: batch.entries.length }, "an invocation ran past MODEL_SERVER_TIMEOUT in the model's code; its thread was stopped and a fresh one takes its place");
        batch.guard.stop.abort();
        return;
      }
      batch.stuck = true;
      this.stuck += 1;
      this.options.logger.warn({ stuck: this.stuck }, 'invocation timed out while running; a fresh thread takes its place until it finishes');
      this.pump();
    }
  }

  /**
   * Starts what can start: small invocations on the worker's own thread when the model allows it (waiting
   * for the batch running there, as the next one goes with everything that came meanwhile), the rest on
   * free threads, in order of arrival.
   */
  private pump(): void {
    while (this.queue.length > 0) {
      const inline = this.inline;
      if (inline?.takes(invocationBytes(this.queue[0].task))) {
        if (!inline.idle) return;
        this.startInline(inline);
      } else if (this.hasCapacity()) this.startBatch(this.queue.splice(0, this.maxBatch));
      else return;
    }
  }

  /**
   * Stops the threads once none is inside onnxruntime: waits for loading to settle and for running
   * invocations (stuck ones included) up to `waitMs`.
   */
  async close(waitMs = 0): Promise<void> {
    await this.whenSettled.catch(() => undefined);
    const deadline = Date.now() + waitMs;
    while ((this.running > 0 || this.inline?.idle === false) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const entry of [...this.queue]) this.drop(entry, { code: 'NOT_READY', message: 'the server is shutting down' });
    // A run on the worker's own thread cannot be abandoned: its session is freed once it ends.
    await this.whenReady.catch(() => undefined);
    while (this.inline?.idle === false) await new Promise((r) => setTimeout(r, 5));
    const inline = this.inline;
    this.inline = undefined;
    await Promise.all([this.pool.destroy(), inline?.close()]);
  }
}

/** An ONNX model as the edge sees it: its pool, and the media types the built-in codecs read and write for it. */
export interface OnnxModelOptions {
  threads: number;
  intraOpThreads: number;
  outputStyle: ThreadInit['outputStyle'];
  outputKeys: ThreadInit['outputKeys'];
  maxQueue: number;
  maxBatch: number;
  timeoutMs: number;
  bodies?: BodyMemory;
  receipts?: ReceiptBook;
  inline: boolean;
  logger: Logger;
}

/**
 * The media types the model reads and writes: the built-in codecs', unless its code reads the body itself
 * (inputFn, transformFn: any type, or what the module declares) or writes the answer (outputFn, transformFn).
 */
function offer(model: ThreadModel): Pick<ModelDescription, 'consumes' | 'produces' | 'aliases'> {
  const builtin = mediaTypes();
  const code = model.code;
  if (!code) return builtin;
  const has = (h: string) => code.hooks.includes(h as never);
  const consumes = code.consumes ?? (has('inputFn') || has('transformFn') ? ['*/*'] : builtin.consumes);
  const produces = code.produces ?? (has('outputFn') || has('transformFn') ? ['*/*'] : builtin.produces);
  return { consumes, produces, aliases: builtin.aliases };
}

export class OnnxModel implements Model {
  readonly name: string;
  private readonly pool: InferencePool;
  private readonly loaded: Promise<ModelDescription>;
  private description: ModelDescription | undefined;

  constructor(spec: ModelSpec, options: OnnxModelOptions) {
    this.name = spec.name;
    const { threads, intraOpThreads, maxQueue, maxBatch, timeoutMs, bodies, receipts, inline, logger } = options;
    this.pool = new InferencePool({
      init: { name: spec.name, dir: spec.dir, modelFile: spec.modelFile, treeFiles: spec.treeFiles, modelJsonFile: spec.modelJsonFile, codeFile: spec.codeFile, intraOpThreads, outputStyle: options.outputStyle, outputKeys: options.outputKeys },
      threads,
      maxQueue,
      maxBatch,
      timeoutMs,
      bodies,
      receipts,
      inline,
      logger: logger.child({ model: spec.name }),
    });
    this.loaded = this.pool.ready().then((model) => {
      this.description = { ...model, name: spec.name, ...offer(model) };
      return this.description;
    });
    this.loaded.catch(() => undefined);
  }

  ready(): Promise<ModelDescription> {
    return this.loaded;
  }

  describe(): ModelDescription | undefined {
    return this.description;
  }

  invoke(invocation: Invocation, whenGone?: (drop: () => void) => void): Promise<Answer> {
    return this.pool.invoke(invocation, whenGone);
  }

  close(waitMs = 0): Promise<void> {
    return this.pool.close(waitMs);
  }
}
