// A worker's request handler: the route table and one dispatcher for every route. The hot routes
// (GET /ping, POST /invocations, GET /predict_parameters) are served on node:http directly: under load
// express's routing was a large share of each request's time. The control routes, 404 and 405 go to a
// small express app. Every route logs and answers errors through respond.ts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { payloadLimitBytes, type Config } from '../config';
import { statusOf, ServerError, toWireError, type WireError } from '../errors';
import type { Logger } from '../logger';
import type { Answer, Invocation, Model } from '../models/model';
import type { ModelRegistry } from '../models/registry';
import type { BodyMemory } from '../shared-bodies';
import type { HealthState } from '../vocabulary';
import { readBody, resolveBodyInvocation, resolveFieldsInvocation } from './invocation';
import { errorCodeOf, RequestLog, requestId, send, sendError, sendJson } from './respond';

type RouteName = 'ping' | 'invocations' | 'execution-parameters' | 'predict-parameters';

interface Route {
  readonly name: RouteName;
  readonly method: 'GET' | 'POST';
  readonly path: string;
}

export const ROUTES: readonly Route[] = [
  { name: 'ping', method: 'GET', path: '/ping' },
  { name: 'invocations', method: 'POST', path: '/invocations' },
  { name: 'execution-parameters', method: 'GET', path: '/execution-parameters' },
  { name: 'predict-parameters', method: 'GET', path: '/predict_parameters' },
];

const byPath = new Map(ROUTES.map((r) => [r.path, r]));

/** The path of a request target, without its query string. */
function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/** The methods a route answers: HEAD too on GET routes (the GET answer's status and headers, no body). */
const allowedMethods = (route: Route): string => (route.method === 'GET' ? 'GET, HEAD' : route.method);

/** The methods a known path answers (for a 405's Allow), or undefined for an unknown path. */
export const allowedOn = (path: string): string | undefined => {
  const route = byPath.get(path);
  return route && allowedMethods(route);
};

/** The route a request is for; `allowed` names the methods a known path takes when this one is not among them. */
function match(method: string | undefined, path: string): { route: Route } | { allowed: string } | undefined {
  const route = byPath.get(path);
  if (!route) return undefined;
  return route.method === method || (method === 'HEAD' && route.method === 'GET') ? { route } : { allowed: allowedMethods(route) };
}

const ENDPOINTS = ROUTES.map((r) => `${r.method} ${r.path}`).join(', ');

/** The name the single-model endpoint serves its model under. */
const SINGLE_MODEL = 'model';

export interface EdgeDeps {
  config: Config;
  logger: Logger;
  models: ModelRegistry;
  /** Shared memory for request bodies under 64 KiB (see shared-bodies.ts); without it each body gets its own buffer. */
  bodies?: BodyMemory;
  /** This worker's state: ready only when the server is and its models are. */
  health(): HealthState;
}

const EMPTY = Buffer.alloc(0);

type Hot = (id: string, req: IncomingMessage, res: ServerResponse, started: number) => Promise<void>;

export function createHandler(deps: EdgeDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { config } = deps;
  const limit = payloadLimitBytes(config);
  const log = new RequestLog(deps.logger);
  const app = createControlApp(deps);

  const fail = (id: string, req: IncomingMessage, res: ServerResponse, started: number, error: WireError) => {
    sendError(res, error);
    log.request(id, req, statusOf(error.code), started, { error: error.code });
  };

  const reply = (id: string, req: IncomingMessage, res: ServerResponse, started: number, answer: Answer) => {
    if (!answer.ok) {
      if (answer.detail) log.unexpected(id, answer.detail, 'an invocation');
      return fail(id, req, res, started, answer.error);
    }
    send(res, 200, answer.contentType === 'application/json' ? 'application/json' : `${answer.contentType}; charset=utf-8`, answer.body);
    log.request(id, req, 200, started, { rows: answer.records, ...(answer.batch && answer.batch > 1 ? { batch: answer.batch } : {}) });
  };

  /** The model to invoke, once it is ready in this worker. */
  const readyModel = (): Model => {
    const model = deps.models.ready(SINGLE_MODEL);
    if (!model) throw new ServerError('NOT_READY', 'the model is still loading in this worker; retry, or wait for GET /ping to answer 200');
    return model;
  };

  const invoke = (model: Model, invocation: Invocation, res: ServerResponse): Promise<Answer> => {
    // The caller may go away while the invocation waits for a thread: then it is dropped, not run.
    const gone = new AbortController();
    res.once('close', () => gone.abort());
    return model.invoke(invocation, gone.signal);
  };

  const hot: Partial<Record<RouteName, Hot>> = {
    ping: async (id, req, res, started) => {
      const state = deps.health();
      if (state === 'ready') send(res, 200, undefined, EMPTY);
      else sendError(res, { code: 'NOT_READY', message: state === 'draining' ? 'the server is shutting down' : 'the model is still loading' });
      log.request(id, req, res.statusCode, started, {});
    },
    invocations: async (id, req, res, started) => {
      const model = readyModel();
      const resolved = resolveBodyInvocation(req, id, model.describe()!, config);
      const body = await readBody(req, limit, deps.bodies);
      const invocation: Invocation = { ...resolved, input: { kind: 'body', ...resolved.input, body } };
      reply(id, req, res, started, await invoke(model, invocation, res));
    },
    'predict-parameters': async (id, req, res, started) => {
      const model = readyModel();
      const invocation = resolveFieldsInvocation(req, id, model.describe()!, config);
      req.resume();
      reply(id, req, res, started, await invoke(model, invocation, res));
    },
  };

  return (req, res) => {
    const started = performance.now();
    const id = requestId(req, res);
    const found = match(req.method, pathOf(req.url ?? ''));
    const route = found && 'route' in found ? hot[found.route.name] : undefined;
    if (!route) {
      // Control routes, 404 and 405: express, logged here like every other route.
      res.once('finish', () => log.request(id, req, res.statusCode, started, { error: errorCodeOf(res) }));
      app(req, res, id, log);
      return;
    }
    route(id, req, res, started).catch((err: unknown) => {
      const wire = toWireError(err);
      if (wire.code === 'INTERNAL_ERROR') log.unexpected(id, err, 'the HTTP layer');
      fail(id, req, res, started, wire);
    });
  };
}

// The express app: the control routes (GET /execution-parameters), and 404/405 for everything unrouted.
type ControlApp = (req: IncomingMessage, res: ServerResponse, id: string, log: RequestLog) => void;

function createControlApp(deps: { config: Config }): ControlApp {
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
