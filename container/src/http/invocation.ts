// The edge: turns an HTTP request into one typed Invocation, deciding 415 and 406 against what the model
// says it reads and writes. Below this, nothing sees a header.
import type { IncomingMessage } from 'node:http';
import type { Config } from '../config';
import { ServerError } from '../errors';
import type { Invocation, InvocationOutput } from '../models/model';
import type { ModelDescription } from '../vocabulary';
import { acceptsJson, consumed, negotiate, parseMediaType } from './negotiation';

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
  const answer = negotiate(req.headers.accept, media.type, config.defaultAccept, model);
  if (!answer) {
    throw new ServerError('NOT_ACCEPTABLE', `cannot answer with any type in Accept ${JSON.stringify(req.headers.accept)}; this server produces: ${model.produces.join(', ')}`);
  }
  return {
    requestId: id,
    model: model.name,
    input: { mediaType, params: media.params },
    output: { mediaType: answer, keys: config.inferenceOutput },
    tensorsAcceptable: acceptsJson(req.headers.accept),
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
  return { requestId: id, model: model.name, input: { kind: 'fields', fields }, output, tensorsAcceptable: true };
}
