// The express app of one worker process: routes, request logging and error mapping. It hands inference to
// an Invoker and never touches an ONNX session itself.
import express, { type NextFunction, type Request, type Response } from 'express';
import { pinoHttp } from 'pino-http';
import { payloadLimitBytes, type Config } from '../config';
import { REQUEST_TYPES, RESPONSE_TYPES, requestCodec } from '../codecs/registry';
import { ServerError, toWireError } from '../errors';
import type { InvokeResult, InvokeTask } from '../inference/protocol';
import type { Logger } from '../logger';
import { readBody } from './body';
import { acceptsJson, negotiate, parseMediaType } from './negotiation';
import { requestId } from './request-id';
import { sendError } from './respond';

export type HealthState = 'starting' | 'ready' | 'draining';

export interface AppDeps {
  config: Config;
  logger: Logger;
  invoke(task: InvokeTask): Promise<InvokeResult>;
  health(): HealthState;
}

function reply(req: Request, res: Response, result: InvokeResult): void {
  if (!result.ok) {
    if (result.detail) req.log.error({ detail: result.detail }, 'invocation failed unexpectedly');
    res.locals.errorCode = result.error.code;
    sendError(res, result.error);
    return;
  }
  res.locals.records = result.records;
  res.status(200).type(result.contentType).send(Buffer.from(result.body.buffer, result.body.byteOffset, result.body.byteLength));
}

const asyncRoute = (fn: (req: Request, res: Response) => Promise<void>) => (req: Request, res: Response, next: NextFunction) => {
  fn(req, res).catch(next);
};

export function createApp(deps: AppDeps): express.Express {
  const { config, logger } = deps;
  const limit = payloadLimitBytes(config);
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');

  app.use(
    pinoHttp({
      logger,
      genReqId: requestId,
      quietReqLogger: true,
      customAttributeKeys: { responseTime: 'durationMs' },
      customLogLevel: (req, res, err) => {
        if (req.url === '/ping') return 'debug';
        if (err || res.statusCode >= 500) return 'error';
        return res.statusCode >= 400 ? 'warn' : 'info';
      },
      customSuccessMessage: (req, res) => `${req.method} ${req.url} ${res.statusCode}`,
      customErrorMessage: (req, res) => `${req.method} ${req.url} ${res.statusCode}`,
      serializers: {
        req: (req: { method: string; url: string }) => ({ method: req.method, path: req.url }),
        res: (res: { statusCode: number }) => ({ status: res.statusCode }),
      },
      customProps: (_req, res) => {
        const locals = (res as Response).locals;
        return locals?.records !== undefined ? { rows: locals.records, error: locals.errorCode } : locals?.errorCode ? { error: locals.errorCode } : {};
      },
    }),
  );

  app.get('/ping', (_req, res) => {
    if (deps.health() === 'ready') {
      res.status(200).end();
      return;
    }
    const state = deps.health();
    sendError(res, { code: 'NOT_READY', message: state === 'draining' ? 'the server is shutting down' : 'the model is still loading' });
  });

  app.get('/execution-parameters', (_req, res) => {
    res.json({
      MaxConcurrentTransforms: config.workers * config.threads,
      BatchStrategy: 'MULTI_RECORD',
      MaxPayloadInMB: config.maxPayloadMb === 0 ? 6 : Math.max(1, Math.floor(config.maxPayloadMb)),
    });
  });

  app.post(
    '/invocations',
    asyncRoute(async (req, res) => {
      if (deps.health() === 'starting') throw new ServerError('NOT_READY', 'the model is still loading in this worker; retry, or wait for GET /ping to answer 200');
      const media = parseMediaType(req.headers['content-type']);
      if (!media || !requestCodec(media.type)) {
        const given = req.headers['content-type'] ? `Content-Type ${JSON.stringify(req.headers['content-type'])} is not supported` : 'the request has no Content-Type';
        // curl -d sends a form type: the most common first mistake, so say how to fix it.
        const hint = media?.type === 'application/x-www-form-urlencoded' ? " (curl -d sends that by default: add -H 'Content-Type: text/csv')" : '';
        throw new ServerError('UNSUPPORTED_MEDIA_TYPE', `${given}${hint}; send one of: ${REQUEST_TYPES.join(', ')}`);
      }
      const accept = negotiate(req.headers.accept, media.type, config.defaultAccept);
      if (!accept) {
        throw new ServerError('NOT_ACCEPTABLE', `cannot answer with any type in Accept ${JSON.stringify(req.headers.accept)}; this server produces: ${RESPONSE_TYPES.join(', ')}`);
      }
      const body = await readBody(req, limit);
      const result = await deps.invoke({ body, contentType: req.headers['content-type']!, accept, v2Acceptable: acceptsJson(req.headers.accept) });
      reply(req, res, result);
    }),
  );

  // One row by feature name as query parameters, answered as one JSON record (the H2O scorer's GET API).
  app.get(
    '/predict_parameters',
    asyncRoute(async (req, res) => {
      if (deps.health() === 'starting') throw new ServerError('NOT_READY', 'the model is still loading in this worker; retry, or wait for GET /ping to answer 200');
      if (!acceptsJson(req.headers.accept)) throw new ServerError('NOT_ACCEPTABLE', '/predict_parameters answers application/json, which Accept does not allow');
      const query: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.query as Record<string, string | string[]>)) {
        if (Array.isArray(value)) throw new ServerError('INVALID_PARAMETER', `parameter "${name}" is given ${value.length} times; give each feature once`);
        query[name] = value;
      }
      const result = await deps.invoke({ body: new Uint8Array(0), contentType: 'application/json', accept: 'application/json', v2Acceptable: true, query });
      reply(req, res, result);
    }),
  );

  const routes: Record<string, string> = { '/ping': 'GET', '/invocations': 'POST', '/execution-parameters': 'GET', '/predict_parameters': 'GET' };
  app.use((req, res) => {
    const allowed = routes[req.path];
    if (allowed) {
      res.setHeader('Allow', allowed);
      sendError(res, { code: 'METHOD_NOT_ALLOWED', message: `${req.method} is not allowed on ${req.path}; use ${allowed}` });
      return;
    }
    sendError(res, { code: 'NOT_FOUND', message: `no endpoint ${req.method} ${req.path}; endpoints: GET /ping, POST /invocations, GET /execution-parameters, GET /predict_parameters` });
  });

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    // express's own client errors (e.g. a malformed %-escape in the path) carry a 4xx status.
    const status = (err as { status?: unknown })?.status;
    const wire = typeof status === 'number' && status >= 400 && status < 500 && !(err instanceof ServerError)
      ? { code: 'INVALID_PARAMETER' as const, message: `the request cannot be read: ${String((err as Error).message).split('\n')[0]}` }
      : toWireError(err);
    if (wire.code === 'INTERNAL_ERROR') logger.error({ reqId: req.id, err }, 'unexpected error in the HTTP layer');
    res.locals.errorCode = wire.code;
    sendError(res, wire);
  });
  return app;
}
