// The inference thread (piscina worker file): loads and warms the model once, then for each task decodes
// the body, runs the model and encodes the answer, so the worker's event loop only moves bytes.
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { recordObject } from '../codecs/json';
import { parseMediaType } from '../codecs/media-type';
import { decodeQuery } from '../codecs/query';
import { requestCodec, responseCodec } from '../codecs/registry';
import { decodeText } from '../codecs/text';
import { decodeV2, encodeV2 } from '../codecs/v2';
import { ServerError, toWireError } from '../errors';
import { loadModel, type LoadedModel } from './model';
import type { InvokeResult, InvokeTask, ThreadEvent, ThreadInit } from './protocol';

const init = workerData as ThreadInit;
const utf8 = new TextEncoder();

function post(event: ThreadEvent): void {
  parentPort?.postMessage(event);
}

function done(text: string, contentType: string, records: number): InvokeResult {
  return { ok: true, body: utf8.encode(text), contentType, records };
}

async function invoke(model: LoadedModel, task: InvokeTask): Promise<InvokeResult> {
  const keys = init.inferenceOutput;
  const schema = model.schema;
  if (task.query) {
    const matrix = decodeQuery(task.query, { schema, params: {} });
    const predictions = await model.predict(matrix);
    return done(JSON.stringify(recordObject(predictions, { keys }, 0)), 'application/json', 1);
  }
  // Lookups first, outside any codec call: an unknown type here is a bug upstream, not a client error.
  const media = parseMediaType(task.contentType);
  const decoder = media && requestCodec(media.type);
  const encoder = responseCodec(task.accept);
  if (!media || !decoder?.decode || !encoder?.encode) throw new ServerError('INTERNAL_ERROR', `no codec for ${task.contentType} -> ${task.accept}`);

  const decoded = decoder.decode(decodeText(task.body, media.params.charset), { schema, params: media.params });
  if (decoded.kind === 'tensors') {
    const request = decodeV2(decoded.doc, model.description.inputs, model.description.outputs);
    if (!task.v2Acceptable) throw new ServerError('NOT_ACCEPTABLE', 'KServe V2 requests are answered with application/json, which Accept does not allow');
    const outputs = await model.runTensors(request.inputs, request.outputs);
    const records = request.inputs[0]?.dims[0] ?? 1;
    return done(encodeV2(outputs, 'model', request.id), 'application/json', records);
  }
  const predictions = await model.predict(decoded.matrix);
  return done(encoder.encode(predictions, { keys }), encoder.mediaType, decoded.matrix.rows);
}

/** Wraps a result so piscina moves `buffer` to the worker instead of copying it. */
function transferring(value: InvokeResult, buffer: ArrayBuffer): unknown {
  return Piscina.move({
    get [Piscina.transferableSymbol]() { return [buffer]; },
    get [Piscina.valueSymbol]() { return value; },
  } as never);
}

async function start(): Promise<(task: InvokeTask) => Promise<InvokeResult | unknown>> {
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
  return async (task: InvokeTask) => {
    if (!model) return { ok: false, error: { code: 'NOT_READY', message: 'the model failed to load in this thread' } };
    if (task.deadline !== undefined && Date.now() > task.deadline) return { ok: false, error: { code: 'TIMEOUT', message: 'the deadline passed before a thread was free' } };
    try {
      const result = await invoke(model, task);
      // Transfer, not copy, the encoded body back to the worker.
      return result.ok ? transferring(result, result.body.buffer as ArrayBuffer) : result;
    } catch (err) {
      const error = toWireError(err);
      const detail = error.code === 'INTERNAL_ERROR' ? String((err as Error)?.stack ?? err) : undefined;
      return { ok: false, error, detail } satisfies InvokeResult;
    }
  };
}

// piscina awaits an exported promise before marking the thread ready, so the model loads before any task.
export default start();
