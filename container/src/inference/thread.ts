// The inference thread (piscina worker file): loads and warms the model once (and the model's own
// inference code, when it has some), then runs the tasks the pool hands it (see invoke.ts and hooks.ts),
// so the worker's event loop only moves bytes.
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { mediaTypes } from '../codecs/registry';
import { ServerError } from '../errors';
import { resolveModelFile } from '../paths';
import { GuardedSession, HookRunner, LoadContext } from './hooks';
import { failure, invokeBatch, invokeOne } from './invoke';
import { guardTask } from './native-guard';
import { SMALL, type Answer, type Task, type ThreadEvent, type ThreadInit, type ThreadModel } from './protocol';
import { OnnxSession } from './session';
import { codeName, loadUserCode } from './user-code';

const init = workerData as ThreadInit;

function post(event: ThreadEvent): void {
  parentPort?.postMessage(event);
}

/**
 * Prepares answers for the trip to the worker: large bodies are moved (transferred) rather than copied;
 * small ones go as latin1 strings of the same bytes (one character per byte), which land on the worker's
 * young-generation heap, where a fresh ArrayBuffer per answer would add to V8's external memory and
 * bring on full GCs in the thread that serves HTTP (see shared-bodies.ts).
 */
function toWire(value: Answer | Answer[]): unknown {
  const answers = Array.isArray(value) ? value : [value];
  const buffers: ArrayBuffer[] = [];
  for (const a of answers) {
    if (!a.ok || typeof a.body === 'string') continue;
    if (a.body.byteLength >= SMALL) buffers.push(a.body.buffer as ArrayBuffer);
    else a.body = Buffer.from(a.body.buffer, a.body.byteOffset, a.body.byteLength).toString('latin1');
  }
  if (buffers.length === 0) return value;
  return Piscina.move({
    get [Piscina.transferableSymbol]() { return buffers; },
    get [Piscina.valueSymbol]() { return value; },
  } as never);
}

type Runner = (task: Task) => Promise<Answer | Answer[]>;

/** A model without code: the built-in path, with opportunistic batching. */
async function builtin(): Promise<{ model: ThreadModel; run: Runner }> {
  const session = await OnnxSession.load({ ...init, modelFile: init.modelFile ?? resolveModelFile(init.dir) });
  return { model: session.description, run: (task) => ('batch' in task ? invokeBatch(session, task.batch) : invokeOne(session, task)) };
}

/** Runs a load-time hook (modelFn, warmupFn): what it throws stops the load, naming the hook and file. */
async function loadHook<T>(hook: string, file: string, run: () => T | Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    const e = err as { name?: string; message?: string };
    throw new ServerError('INFERENCE_CODE_INVALID', `${hook} in ${codeName(file)} failed: ${e?.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e?.message ?? String(err)}`);
  }
}

/**
 * A model with inference code: the module is imported, modelFn (or the server) loads the model, and
 * warmupFn runs, all before the thread says it is ready. Faults the code leaves behind (an unhandled
 * rejection, a throw in a timer) are logged, and the thread goes on.
 */
async function withCode(codeFile: string): Promise<{ model: ThreadModel; run: Runner }> {
  const types = mediaTypes();
  const code = await loadUserCode(codeFile, types.consumes, types.produces);
  const fault = (what: string) => (reason: unknown) => {
    const e = reason as { message?: string; stack?: string };
    post({ type: 'code-fault', threadId, message: `${codeName(codeFile)} ${what}: ${e?.message ?? String(reason)}`, detail: String(e?.stack ?? reason) });
  };
  process.on('unhandledRejection', fault('left a promise rejection unhandled'));
  process.on('uncaughtException', fault('threw outside a hook'));
  const context = new LoadContext(init.name, init.dir, init.intraOpThreads);
  const { modelFn, warmupFn } = code.hooks;
  let session: OnnxSession | undefined;
  let model: unknown;
  if (modelFn) {
    model = await loadHook('modelFn', codeFile, () => modelFn(init.dir, context));
  } else {
    session = await OnnxSession.load({ ...init, modelFile: init.modelFile ?? resolveModelFile(init.dir) });
    model = new GuardedSession(session.ortSession);
  }
  if (warmupFn) await loadHook('warmupFn', codeFile, () => warmupFn(model, context));
  const described: ThreadModel = session?.description ?? { file: codeFile, kind: 'tensor', inputs: [], outputs: [], features: null, warmed: false };
  if (warmupFn) described.warmed = true;
  described.code = code.description;
  const runner = new HookRunner(code, session, model, context);
  return {
    model: described,
    run: async (task) => {
      const answer = await ('batch' in task ? runner.invokeBatch(task.batch) : runner.invoke(task));
      // One turn of the event loop before answering, so that a rejection the hooks left unhandled is
      // reported now (Node checks for them between macrotasks), with this request still the latest.
      await new Promise((resolve) => setImmediate(resolve));
      return answer;
    },
  };
}

async function start(): Promise<(task: Task) => Promise<unknown>> {
  const started = performance.now();
  let run: Runner | undefined;
  try {
    const loaded = init.codeFile ? await withCode(init.codeFile) : await builtin();
    run = loaded.run;
    post({ type: 'thread-ready', threadId, model: loaded.model, loadMs: Math.round(performance.now() - started) });
  } catch (err) {
    // This goes to the start-up log, not to a caller: keep an unexpected error's own message.
    const error = err instanceof ServerError ? err.toWire() : { code: 'MODEL_INVALID' as const, message: `loading ${init.modelFile ?? init.dir} failed: ${String((err as Error)?.message ?? err)}` };
    post({ type: 'thread-load-failed', threadId, error });
  }
  return async (task: Task) => {
    if (!run) {
      const notReady: Answer = { ok: false, error: { code: 'NOT_READY', message: `model "${init.name}" failed to load in this thread` } };
      return 'batch' in task ? task.batch.map(() => notReady) : notReady;
    }
    guardTask(task.native);
    try {
      return toWire(await run(task));
    } catch (err) {
      return failure(err);
    } finally {
      guardTask(undefined);
    }
  };
}

// piscina awaits an exported promise before marking the thread ready, so the model loads before any task.
export default start();
