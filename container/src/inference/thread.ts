// The inference thread (piscina worker file): loads and warms the model once (and the model's own
// inference code, when it has some), builds the model's pipeline (pipeline.ts), then runs the tasks the
// pool hands it, so the worker's event loop only moves bytes.
import { setImmediate as turn } from 'node:timers/promises';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { mediaTypes } from '../codecs/registry';
import { ServerError, withMessage } from '../errors';
import { resolveModelFile } from '../paths';
import { GuardedSession, LoadContext } from './context';
import { guardTask } from './native-guard';
import { failure, Pipeline, type PipelineParts } from './pipeline';
import { SMALL, type Answer, type Task, type ThreadEvent, type ThreadInit, type ThreadModel } from './protocol';
import { SERVER_OUTPUT_KEYS } from '../vocabulary';
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
function toWire(answers: Answer[]): unknown {
  const buffers: ArrayBuffer[] = [];
  for (const a of answers) {
    if (!a.ok || typeof a.body === 'string') continue;
    if (a.body.byteLength >= SMALL) buffers.push(a.body.buffer as ArrayBuffer);
    else a.body = Buffer.from(a.body.buffer, a.body.byteOffset, a.body.byteLength).toString('latin1');
  }
  if (buffers.length === 0) return answers;
  return Piscina.move({
    get [Piscina.transferableSymbol]() { return buffers; },
    get [Piscina.valueSymbol]() { return answers; },
  } as never);
}

const loadSession = () => OnnxSession.load({ ...init, modelFile: init.modelFile ?? resolveModelFile(init.dir) });

/**
 * The model's output style: SageMaker XGBoost's for XGBoost models (any tree model with
 * MODEL_SERVER_OUTPUT_STYLE=xgboost), the server's own otherwise. Keys of SAGEMAKER_INFERENCE_OUTPUT that
 * the style has not stop the load, naming the variable.
 */
function outputStyle(model: ThreadModel): void {
  const library = model.tree?.library;
  const xgboost = library !== undefined && (init.outputStyle === 'xgboost' || (init.outputStyle === 'auto' && library === 'xgboost'));
  if (xgboost) {
    model.outputStyle = 'xgboost';
    return;
  }
  const foreign = init.outputKeys.filter((k) => !SERVER_OUTPUT_KEYS.includes(k));
  if (foreign.length > 0 && model.kind === 'classifier') {
    throw new ServerError('CONFIG_INVALID', `SAGEMAKER_INFERENCE_OUTPUT names ${foreign.join(', ')}, which only SageMaker XGBoost's output style has, and model "${init.name}" answers in the server's style (its keys: ${SERVER_OUTPUT_KEYS.join(', ')}); ${library ? 'set MODEL_SERVER_OUTPUT_STYLE=xgboost for a tree model' : 'that style is for XGBoost and LightGBM models'}`);
  }
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
 * The model's code: the module is imported, modelFn (or the server) loads the model, and warmupFn runs,
 * all before the thread says it is ready. Faults the code leaves behind (an unhandled rejection, a throw
 * in a timer) are logged, and the thread goes on.
 */
async function withCode(codeFile: string): Promise<{ model: ThreadModel; parts: PipelineParts }> {
  const types = mediaTypes();
  const user = await loadUserCode(codeFile, types.consumes, types.produces);
  const fault = (what: string) => (reason: unknown) => {
    const e = reason as { message?: string; stack?: string };
    post({ type: 'code-fault', threadId, message: `${codeName(codeFile)} ${what}: ${e?.message ?? String(reason)}`, detail: String(e?.stack ?? reason) });
  };
  process.on('unhandledRejection', fault('left a promise rejection unhandled'));
  process.on('uncaughtException', fault('threw outside a hook'));
  const base = new LoadContext(init.name, init.dir, init.intraOpThreads);
  const { modelFn, warmupFn } = user.hooks;
  const session = modelFn ? undefined : await loadSession();
  const model = modelFn ? await loadHook('modelFn', codeFile, () => modelFn(init.dir, base)) : new GuardedSession(session!.ortSession);
  if (warmupFn) await loadHook('warmupFn', codeFile, () => warmupFn(model, base));
  const described: ThreadModel = session?.description ?? { file: codeFile, platform: 'custom', kind: 'tensor', inputs: [], outputs: [], features: null, warmed: false };
  if (warmupFn) described.warmed = true;
  described.code = user.description;
  return { model: described, parts: { session, code: { user, model, base } } };
}

async function load(): Promise<{ model: ThreadModel; parts: PipelineParts }> {
  const loaded = init.codeFile ? await withCode(init.codeFile) : await loadSession().then((session) => ({ model: session.description, parts: { session } }));
  outputStyle(loaded.model);
  return loaded;
}

async function start(): Promise<(task: Task) => Promise<unknown>> {
  const started = performance.now();
  let pipeline: Pipeline | undefined;
  try {
    const loaded = await load();
    pipeline = new Pipeline(loaded.parts);
    post({ type: 'thread-ready', threadId, model: loaded.model, loadMs: Math.round(performance.now() - started) });
  } catch (err) {
    // This goes to the start-up log, not to a caller: keep an unexpected error's own message.
    post({ type: 'thread-load-failed', threadId, error: withMessage(err, 'MODEL_INVALID', `loading ${init.modelFile ?? init.dir} failed`) });
  }
  return async (task: Task) => {
    if (!pipeline) return task.tasks.map((): Answer => ({ ok: false, error: { code: 'NOT_READY', message: `model "${init.name}" failed to load in this thread` } }));
    guardTask(task.native);
    try {
      const answers = await pipeline.run(task.tasks);
      // Models with code: one turn of the event loop before answering, so that a rejection the hooks left
      // unhandled is reported now (Node checks for them between macrotasks), with this request the latest.
      if (init.codeFile) await turn();
      return toWire(answers);
    } catch (err) {
      return task.tasks.map(() => failure(err));
    } finally {
      guardTask(undefined);
    }
  };
}

// piscina awaits an exported promise before marking the thread ready, so the model loads before any task.
export default start();
