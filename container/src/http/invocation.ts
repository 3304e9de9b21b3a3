// The edge: turns an HTTP request into one typed Invocation. It reads the body (into a shared slot when
// one fits, within the payload limit), and decides 415 and 406 against the media types the model says it
// reads and writes (Content-Type by content-type, Accept by negotiator: q-values, wildcards, specificity).
// Below this, nothing sees a header.
import type { IncomingMessage } from 'node:http';
import { parse as parseContentType } from 'content-type';
import Negotiator from 'negotiator';
import type { Config } from '../config/serving';
import { ServerError } from '../errors';
import { canonical, covers, type MediaOffer } from '../models/media';
import type { Invocation, InvocationOutput } from '../models/model';
import type { BodyMemory } from '../shared-bodies';
import type { ModelDescription } from '../vocabulary';

export interface MediaType {
  type: string;
  params: Record<string, string>;
}

const TYPE = /^[a-z0-9!#$&^_.+*-]+\/[a-z0-9!#$&^_.+*-]+$/;

/**
 * "text/csv; charset=UTF-8" -> { type: "text/csv", params: { charset: "UTF-8" } } (content-type reads it:
 * quoted values may hold ";" and ","); undefined when absent or not a media type.
 */
export function parseMediaType(header: string | undefined): MediaType | undefined {
  if (!header) return undefined;
  const { type, parameters } = parseContentType(header);
  return TYPE.test(type) ? { type, params: { ...parameters } } : undefined;
}

/**
 * Accept's media ranges, each read by content-type (quoted parameters included), keeping only the q
 * parameter: the server writes each type one way, so other parameters (charset=utf-8) do not narrow a range.
 * Entries that are not media ranges are left out.
 */
function mediaRanges(accept: string): string[] {
  const ranges: string[] = [];
  for (let at = 0; at < accept.length; ) {
    const { type, index, parameters } = parseContentType(accept, { comma: true, start: at });
    if (TYPE.test(type)) ranges.push(parameters.q === undefined ? type : `${type};q=${parameters.q}`);
    at = Math.max(index, at) + 1;
  }
  return ranges;
}

/** Negotiator over Accept's media ranges; undefined when Accept is absent or names none (then it is as if absent). */
function acceptOf(accept: string | undefined): Negotiator | undefined {
  const ranges = accept ? mediaRanges(accept) : [];
  return ranges.length > 0 ? new Negotiator({ headers: { accept: ranges.join(', ') } }) : undefined;
}

/** The canonical request type when the model reads it, else undefined (415). */
export function consumed(offer: MediaOffer, type: string): string | undefined {
  return covers(offer.consumes, type) ? canonical(offer, type) : undefined;
}

/** Types a wildcard-producing model (users' outputFn) mirrors from the request: the textual built-in ones. */
const MIRRORED = new Set(['text/csv', 'application/json', 'application/jsonlines']);

/**
 * The response media type for a request, or undefined when nothing acceptable can be produced (406).
 * Missing Accept and bare wildcards pick the default: SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT, else the
 * request's own type, else JSON (else the model's first type). Negotiator ranks the candidates by q-value
 * and specificity (RFC 9110: "text/csv;q=0" refuses CSV even beside "*\/*"), ties in the order given here.
 */
export function negotiate(accept: string | undefined, requestType: string, defaultAccept: string | undefined, offer: MediaOffer): string | undefined {
  const concrete = offer.produces.filter((t) => !t.endsWith('/*'));
  const produced = (t: string) => covers(offer.produces, canonical(offer, t));
  const fallback = produced('application/json') ? 'application/json' : concrete[0];
  const request = canonical(offer, requestType);
  const mirrored = concrete.includes(request) || (produced(request) && MIRRORED.has(request)) ? request : fallback;
  const preferred = defaultAccept && produced(defaultAccept) ? canonical(offer, defaultAccept) : mirrored;
  const negotiator = acceptOf(accept);
  if (!negotiator) return preferred;
  // The default first (wildcards pick it), then every type the model writes under each of its names, then
  // the types Accept names that a wildcard offer covers (users' code that writes image/*).
  const aliases = Object.keys(offer.aliases).filter((a) => concrete.includes(offer.aliases[a]));
  const named = negotiator.mediaTypes().map((t) => t.toLowerCase()).filter((t) => !t.includes('*') && produced(t));
  const candidates = [...new Set([preferred, ...concrete, ...aliases, ...named].filter((t): t is string => t !== undefined))];
  const chosen = negotiator.mediaType(candidates);
  return chosen === undefined ? undefined : canonical(offer, chosen);
}

/** Whether a V2 (JSON-only) answer is acceptable: no Accept, or one allowing application/json. */
export function acceptsJson(accept: string | undefined): boolean {
  const negotiator = acceptOf(accept);
  return !negotiator || negotiator.mediaType(['application/json']) !== undefined;
}

export function payloadTooLarge(limitBytes: number): ServerError {
  const mb = limitBytes / (1024 * 1024);
  // Same words as nginx's 413 (nginx.conf), whichever layer catches the body.
  return new ServerError('PAYLOAD_TOO_LARGE', `the request body is larger than the ${Number(mb.toFixed(3))} MB (${limitBytes} bytes) limit; raise SAGEMAKER_MAX_PAYLOAD_IN_MB, or send smaller mini-batches`);
}

/**
 * The body, read into a slot of `memory` when it has one that fits (given back here if reading fails;
 * otherwise whoever consumes the body gives it back), else into a buffer of its own.
 */
export function readBody(req: IncomingMessage, limitBytes: number | undefined, memory?: BodyMemory): Promise<Uint8Array> {
  const declared = Number(req.headers['content-length']);
  if (limitBytes !== undefined && Number.isFinite(declared) && declared > limitBytes) {
    return Promise.reject(payloadTooLarge(limitBytes));
  }
  // nginx buffers the body and sends its length: then one exactly-sized array takes the chunks as they
  // arrive, instead of a chunk list plus a joined copy (twice the payload, for a 100 MB batch).
  if (Number.isSafeInteger(declared) && declared >= 0 && req.headers['transfer-encoding'] === undefined) {
    return new Promise((resolve, reject) => {
      // Not zero-filled (every byte is overwritten, and a short body is refused below); never from Node's
      // shared pool, so it can be transferred to a thread.
      const body: Uint8Array = (declared > 0 ? memory?.take(declared) : undefined) ?? Buffer.allocUnsafeSlow(declared);
      let offset = 0;
      let settled = false;
      const fail = (err: ServerError) => {
        if (settled) return;
        settled = true;
        memory?.release(body);
        reject(err);
      };
      req.on('data', (chunk: Buffer) => {
        if (settled) return;
        if (offset + chunk.length > declared) {
          fail(new ServerError('BODY_TOO_LONG', `the body is longer than its Content-Length (${declared} bytes)`));
          req.destroy();
          return;
        }
        body.set(chunk, offset);
        offset += chunk.length;
      });
      const finish = () => {
        if (offset !== declared) return fail(new ServerError('BODY_INCOMPLETE', `the body ended after ${offset} of its ${declared} bytes (Content-Length)`));
        if (!settled) {
          settled = true;
          resolve(body);
        }
      };
      req.on('end', finish);
      req.on('error', (err) => fail(new ServerError('CLIENT_GONE', `the request body could not be read: ${err.message}`)));
      // A client that goes away mid-body may end the request with neither 'end' nor 'error': settle anyway,
      // so that the body's memory is given back.
      req.on('close', finish);
    });
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (limitBytes !== undefined && size > limitBytes) {
        failed = true;
        chunks.length = 0;
        reject(payloadTooLarge(limitBytes));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (failed) return;
      // Not Buffer.concat: small results may come from Node's shared pool, which must never be transferred.
      const body: Uint8Array = Buffer.allocUnsafeSlow(size);
      let offset = 0;
      for (const c of chunks) {
        body.set(c, offset);
        offset += c.length;
      }
      resolve(body);
    });
    req.on('error', (err) => {
      if (!failed) reject(new ServerError('CLIENT_GONE', `the request body could not be read: ${err.message}`));
    });
  });
}

