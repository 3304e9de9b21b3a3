// The worker's request handler. The hot routes (POST /invocations, GET /ping, GET /predict_parameters)
// are served here directly on node:http: under load express's routing and pino-http's per-request child
// logger were a large share of each request's time (see the README's performance notes). Everything else
// goes to the express app. Both log one JSON line per request with the same fields.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { payloadLimitBytes } from '../config';
import { REQUEST_TYPES, RESPONSE_TYPES, requestCodec } from '../codecs/registry';
import { errorBody, ServerError, statusOf, toWireError, type WireError } from '../errors';
import type { InvokeResult } from '../inference/protocol';
import { createApp, type AppDeps } from './app';
import { readBody } from './body';
import { acceptsJson, negotiate, parseMediaType } from './negotiation';
import { requestId } from './request-id';

const EMPTY = Buffer.alloc(0);

export function createHandler(deps: AppDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { config, logger } = deps;
  const limit = payloadLimitBytes(config);
  const app = createApp(deps);

  /** One log line per request, in pino-http's shape: reqId, req.method/path, res.status, durationMs, rows. */
  const log = (id: string, req: IncomingMessage, status: number, started: number, extra: { rows?: number; error?: string; batch?: number }) => {
    const level = req.url === '/ping' ? 'debug' : status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
    if (!logger.isLevelEnabled(level)) return;
    logger[level](
      { reqId: id, req: { method: req.method, path: req.url }, res: { status }, durationMs: Math.round((performance.now() - started) * 10) / 10, ...extra },
      `${req.method} ${req.url} ${status}`,
    );
  };

  /** Sends bytes, or a latin1 string of bytes (one character per byte: how threads return small answers). */
  const send = (res: ServerResponse, status: number, contentType: string | undefined, body: Uint8Array | string) => {
    const headers: Record<string, string | number> = { 'Content-Length': typeof body === 'string' ? body.length : body.byteLength };
    if (contentType) headers['Content-Type'] = contentType;
    res.writeHead(status, headers);
    res.end(body, 'latin1'); // the encoding applies to strings only
  };

  const fail = (id: string, req: IncomingMessage, res: ServerResponse, started: number, error: WireError) => {
    if (!res.headersSent) send(res, statusOf(error.code), 'application/json', Buffer.from(JSON.stringify(errorBody(error))));
    log(id, req, statusOf(error.code), started, { error: error.code });
  };

  const reply = (id: string, req: IncomingMessage, res: ServerResponse, started: number, result: InvokeResult) => {
    if (!result.ok) {
      if (result.detail) logger.error({ reqId: id, detail: result.detail }, 'invocation failed unexpectedly');
      return fail(id, req, res, started, result.error);
    }
    send(res, 200, result.contentType === 'application/json' ? 'application/json' : `${result.contentType}; charset=utf-8`, result.body);
    log(id, req, 200, started, { rows: result.records, ...(result.batch && result.batch > 1 ? { batch: result.batch } : {}) });
  };

  const invocations = async (id: string, req: IncomingMessage, res: ServerResponse, started: number) => {
    if (deps.health() === 'starting') throw new ServerError('NOT_READY', 'the model is still loading in this worker; retry, or wait for GET /ping to answer 200');
    const header = req.headers['content-type'];
    const media = parseMediaType(header);
    if (!media || !requestCodec(media.type)) {
      const given = header ? `Content-Type ${JSON.stringify(header)} is not supported` : 'the request has no Content-Type';
      // curl -d sends a form type: the most common first mistake, so say how to fix it.
      const hint = media?.type === 'application/x-www-form-urlencoded' ? " (curl -d sends that by default: add -H 'Content-Type: text/csv')" : '';
      throw new ServerError('UNSUPPORTED_MEDIA_TYPE', `${given}${hint}; send one of: ${REQUEST_TYPES.join(', ')}`);
    }
    const accept = negotiate(req.headers.accept, media.type, config.defaultAccept);
    if (!accept) {
      throw new ServerError('NOT_ACCEPTABLE', `cannot answer with any type in Accept ${JSON.stringify(req.headers.accept)}; this server produces: ${RESPONSE_TYPES.join(', ')}`);
    }
    const body = await readBody(req, limit, deps.bodies);
    reply(id, req, res, started, await deps.invoke({ body, contentType: header!, accept, v2Acceptable: acceptsJson(req.headers.accept) }));
  };

  const predictParameters = async (id: string, req: IncomingMessage, res: ServerResponse, started: number) => {
    if (deps.health() === 'starting') throw new ServerError('NOT_READY', 'the model is still loading in this worker; retry, or wait for GET /ping to answer 200');
    if (!acceptsJson(req.headers.accept)) throw new ServerError('NOT_ACCEPTABLE', '/predict_parameters answers application/json, which Accept does not allow');
    const query: Record<string, string> = {};
    const search = req.url!.slice(req.url!.indexOf('?') + 1);
    for (const [name, value] of new URLSearchParams(search)) {
      if (name in query) throw new ServerError('INVALID_PARAMETER', `parameter "${name}" is given more than once; give each feature once`);
      query[name] = value;
    }
    req.resume();
    reply(id, req, res, started, await deps.invoke({ body: new Uint8Array(0), contentType: 'application/json', accept: 'application/json', v2Acceptable: true, query }));
  };

  return (req, res) => {
    const url = req.url ?? '';
    const route =
      req.method === 'POST' && url === '/invocations' ? invocations
        : req.method === 'GET' && (url === '/predict_parameters' || url.startsWith('/predict_parameters?')) ? predictParameters
          : undefined;
    if (req.method === 'GET' && url === '/ping') {
      const started = performance.now();
      const id = requestId(req, res);
      const state = deps.health();
      if (state === 'ready') send(res, 200, undefined, EMPTY);
      else send(res, 503, 'application/json', Buffer.from(JSON.stringify(errorBody({ code: 'NOT_READY', message: state === 'draining' ? 'the server is shutting down' : 'the model is still loading' }))));
      log(id, req, res.statusCode, started, {});
      return;
    }
    if (!route) {
      app(req, res);
      return;
    }
    const started = performance.now();
    const id = requestId(req, res);
    route(id, req, res, started).catch((err: unknown) => {
      const wire = toWireError(err);
      if (wire.code === 'INTERNAL_ERROR') logger.error({ reqId: id, err }, 'unexpected error in the HTTP layer');
      fail(id, req, res, started, wire);
    });
  };
}
