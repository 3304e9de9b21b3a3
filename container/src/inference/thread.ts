// The inference thread (piscina worker file): loads and warms the model once, then for each task decodes
// the body, runs the model and encodes the answer, so the worker's event loop only moves bytes.
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { recordObject } from '../codecs/json';
import { parseMediaType } from '../codecs/media-type';
import { decodeQuery } from '../codecs/query';
import { decodeRequest, requestCodec, responseCodec } from '../codecs/registry';
import { decodeV2, encodeV2 } from '../codecs/v2';
import { ServerError, toWireError } from '../errors';
import { loadModel, type LoadedModel } from './model';
import type { Matrix } from '../codecs/types';
import { slicePredictions, type Predictions } from './predictions';
import { SMALL, type BatchTask, type InvokeResult, type InvokeTask, type ThreadEvent, type ThreadInit } from './protocol';

const init = workerData as ThreadInit;
const utf8 = new TextEncoder();

function post(event: ThreadEvent): void {
  parentPort?.postMessage(event);
}

function done(text: string, contentType: string, records: number): InvokeResult {
  return { ok: true, body: utf8.encode(text), contentType, records };
}

function failure(err: unknown): InvokeResult {
  const error = toWireError(err);
  const detail = error.code === 'INTERNAL_ERROR' ? String((err as Error)?.stack ?? err) : undefined;
  return { ok: false, error, detail };
}

/** Rows per ONNX call for large requests: bounds the memory of labels, probabilities and output text. */
const CHUNK_ROWS = 65_536;

/** A decoded invocation: answered already (tensors, errors), or rows waiting for the model. */
type Step = { result: InvokeResult } | { matrix: Matrix; finish: (p: Predictions) => InvokeResult; chunkText?: (p: Predictions, first: boolean, last: boolean) => string; contentType?: string };

const JSON_HEAD = '{"predictions":[';

/** Text of one chunk of a response, so that the chunks concatenated are the whole response. */
function chunkText(encode: (p: Predictions) => string, mediaType: string): (p: Predictions, first: boolean, last: boolean) => string {
  if (mediaType !== 'application/json') return (p) => encode(p);
  // {"predictions":[...]}: each chunk's items, joined by commas inside one wrapper.
  return (p, first, last) => {
    const items = encode(p).slice(JSON_HEAD.length, -2);
    return `${first ? JSON_HEAD : ','}${items}${last ? ']}' : ''}`;
  };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

async function prepare(model: LoadedModel, task: InvokeTask): Promise<Step> {
  if (task.deadline !== undefined && Date.now() > task.deadline) {
    return { result: { ok: false, error: { code: 'TIMEOUT', message: 'the deadline passed before a thread was free' } } };
  }
  const keys = init.inferenceOutput;
  const schema = model.schema;
  if (task.query) {
    return { matrix: decodeQuery(task.query, { schema, params: {} }), finish: (p) => done(JSON.stringify(recordObject(p, { keys }, 0)), 'application/json', 1) };
  }
  // Lookups first, outside any codec call: an unknown type here is a bug upstream, not a client error.
  const media = parseMediaType(task.contentType);
  const decoder = media && requestCodec(media.type);
  const encoder = responseCodec(task.accept);
  if (!media || !decoder?.decode || !encoder?.encode) throw new ServerError('INTERNAL_ERROR', `no codec for ${task.contentType} -> ${task.accept}`);

  const { decoded } = decodeRequest(decoder, task.body, { schema, params: media.params });
  // The body is decoded: let its memory go now, not when the whole invocation ends (large batches).
  task.body = new Uint8Array(0);
  if (decoded.kind === 'tensors') {
    const request = decodeV2(decoded.doc, model.description.inputs, model.description.outputs);
    if (!task.v2Acceptable) throw new ServerError('NOT_ACCEPTABLE', 'KServe V2 requests are answered with application/json, which Accept does not allow');
    const outputs = await model.runTensors(request.inputs, request.outputs);
    return { result: done(encodeV2(outputs, 'model', request.id), 'application/json', request.inputs[0]?.dims[0] ?? 1) };
  }
  const rows = decoded.matrix.rows;
  const encode = (p: Predictions) => encoder.encode!(p, { keys });
  const finish = (p: Predictions): InvokeResult => {
    const bytes = encoder.encodeBytes?.(p, { keys });
    return bytes ? { ok: true, body: bytes, contentType: encoder.mediaType, records: rows } : done(encode(p), encoder.mediaType, rows);
  };
  return { matrix: decoded.matrix, finish, chunkText: chunkText(encode, encoder.mediaType), contentType: encoder.mediaType };
}

/** A large request, CHUNK_ROWS at a time: each chunk is run, encoded to bytes and released. */
async function runChunked(model: LoadedModel, step: { matrix: Matrix; chunkText?: (p: Predictions, first: boolean, last: boolean) => string; contentType?: string }): Promise<InvokeResult> {
  const { matrix } = step;
  const parts: Uint8Array[] = [];
  for (let from = 0; from < matrix.rows; from += CHUNK_ROWS) {
    const to = Math.min(matrix.rows, from + CHUNK_ROWS);
    const view = { rows: to - from, width: matrix.width, values: matrix.values.subarray(from * matrix.width, to * matrix.width) };
    parts.push(utf8.encode(step.chunkText!(await model.predict(view), from === 0, to === matrix.rows)));
  }
  return { ok: true, body: concat(parts), contentType: step.contentType!, records: matrix.rows };
}

async function settle(step: Step, predict: () => Promise<Predictions>): Promise<InvokeResult> {
  if ('result' in step) return step.result;
  try {
    return step.finish(await predict());
  } catch (err) {
    return failure(err);
  }
}

/**
 * Several queued invocations at once: every one is decoded, the rows of those with the same width go
 * through the model in one call, and each gets its own answer. If that shared call fails, each runs alone,
 * so only the invocation that caused it fails.
 */
async function invokeBatch(model: LoadedModel, tasks: InvokeTask[]): Promise<InvokeResult[]> {
  const steps: Step[] = [];
  for (const task of tasks) {
    try {
      steps.push(await prepare(model, task));
    } catch (err) {
      steps.push({ result: failure(err) });
    }
  }
  const results: InvokeResult[] = new Array(tasks.length);
  const groups = new Map<number, number[]>();
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    if ('result' in step) results[i] = step.result;
    // A large request keeps its own chunked path: sharing a call would hold all its rows' outputs at once.
    else if (step.chunkText && step.matrix.rows > CHUNK_ROWS) results[i] = await runChunked(model, step).catch(failure);
    else groups.set(step.matrix.width, [...(groups.get(step.matrix.width) ?? []), i]);
  }
  for (const [width, members] of groups) {
    const matrices = members.map((i) => (steps[i] as { matrix: Matrix }).matrix);
    let shared: Predictions | undefined;
    if (members.length > 1) {
      const total = matrices.reduce((n, m) => n + m.rows, 0);
      const values = new (matrices[0].values.constructor as Float32ArrayConstructor)(total * width);
      let offset = 0;
      for (const m of matrices) {
        values.set(m.values, offset);
        offset += m.values.length;
      }
      shared = await model.predict({ rows: total, width, values }).catch(() => undefined);
    }
    let row = 0;
    for (let k = 0; k < members.length; k++) {
      const i = members[k];
      const m = matrices[k];
      const from = row;
      row += m.rows;
      const result = await settle(steps[i], shared ? async () => slicePredictions(shared!, from, from + m.rows) : () => model.predict(m));
      results[i] = result.ok && shared ? { ...result, batch: members.length } : result;
    }
  }
  return results;
}