/** How a POST body is to be read and answered, decided before the body is read. */
export function resolveBodyInvocation(req: IncomingMessage, id: string, model: ModelDescription, config: Config): Omit<Invocation, 'input'> & { input: { mediaType: string; params: Record<string, string> } } {
  const header = req.headers['content-type'];
  const media = parseMediaType(header);
  const mediaType = media && consumed(model, media.type);
  if (!media || !mediaType) {
    const given = header ? `Content-Type ${JSON.stringify(header)} is not supported` : 'the request has no Content-Type';
    // curl -d sends a form type: the most common first mistake, so say how to fix it.
    const hint = media?.type === 'application/x-www-form-urlencoded' ? " (curl -d sends that by default: add -H 'Content-Type: text/csv')" : '';
    throw new ServerError('UNSUPPORTED_MEDIA_TYPE', `${given}${hint}; send one of: ${model.consumes.join(', ')}`);
  }
  // SageMaker XGBoost's container answers text/csv when Accept is missing or */*, unless told otherwise.
  const xgboost = model.outputStyle === 'xgboost';
  const answer = negotiate(req.headers.accept, media.type, xgboost ? config.defaultAccept ?? 'text/csv' : config.defaultAccept, model);
  if (!answer) {
    throw new ServerError('NOT_ACCEPTABLE', `cannot answer with any type in Accept ${JSON.stringify(req.headers.accept)}; this server produces: ${model.produces.join(', ')}`);
  }
  return {
    requestId: id,
    model: model.name,
    input: { mediaType, params: media.params },
    output: { mediaType: answer, keys: config.inferenceOutput, ...(xgboost ? { style: 'xgboost' as const, selected: config.inferenceOutputSelected } : {}) },
    tensorsAcceptable: acceptsJson(req.headers.accept),
    ...customAttributes(req),
  };
}

/** GET /predict_parameters?<feature>=<value>&...: one row by feature name, answered as one JSON record. */
export function resolveFieldsInvocation(req: IncomingMessage, id: string, model: ModelDescription, config: Config): Invocation {
  if (!acceptsJson(req.headers.accept)) throw new ServerError('NOT_ACCEPTABLE', '/predict_parameters answers application/json, which Accept does not allow');
  const fields: Record<string, string> = {};
  const url = req.url ?? '';
  const q = url.indexOf('?');
  for (const [name, value] of new URLSearchParams(q < 0 ? '' : url.slice(q + 1))) {
    if (name in fields) throw new ServerError('INVALID_PARAMETER', `parameter "${name}" is given more than once; give each feature once`);
    fields[name] = value;
  }
  const output: InvocationOutput = { mediaType: 'application/json', keys: config.inferenceOutput, single: true };
  return { requestId: id, model: model.name, input: { kind: 'fields', fields }, output, tensorsAcceptable: true, ...customAttributes(req) };
}

/** X-Amzn-SageMaker-Custom-Attributes, for the model's own code (absent: nothing, to keep invocations small). */
export function customAttributes(req: IncomingMessage): { attributes?: string } {
  const value = req.headers['x-amzn-sagemaker-custom-attributes'];
  return typeof value === 'string' ? { attributes: value } : {};
}
