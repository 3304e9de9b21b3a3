// The express app of one worker: the control routes (GET /execution-parameters, and the 404/405 answers
// for everything unrouted). The dispatcher (handler.ts) sends it what is not a hot route and logs it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Config } from '../config';
import { ServerError, toWireError } from '../errors';
import type { RequestLog } from './request-log';
import { sendError, sendJson } from './respond';
import { ENDPOINTS, match } from './routes';

export type ControlApp = (req: IncomingMessage, res: ServerResponse, id: string, log: RequestLog) => void;

export function createApp(deps: { config: Config }): ControlApp {
  const { config } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');

  app.get('/execution-parameters', (_req, res) => {
    // What this server can run at once; the job's own settings, when SageMaker passed them, win.
    sendJson(res, 200, {
      MaxConcurrentTransforms: config.maxConcurrentTransforms ?? config.workers * config.threads,
      BatchStrategy: config.batchStrategy ?? 'MULTI_RECORD',
      MaxPayloadInMB: config.maxPayloadMb === 0 ? 6 : Math.max(1, Math.floor(config.maxPayloadMb)),
    });
  });

  app.use((req, res) => {
    const found = match(req.method, req.path);
    if (found && 'allowed' in found) {
      sendError(res, { code: 'METHOD_NOT_ALLOWED', message: `${req.method} is not allowed on ${req.path}; use ${found.allowed}` }, { Allow: found.allowed });
      return;
    }
    sendError(res, { code: 'NOT_FOUND', message: `no endpoint ${req.method} ${req.path}; endpoints: ${ENDPOINTS}` });
  });

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    // express's own client errors (e.g. a malformed %-escape in the path) carry a 4xx status.
    const status = (err as { status?: unknown })?.status;
    const wire = typeof status === 'number' && status >= 400 && status < 500 && !(err instanceof ServerError)
      ? { code: 'INVALID_PARAMETER' as const, message: `the request cannot be read: ${String((err as Error).message).split('\n')[0]}` }
      : toWireError(err);
    if (wire.code === 'INTERNAL_ERROR') (res.locals.log as RequestLog).unexpected(res.locals.id as string, err, 'the HTTP layer');
    sendError(res, wire);
  });

  return (req, res, id, log) => {
    // res.locals is set by express only once it handles the request: give it what the error handler needs.
    (res as Response).locals = { id, log };
    app(req as Request, res as Response);
  };
}