async function invoke(model: LoadedModel, task: InvokeTask): Promise<InvokeResult> {
  const step = await prepare(model, task);
  if (!('result' in step) && step.chunkText && step.matrix.rows > CHUNK_ROWS) return runChunked(model, step);
  return settle(step, () => model.predict((step as { matrix: Matrix }).matrix));
}

/**
 * Prepares results for the trip to the worker: large bodies are moved (transferred) rather than copied;
 * small ones go as latin1 strings of the same bytes (one character per byte), which land on the worker's
 * young-generation heap, where a fresh ArrayBuffer per answer would add to V8's external memory and
 * bring on full GCs in the thread that serves HTTP (see shared-bodies.ts).
 */
function toWire(value: InvokeResult | InvokeResult[]): unknown {
  const results = Array.isArray(value) ? value : [value];
  const buffers: ArrayBuffer[] = [];
  for (const r of results) {
    if (!r.ok || typeof r.body === 'string') continue;
    if (r.body.byteLength >= SMALL) buffers.push(r.body.buffer as ArrayBuffer);
    else r.body = Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength).toString('latin1');
  }
  if (buffers.length === 0) return value;
  return Piscina.move({
    get [Piscina.transferableSymbol]() { return buffers; },
    get [Piscina.valueSymbol]() { return value; },
  } as never);
}

async function start(): Promise<(task: InvokeTask | BatchTask) => Promise<unknown>> {
  const started = performance.now();
  let model: LoadedModel | undefined;
  try {
    model = await loadModel(init);
    post({ type: 'thread-ready', threadId, model: model.description, loadMs: Math.round(performance.now() - started) });
  } catch (err) {
    // This goes to the start-up log, not to a caller: keep an unexpected error's own message.
    const error = err instanceof ServerError ? err.toWire() : { code: 'MODEL_INVALID' as const, message: `loading ${init.modelFile} failed: ${String((err as Error)?.message ?? err)}` };
    post({ type: 'thread-load-failed', threadId, error });
  }
  return async (task: InvokeTask | BatchTask) => {
    if (!model) {
      const notReady: InvokeResult = { ok: false, error: { code: 'NOT_READY', message: 'the model failed to load in this thread' } };
      return 'batch' in task ? task.batch.map(() => notReady) : notReady;
    }
    if ('batch' in task) return toWire(await invokeBatch(model, task.batch));
    try {
      return toWire(await invoke(model, task));
    } catch (err) {
      return failure(err);
    }
  };
}

// piscina awaits an exported promise before marking the thread ready, so the model loads before any task.
export default start();
