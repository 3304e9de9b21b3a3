// The express app of one worker process: the routes off the hot path (execution parameters, 404/405, and
// what comes later), with pino-http request logging and error mapping. The hot routes are in handler.ts.
// HTTP code hands inference to an Invoker and never touches an ONNX session itself.
import express, { type NextFunction, type Request, type Response } from 'express';
import { pinoHttp } from 'pino-http';
import type { Config } from '../config';
import { ServerError, toWireError } from '../errors';
import type { InvokeResult, InvokeTask } from '../inference/protocol';
import type { BodyMemory } from '../inference/shared-bodies';
import type { Logger } from '../logger';
import { requestId } from './request-id';
import { sendError } from './respond';

export type HealthState = 'starting' | 'ready' | 'draining';

export interface AppDeps {
  config: Config;
  logger: Logger;
  /** Hands an invocation to the inference threads; it gives back a body read into `bodies` once done with it. */
  invoke(task: InvokeTask): Promise<InvokeResult>;
  /** Shared memory for request bodies under 64 KiB (see inference/shared-bodies.ts); without it each body gets its own buffer. */
  bodies?: BodyMemory;
  health(): HealthState;
}

export function createApp(deps: AppDeps): express.Express {
  const { config, logger } = deps;
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

  app.get('/execution-parameters', (_req, res) => {
    // What this server can run at once; the job's own settings, when SageMaker passed them, win.
    res.json({
      MaxConcurrentTransforms: config.maxConcurrentTransforms ?? config.workers * config.threads,
      BatchStrategy: config.batchStrategy ?? 'MULTI_RECORD',
      MaxPayloadInMB: config.maxPayloadMb === 0 ? 6 : Math.max(1, Math.floor(config.maxPayloadMb)),
    });
  });

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
