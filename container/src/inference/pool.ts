// The worker-process side of inference: a piscina pool of model threads, readiness, timeouts and overload.
import * as path from 'node:path';
import { Piscina } from 'piscina';
import { ServerError, type WireError } from '../errors';
import type { Logger } from '../logger';
import type { InvokeResult, InvokeTask, ModelDescription, ThreadEvent, ThreadInit } from './protocol';

export interface PoolOptions {
  init: ThreadInit;
  threads: number;
  maxQueue: number;
  timeoutMs: number;
  logger: Logger;
}

// Threads run compiled JavaScript (jest's transform does not reach worker threads), so from the TypeScript
// sources this points at the build output.
const THREAD_FILE = __filename.endsWith('.ts')
  ? path.resolve(__dirname, '../../dist/inference/thread.js')
  : path.join(__dirname, 'thread.js');

export class InferencePool {
  private readonly pool: Piscina;
  private readonly readyThreads = new Set<number>();
  private readonly whenReady: Promise<ModelDescription>;
  private settle!: { resolve: (m: ModelDescription) => void; reject: (e: ServerError) => void };
  private initialised = false;

  constructor(private readonly options: PoolOptions) {
    this.whenReady = new Promise((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    this.pool = new Piscina({
      filename: THREAD_FILE,
      workerData: options.init,
      minThreads: options.threads,
      maxThreads: options.threads,
      maxQueue: options.maxQueue,
      idleTimeout: 2 ** 31 - 1,
      concurrentTasksPerWorker: 1,
    });
    this.pool.on('message', (event: ThreadEvent) => this.onThreadEvent(event));
    this.pool.on('error', (err: Error) => {
      // A thread died outside a task; piscina replaces it. Before readiness this is a start-up failure.
      if (!this.initialised) this.settle.reject(new ServerError('MODEL_INVALID', `an inference thread failed while loading the model: ${err.message}`));
      else options.logger.error({ err: err.message }, 'inference thread failed outside a request; replaced');
    });
  }

  private onThreadEvent(event: ThreadEvent): void {
    if (event.type === 'thread-load-failed') {
      if (!this.initialised) this.settle.reject(new ServerError(event.error.code, event.error.message));
      else this.options.logger.error({ error: event.error }, 'a replacement inference thread failed to load the model');
      return;
    }
    this.readyThreads.add(event.threadId);
    if (this.initialised) {
      this.options.logger.info({ threadId: event.threadId, loadMs: event.loadMs }, 'replacement inference thread loaded and warmed the model');
    } else if (this.readyThreads.size >= this.options.threads) {
      this.initialised = true;
      this.settle.resolve(event.model);
    }
  }

  /** Resolves once every thread has loaded and warmed the model; rejects with the first load failure. */
  ready(): Promise<ModelDescription> {
    return this.whenReady;
  }

  /**
   * Runs one invocation. Past the timeout the caller gets TIMEOUT at once; a task still queued is dropped
   * and a running one has its thread terminated and replaced (onnxruntime cannot be interrupted mid-run).
   */
  async invoke(task: InvokeTask): Promise<InvokeResult> {
    const signal = AbortSignal.timeout(this.options.timeoutMs);
    try {
      return (await this.pool.run(task, { signal, transferList: [task.body.buffer as ArrayBuffer] })) as InvokeResult;
    } catch (err) {
      const e = err as Error;
      if (e.name === 'AbortError' || signal.aborted) {
        return { ok: false, error: timeoutError(this.options.timeoutMs) };
      }
      if (/queue is at limit/i.test(e.message)) {
        return { ok: false, error: { code: 'OVERLOADED', message: `more than ${this.options.maxQueue} invocations are waiting for a thread in this worker (MODEL_SERVER_MAX_QUEUE); retry later` } };
      }
      return { ok: false, error: { code: 'INTERNAL_ERROR', message: 'the inference thread failed; see the server log' }, detail: e.stack ?? e.message };
    }
  }

  /** Threads and queue, for the execution parameters and logs. */
  get stats(): { threads: number; queued: number; completed: number } {
    return { threads: this.pool.threads.length, queued: this.pool.queueSize, completed: this.pool.completed };
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}

function timeoutError(ms: number): WireError {
  return { code: 'TIMEOUT', message: `the invocation took longer than MODEL_SERVER_TIMEOUT=${ms / 1000} s and was stopped` };
}
