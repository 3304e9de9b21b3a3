// Inside an inference thread: one invocation, or a batch of them, from body to answer. Decode with the
// codec the edge chose, run the session, encode with the codec the edge chose. Large requests run in
// chunks; queued small ones share one session run (opportunistic batching).
import { recordObject } from '../codecs/json';
import { decodeQuery } from '../codecs/query';
import { decodeRequest, requestCodec, responseCodec } from '../codecs/registry';
import type { Codec } from '../codecs/types';
import { decodeV2, encodeV2, type V2Request } from '../codecs/v2';
import { ServerError, toWireError } from '../errors';
import type { Answer, Invocation, InvocationOutput } from '../models/model';
import { concatMatrices, sliceMatrix, slicePredictions, type Matrix, type Predictions } from '../vocabulary';
import type { ThreadTask } from './protocol';
import type { OnnxSession } from './session';

const utf8 = new TextEncoder();

/** Rows per session run for large requests: bounds the memory of labels, probabilities and output text. */
const CHUNK_ROWS = 65_536;

export function text(body: string, contentType: string, records: number): Answer {
  return { ok: true, body: utf8.encode(body), contentType, records };
}

export function failure(err: unknown): Answer {
  const error = toWireError(err);
  const detail = error.code === 'INTERNAL_ERROR' ? String((err as Error)?.stack ?? err) : undefined;
  return { ok: false, error, detail };
}

/** Rows decoded and waiting for the session, with the encoder the edge chose for them. */
interface Rows {
  matrix: Matrix;
  output: InvocationOutput;
  encoder: Codec;
}

/** A decoded invocation: answered already (tensors, errors), or rows waiting for the session. */
type Step = { answer: Answer } | Rows;

/** The encoder the edge chose; its absence is a bug upstream (the edge negotiated against this model's types). */
function encoderFor(output: InvocationOutput): Codec {
  const encoder = responseCodec(output.mediaType);
  if (!encoder?.encode) throw new ServerError('INTERNAL_ERROR', `no encoder for ${output.mediaType}`);
  return encoder;
}

/** An invocation's input decoded by the built-in codecs: rows for the tabular path, or KServe V2 tensors. */
export type BuiltinInput = { kind: 'rows'; matrix: Matrix } | { kind: 'tensors'; request: V2Request };

/**
 * Decodes an invocation's input with the codec the edge chose. `session` is absent for a model whose own
 * code loaded it (then nothing is known of its columns or tensors).
 */
export function decodeInput(session: OnnxSession | undefined, invocation: Invocation): BuiltinInput {
  const { input } = invocation;
  const schema = session?.schema ?? null;
  const rowsRefused = session?.rowsRefused;
  if (input.kind === 'fields') return { kind: 'rows', matrix: decodeQuery(input.fields, { schema, rowsRefused, params: {} }) };
  const decoder = requestCodec(input.mediaType);
  if (!decoder?.decode) throw new ServerError('INTERNAL_ERROR', `no decoder for ${input.mediaType}`);
  const { decoded } = decodeRequest(decoder, input.body, { schema, rowsRefused, params: input.params });
  // The body is decoded: let its memory go now, not when the whole invocation ends (large batches).
  invocation.input = { ...input, body: new Uint8Array(0) };
  if (decoded.kind === 'rows') return { kind: 'rows', matrix: decoded.matrix };
  if (!session) throw new ServerError('UNSUPPORTED_MEDIA_TYPE', `model "${invocation.model}" is loaded by its own modelFn, so the server does not know its tensors: KServe V2 requests need an inputFn in its code`);
  return { kind: 'tensors', request: decodeV2(decoded.doc, session.description.inputs, session.description.outputs, session.zeroSizeRefusal) };
}

/** KServe V2 tensors through the session, answered as V2 JSON. */
export async function runV2(session: OnnxSession, invocation: Invocation, request: V2Request): Promise<Answer> {
  if (!invocation.tensorsAcceptable) throw new ServerError('NOT_ACCEPTABLE', 'KServe V2 requests are answered with application/json, which Accept does not allow');
  const outputs = await session.runTensors(request.inputs, request.outputs);
  return text(encodeV2(outputs, invocation.model, request.id), 'application/json', request.inputs[0]?.dims[0] ?? 1);
}

