// The inference thread (piscina worker file): loads and warms the model once, then runs the tasks the
// pool hands it (see invoke.ts), so the worker's event loop only moves bytes.
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { ServerError } from '../errors';
import { failure, invokeBatch, invokeOne } from './invoke';
import { SMALL, type Answer, type BatchTask, type ThreadEvent, type ThreadInit, type ThreadTask } from './protocol';
import { OnnxSession } from './session';

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

async function start(): Promise<(task: ThreadTask | BatchTask) => Promise<unknown>> {
  const started = performance.now();
  let session: OnnxSession | undefined;
  try {
    session = await OnnxSession.load(init);
    post({ type: 'thread-ready', threadId, model: session.description, loadMs: Math.round(performance.now() - started) });
  } catch (err) {
    // This goes to the start-up log, not to a caller: keep an unexpected error's own message.
    const error = err instanceof ServerError ? err.toWire() : { code: 'MODEL_INVALID' as const, message: `loading ${init.modelFile} failed: ${String((err as Error)?.message ?? err)}` };
    post({ type: 'thread-load-failed', threadId, error });
  }
  return async (task: ThreadTask | BatchTask) => {
    if (!session) {
      const notReady: Answer = { ok: false, error: { code: 'NOT_READY', message: `model "${init.name}" failed to load in this thread` } };
      return 'batch' in task ? task.batch.map(() => notReady) : notReady;
    }
    try {
      return toWire('batch' in task ? await invokeBatch(session, task.batch) : await invokeOne(session, task));
    } catch (err) {
      return failure(err);
    }
  };
}

// piscina awaits an exported promise before marking the thread ready, so the model loads before any task.
export default start();
