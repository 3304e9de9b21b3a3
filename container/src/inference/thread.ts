// The inference thread (piscina worker file): loads and warms the model once, then for each task decodes
// the body, runs the model and encodes the answer, so the worker's event loop only moves bytes.
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { requestCodec, responseCodec } from '../codecs/registry';
import { parseMediaType } from '../http/negotiation';
import { ServerError, toWireError } from '../errors';
import { loadModel, type LoadedModel } from './model';
import type { InvokeResult, InvokeTask, ThreadEvent, ThreadInit } from './protocol';

const init = workerData as ThreadInit;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

function post(event: ThreadEvent): void {
  parentPort?.postMessage(event);
}

function decodeText(body: Uint8Array): string {
  try {
    return utf8.decode(body);
  } catch {
    let offset = 0;
    // Find the first bad byte for the message: decode growing prefixes is too slow, so scan by sequence.
    for (; offset < body.length; offset++) {
      const b = body[offset];
      const len = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
      if (len === 0) break;
      try {
        utf8.decode(body.subarray(offset, offset + len));
      } catch {
        break;
      }
      offset += len - 1;
    }
    throw new ServerError('INVALID_ENCODING', `the body is not valid UTF-8 (first bad byte at offset ${offset})`);
  }
}

async function invoke(model: LoadedModel, task: InvokeTask): Promise<InvokeResult> {
  const media = parseMediaType(task.contentType);
  const decoder = media && requestCodec(media.type);
  const encoder_ = responseCodec(task.accept);
  if (!decoder || !encoder_) throw new ServerError('INTERNAL_ERROR', `no codec for ${task.contentType} -> ${task.accept} (negotiation should have caught this)`);
  if (!model.schema) throw new ServerError('UNSUPPORTED_MEDIA_TYPE', `this model (inputs ${model.description.inputs.map((i) => i.name).join(', ')}) is not a tabular classifier or regressor, so rows cannot be mapped onto it; KServe V2 tensor requests are not supported yet by this server version`);
  const matrix = decoder.decode!(decodeText(task.body), { schema: model.schema, params: media!.params });
  const predictions = await model.predict(matrix);
  const text = encoder_.encode!(predictions, { keys: init.inferenceOutput });
  return { ok: true, body: encoder.encode(text), contentType: encoder_.mediaType, records: matrix.rows };
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
    post({ type: 'thread-load-failed', threadId, error: toWireError(err) });
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
