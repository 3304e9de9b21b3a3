// Whether an inference thread is inside onnxruntime right now, in memory both sides see.
//
// A timed-out invocation of a model with its own code may be stuck in that code (a loop): then the worker
// stops the thread and a fresh one takes its place. But stopping a thread while onnxruntime runs in native
// code aborts the whole process when the run returns, so a thread stuck inside a session run is left to
// finish, as for models without code. Each task of such a model carries one Int32 in a SharedArrayBuffer:
// the number of session runs in progress, or STOPPING once the worker has claimed the thread. Both sides
// change it with compare-and-swap, so a run never starts on a thread the worker is about to stop.
import { ServerError } from '../errors';

export const STOPPING = -1;

/** The current task's flag, set by the thread for the task it runs (one task at a time per thread). */
let current: Int32Array | undefined;

export function guardTask(flag: Int32Array | undefined): void {
  current = flag;
}

/** Runs `run` (a session run) counted as native work; refuses to start once the worker claimed the thread. */
export async function native<T>(run: () => Promise<T>): Promise<T> {
  const flag = current;
  if (!flag) return run();
  for (;;) {
    const now = Atomics.load(flag, 0);
    if (now === STOPPING) throw new ServerError('TIMEOUT', 'the invocation ran past MODEL_SERVER_TIMEOUT');
    if (Atomics.compareExchange(flag, 0, now, now + 1) === now) break;
  }
  try {
    return await run();
  } finally {
    Atomics.sub(flag, 0, 1);
  }
}

/** Worker side: claims the thread for stopping when no session run is in progress on it. */
export function claimForStop(flag: Int32Array): boolean {
  return Atomics.compareExchange(flag, 0, 0, STOPPING) === 0;
}