async function prepare(session: OnnxSession, task: ThreadTask): Promise<Step> {
  if (Date.now() > task.deadline) {
    return { answer: { ok: false, error: { code: 'TIMEOUT', message: 'the deadline passed before a thread was free' } } };
  }
  const { invocation } = task;
  const { output } = invocation;
  // Lookups first, outside any codec call: a missing codec is a bug upstream, not a client error.
  const encoder = encoderFor(output);
  const decoded = decodeInput(session, invocation);
  if (decoded.kind === 'rows') return { matrix: decoded.matrix, output, encoder };
  return { answer: await runV2(session, invocation, decoded.request) };
}

/** Predictions written the way the invocation asked. */
export function encodePredictions(output: InvocationOutput, p: Predictions): Answer {
  return encode({ output, encoder: encoderFor(output) }, p);
}

function encode(rows: Pick<Rows, 'output' | 'encoder'>, p: Predictions): Answer {
  const { output, encoder } = rows;
  if (output.single) return text(JSON.stringify(recordObject(p, output, 0)), 'application/json', 1);
  const bytes = encoder.encodeBytes?.(p, output);
  if (bytes) return { ok: true, body: bytes, contentType: encoder.mediaType, records: p.rows };
  return text(encoder.encode!(p, output), encoder.mediaType, p.rows);
}

/** One chunk's text, such that the chunks concatenated are the whole answer. */
function chunkText(rows: Rows, p: Predictions, first: boolean, last: boolean): string {
  const { encoder, output } = rows;
  if (!encoder.frame) return encoder.encode!(p, output);
  const { open, separator, close } = encoder.frame;
  return `${first ? open : separator}${encoder.encodeRecords!(p, output)}${last ? close : ''}`;
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

const isLarge = (rows: Rows) => !rows.output.single && rows.matrix.rows > CHUNK_ROWS;

/** A large request, CHUNK_ROWS at a time: each chunk is run, encoded to bytes and released. */
async function runChunked(session: OnnxSession, rows: Rows): Promise<Answer> {
  const { matrix } = rows;
  const parts: Uint8Array[] = [];
  for (let from = 0; from < matrix.rows; from += CHUNK_ROWS) {
    const to = Math.min(matrix.rows, from + CHUNK_ROWS);
    parts.push(utf8.encode(chunkText(rows, await session.predict(sliceMatrix(matrix, from, to)), from === 0, to === matrix.rows)));
  }
  return { ok: true, body: concat(parts), contentType: rows.encoder.mediaType, records: matrix.rows };
}

async function settle(rows: Rows, predict: () => Promise<Predictions>): Promise<Answer> {
  try {
    return encode(rows, await predict());
  } catch (err) {
    return failure(err);
  }
}

export async function invokeOne(session: OnnxSession, task: ThreadTask): Promise<Answer> {
  try {
    const step = await prepare(session, task);
    if ('answer' in step) return step.answer;
    if (isLarge(step)) return await runChunked(session, step);
    return await settle(step, () => session.predict(step.matrix));
  } catch (err) {
    return failure(err);
  }
}

/**
 * Several queued invocations at once: every one is decoded, the rows of those with the same width go
 * through the session in one run, and each gets its own answer. If that shared run fails, each runs
 * alone, so only the invocation that caused it fails.
 */
export async function invokeBatch(session: OnnxSession, tasks: readonly ThreadTask[]): Promise<Answer[]> {
  const steps: Step[] = [];
  for (const task of tasks) steps.push(await prepare(session, task).catch((err: unknown) => ({ answer: failure(err) })));
  const answers: Answer[] = new Array(tasks.length);
  const groups = new Map<number, number[]>();
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    if ('answer' in step) answers[i] = step.answer;
    // A large request keeps its own chunked path: sharing a run would hold all its rows' outputs at once.
    else if (isLarge(step)) answers[i] = await runChunked(session, step).catch(failure);
    else groups.set(step.matrix.width, [...(groups.get(step.matrix.width) ?? []), i]);
  }
  for (const members of groups.values()) {
    const matrices = members.map((i) => (steps[i] as Rows).matrix);
    let shared: Predictions | undefined;
    if (members.length > 1) shared = await session.predict(concatMatrices(matrices)).catch(() => undefined);
    let row = 0;
    for (let k = 0; k < members.length; k++) {
      const i = members[k];
      const m = matrices[k];
      const from = row;
      row += m.rows;
      const answer = await settle(steps[i] as Rows, shared ? async () => slicePredictions(shared!, from, from + m.rows) : () => session.predict(m));
      answers[i] = answer.ok && shared ? { ...answer, batch: members.length } : answer;
    }
  }
  return answers;
}

