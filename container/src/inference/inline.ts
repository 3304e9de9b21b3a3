// Small runs on the worker's own thread. For a tabular model without code whose run is a few
// microseconds, the hop to an inference thread and back (posting the task, waking the thread, posting
// the answer, waking the worker) costs several times the run itself: the profile of the example model put
// it at 35-37% of a worker's CPU. So the pool keeps a second session of such a model on the worker's main
// thread and runs small batches there, and everything else on the threads as before.
//
// What keeps this safe, since a run on the main thread cannot be abandoned at MODEL_SERVER_TIMEOUT:
// - only tabular models without code (a fixed number of columns; no user code that could loop), of at
//   most 16 MB (tree ensembles 2 MB: vocabulary.ts, inlineSizeRefusal), whose graph has no control flow
//   (Loop, Scan, If);
// - only batches of at most INLINE_BODY_BYTES of bodies (named-field GETs count as one row);
// - only while the model's measured cost says the batch will take at most INLINE_BUDGET_MS: each run here
//   and on the threads updates a cost per body byte, so a model that turns out slow (or a machine that
//   turns busy) goes back to the threads by itself;
// - one batch at a time: while one runs, what arrives waits and goes with the next batch.
import * as fs from 'node:fs';
import type { Answer, Invocation } from '../models/model';
import { readModelMetadata } from '../onnx/reader';
import { resolveModelFile } from '../paths';
import { Pipeline } from './pipeline';
import type { ThreadInit, ThreadModel, ThreadTask } from './protocol';
import { inlineSizeRefusal } from '../vocabulary';
import { OnnxSession } from './session';

/** A batch whose bodies exceed this goes to a thread. */
const INLINE_BODY_BYTES = 64 * 1024;
/**
 * The longest a batch may be expected to take on the worker's thread. The measure is the time from the
 * batch's start to its end, which also holds whatever the event loop did while onnxruntime's run waited
 * for its turn (about a millisecond at 40 connections), hence a budget well above a small model's run.
 */
const INLINE_BUDGET_MS = 10;
/** A request's fixed share of the cost, in body bytes (parsing, the run's own fixed cost, the answer). */
const FIXED_BYTES = 256;
/** Operators whose running time the input's values (not its size) decide. */
const CONTROL_FLOW = new Set(['Loop', 'Scan', 'If']);

/** The bytes an invocation is counted as: its body, or one short row for named fields. */
export function invocationBytes(invocation: Invocation): number {
  return (invocation.input.kind === 'body' ? invocation.input.body.byteLength : 0) + FIXED_BYTES;
}

/** Why a model does not run on the worker's thread, or undefined when it may. */
export function inlineRefusal(init: ThreadInit, model: ThreadModel): string | undefined {
  if (init.codeFile || model.code) return 'it has inference code';
  if (init.treeFiles) return 'it is converted from tree model files';
  if (model.kind === 'tensor') return 'it is not tabular';
  const file = init.modelFile ?? resolveModelFile(init.dir);
  const size = fs.statSync(file).size;
  const tooLarge = inlineSizeRefusal(size, false);
  if (tooLarge) return tooLarge;
  const ops = readModelMetadata(file).opTypes;
  const flow = ops.filter((op) => CONTROL_FLOW.has(op));
  if (flow.length > 0) return `its graph has control flow (${flow.join(', ')})`;
  return inlineSizeRefusal(size, ops.some((op) => op.startsWith('TreeEnsemble')));
}

/** A model's pipeline on the worker's main thread, with what it has learnt of its cost. */
export class InlineRunner {
  /** Milliseconds per counted byte, a moving average over runs here and on the threads. */
  private msPerByte = 0;
  private busy = false;

  private constructor(
    private readonly session: OnnxSession,
    private readonly pipeline: Pipeline,
  ) {}

  /** Loads the model's session on this thread (one intra-op thread: batches here are small). */
  static async load(init: ThreadInit): Promise<InlineRunner> {
    const session = await OnnxSession.load({ ...init, intraOpThreads: 1, modelFile: init.modelFile ?? resolveModelFile(init.dir) });
    return new InlineRunner(session, new Pipeline({ session }));
  }

  /** Frees the session's memory now (a session left to the garbage collector keeps it for long); call when idle. */
  close(): Promise<void> {
    return this.session.ortSession.release();
  }

  get idle(): boolean {
    return !this.busy;
  }

  /** Whether a batch of this many counted bytes fits: small enough, and expected to end within the budget. */
  takes(bytes: number): boolean {
    return bytes <= INLINE_BODY_BYTES && this.msPerByte * bytes <= INLINE_BUDGET_MS;
  }

  /**
   * Learns from a run: `ms` for `bytes` counted bytes. A thread's run (its time includes the hop and the
   * wait for a core) only ever lowers the estimate: it is how a model sent to the threads by one slow
   * run here comes back.
   */
  observe(ms: number, bytes: number, onThread = false): void {
    const sample = ms / bytes;
    if (onThread && sample >= this.msPerByte) return;
    this.msPerByte += 0.2 * (sample - this.msPerByte);
  }

  async run(tasks: readonly ThreadTask[], bytes: number): Promise<Answer[]> {
    this.busy = true;
    const started = performance.now();
    try {
      return await this.pipeline.run(tasks);
    } finally {
      this.busy = false;
      this.observe(performance.now() - started, bytes);
    }
  }
}
