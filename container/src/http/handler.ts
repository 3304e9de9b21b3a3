// A worker's request handler: one dispatcher for every route of the table (routes.ts). The hot routes
// (GET /ping, POST /invocations, GET /predict_parameters, the invoke and infer paths, and the Open
// Inference Protocol's small routes) are served on node:http directly: under load express's routing was a
// large share of each request's time. The control routes, 404 and 405 go to a small express app. Every
// route logs and answers errors through respond.ts (oip.ts on /v2 paths, in that protocol's shape).
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { payloadLimitBytes, type Config } from '../config/serving';
import { statusOfError, ServerError, toWireError, type WireError } from '../errors';
import type { Logger } from '../logger';
import { parseJson } from '../codecs/json';
import type { ControlRequest, LoadedModel, ModelControl } from '../models/control';
import type { Answer, Invocation, Model } from '../models/model';
import type { ModelRegistry } from '../models/registry';
import type { RequestMetrics } from '../metrics/recorder';
import type { BodyMemory } from '../shared-bodies';
import type { HealthState } from '../vocabulary';
import { readBody, resolveBodyInvocation, resolveFieldsInvocation } from './invocation';
import { checkVersion, modelMetadata, resolveInferInvocation, sendOipError, serverMetadata } from './oip';
import { endpoints, isOipPath, match, pathOf, ROUTES, type PathParams, type Route, type RouteName } from './routes';
import { errorCodeOf, RequestLog, requestId, send, sendError, sendJson, type RequestFacts } from './respond';

/** The name the single-model endpoint serves its model under. */
const SINGLE_MODEL = 'model';

/** Proxy mode: nginx sends POST /invocations to the scorer, and there is no ONNX model to ask by feature name. */
function notProxied(route: Route): WireError {
  return route.name === 'invocations'
    ? { code: 'NOT_FOUND', message: 'in proxy mode (MODEL_SERVER_UPSTREAM) nginx sends POST /invocations to the scorer; the workers do not serve it' }
    : { code: 'NOT_FOUND', message: `${route.method} ${route.path} needs an ONNX model; in proxy mode (MODEL_SERVER_UPSTREAM) the scorer answers POST /invocations` };
}

/** A route of the other endpoint mode: say how this server is set up, and what to call instead. */
function wrongMode(route: Route, multiModel: boolean): WireError {
  return multiModel
    ? { code: 'NOT_FOUND', message: `${route.method} ${route.path} serves the single-model endpoint; this one hosts several models (SAGEMAKER_MULTI_MODEL=true): invoke one with POST /models/<name>/invoke after loading it with POST /models` }
    : { code: 'NOT_FOUND', message: `${route.method} ${route.path} is part of the multi-model API, which is off: set SAGEMAKER_MULTI_MODEL=true to host several models (SageMaker sets it for a model created with Mode=MultiModel); this endpoint serves one model at POST /invocations` };
}

export interface EdgeDeps {
  config: Config;
  logger: Logger;
  models: ModelRegistry;
  /** Shared memory for request bodies under 64 KiB (see shared-bodies.ts); without it each body gets its own buffer. */
  bodies?: BodyMemory;
  /** This worker's state, as the server's primary says it. */
  health(): HealthState;
  /** Why the server cannot serve although it is ready (proxy mode: the scorer is not healthy), if so. */
  unready?(): WireError | undefined;
  /** The multi-model API's table of models (multi-model mode). */
  control?: ModelControl;
  /** Whether the server holds a model of this name on some worker (multi-model mode). */
  isLoaded?(name: string): boolean;
  /** Where inference requests are counted and timed (MODEL_SERVER_METRICS), if anywhere. */
  metrics?: RequestMetrics;
}

/** The routes that invoke a model: counted and timed per model. */
const INFERENCE_ROUTES: ReadonlySet<RouteName> = new Set(['invocations', 'invoke-model', 'predict-parameters', 'v2-infer']);

const EMPTY = Buffer.alloc(0);

type Hot = (id: string, req: IncomingMessage, res: ServerResponse, started: number, params: PathParams) => Promise<void>;

/** How an error is written: the product's {"error": {"code", "message"}}, or the Open Inference Protocol's {"error": "..."}. */
type ErrorWriter = (res: ServerResponse, error: WireError, headers?: Record<string, string>) => void;

export function createHandler(deps: EdgeDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { config } = deps;
  const limit = payloadLimitBytes(config);
  const log = new RequestLog(deps.logger);
  const app = createControlApp(deps, limit);

  const { metrics } = deps;
  // (metrics.answered goes before the answer is written: see metrics/recorder.ts)
  const fail = (id: string, req: IncomingMessage, res: ServerResponse, started: number, error: WireError, writeError: ErrorWriter = sendError) => {
    const status = statusOfError(error);
    metrics?.answered(res, status, started);
    writeError(res, error);
    log.request(id, req, status, started, { error: error.code });
  };

  const reply = (id: string, req: IncomingMessage, res: ServerResponse, started: number, answer: Answer, facts: RequestFacts = {}, writeError: ErrorWriter = sendError) => {
    if (!answer.ok) {
      if (answer.detail) log.unexpected(id, answer.detail, 'an invocation');
      const status = statusOfError(answer.error);
      metrics?.answered(res, status, started, answer.timing);
      writeError(res, answer.error, answer.headers);
      log.request(id, req, status, started, { ...facts, error: answer.error.code });
      return;
    }
    // Built-in answers are UTF-8 text; users' code says its own type (an image has no charset).
    const type = answer.exactType || answer.contentType === 'application/json' ? answer.contentType : `${answer.contentType}; charset=utf-8`;
    metrics?.answered(res, 200, started, answer.timing);
    send(res, 200, type, answer.body, answer.headers);
    log.request(id, req, 200, started, { ...facts, rows: answer.records, ...(answer.batch && answer.batch > 1 ? { batch: answer.batch } : {}) });
  };

  /** The model label of an inference request: the single model's own name, or a multi-model name the server knows (else one label for all unknown names). */
  const modelLabel = (routeName: RouteName, name: string | undefined): string => {
    if (routeName === 'invocations' || routeName === 'predict-parameters' || !config.multiModel) return config.modelName;
    return name !== undefined && (deps.models.state(name) !== undefined || deps.isLoaded?.(name)) ? name : '(unknown)';
  };

  /** The model to invoke, once it is ready in this worker. */
  const readyModel = (): Model => {
    const model = deps.models.ready(SINGLE_MODEL);
    if (!model) throw new ServerError('NOT_READY', 'the model is still loading in this worker; retry, or wait for GET /ping to answer 200');
    return model;
  };

  /** A named model this worker holds; else 503 while the server holds it elsewhere (its worker restarting), else 404. */
  const heldModel = (name: string): Model => {
    const model = deps.models.ready(name);
    if (model) return model;
    if (deps.models.state(name) === 'loading' || deps.isLoaded?.(name)) {
      throw new ServerError('MODEL_UNAVAILABLE', `model "${name}" is loaded, but the worker holding it is restarting or still loading it; retry shortly`);
    }
    throw new ServerError('MODEL_NOT_LOADED', `model "${name}" is not loaded: load it with POST /models {"model_name": "${name}", "url": "<its folder>"}`);
  };

  /** The model an Open Inference Protocol path names, and the name it answers by (the single model's own, or the path's). */
  const oipModel = ({ name, version }: PathParams): { model: Model; name: string } => {
    checkVersion(name!, version);
    if (config.multiModel) return { model: heldModel(name!), name: name! };
    if (config.upstream) throw new ServerError('MODEL_NOT_LOADED', `no model "${name}": in proxy mode (MODEL_SERVER_UPSTREAM) the scorer answers POST /invocations, and the server holds no model`);
    if (name !== SINGLE_MODEL && name !== config.modelName) {
      throw new ServerError('MODEL_NOT_LOADED', `no model "${name}": this endpoint serves "${config.modelName}"${config.modelName === SINGLE_MODEL ? '' : ` (also as "${SINGLE_MODEL}")`} (MODEL_SERVER_MODEL_NAME, or serve --model_name)`);
    }
    return { model: readyModel(), name: config.modelName };
  };

  /** Why the server does not take traffic (GET /ping and the Open Inference Protocol's readiness), or undefined when it does. */
  const notReady = (): WireError | undefined => {
    const state = deps.health();
    return state === 'ready'
      ? deps.unready?.()
      : { code: 'NOT_READY', message: state === 'draining' ? 'the server is shutting down' : config.upstream ? 'the server is starting' : 'the model is still loading' };
  };

  /** A body invocation of a model, from resolving the request to the answer. */
  const invokeBody = async (model: Model, id: string, req: IncomingMessage, res: ServerResponse, started: number, facts?: RequestFacts, answerAs?: { modelName: string; version?: string }) => {
    const resolved = answerAs ? resolveInferInvocation(req, id, model.describe()!, config, answerAs) : resolveBodyInvocation(req, id, model.describe()!, config);
    const body = await readBody(req, limit, deps.bodies);
    const invocation: Invocation = { ...resolved, input: { kind: 'body', ...resolved.input, body } };
    reply(id, req, res, started, await invoke(model, invocation, res), facts, answerAs ? sendOipError : sendError);
  };

  const invoke = (model: Model, invocation: Invocation, res: ServerResponse): Promise<Answer> => {
    // The caller may go away while the invocation waits for a thread: then it is dropped, not run.
    // (Only when the response was not sent: 'close' follows every response, and abort() is not free.)
    return model.invoke(invocation, (drop) =>
      res.once('close', () => {
        if (!res.writableFinished) drop();
      }),
    );
  };

  const hot: Partial<Record<RouteName, Hot>> = {
    ping: async (id, req, res, started) => {
      const problem = notReady();
      if (problem) sendError(res, problem);
      else send(res, 200, undefined, EMPTY);
      log.request(id, req, res.statusCode, started, {});
    },
    invocations: async (id, req, res, started) => invokeBody(readyModel(), id, req, res, started),
    'invoke-model': async (id, req, res, started, { name }) => {
      const target = req.headers['x-amzn-sagemaker-target-model'];
      return invokeBody(heldModel(name!), id, req, res, started, { model: name, ...(typeof target === 'string' ? { targetModel: target } : {}) });
    },
    'v2-infer': async (id, req, res, started, params) => {
      const { model, name } = oipModel(params);
      return invokeBody(model, id, req, res, started, config.multiModel ? { model: name } : {}, { modelName: name, ...(params.version !== undefined ? { version: params.version } : {}) });
    },
    'v2-server': async (id, req, res, started) => {
      sendJson(res, 200, serverMetadata());
      log.request(id, req, 200, started, {});
    },
    // nginx answers this itself (while no worker listens too); a worker answers it alike.
    'v2-live': async (id, req, res, started) => {
      sendJson(res, 200, { live: true });
      log.request(id, req, 200, started, {});
    },
    'v2-ready': async (id, req, res, started) => {
      req.resume();
      const problem = notReady();
      if (problem) return fail(id, req, res, started, problem, sendOipError);
      sendJson(res, 200, { ready: true });
      log.request(id, req, 200, started, {});
    },
    'v2-model': async (id, req, res, started, params) => {
      const { model, name } = oipModel(params);
      sendJson(res, 200, modelMetadata(model.describe()!, name));
      log.request(id, req, 200, started, {});
    },
    'v2-model-ready': async (id, req, res, started, params) => {
      const { name } = oipModel(params);
      const problem = notReady();
      if (problem) return fail(id, req, res, started, problem, sendOipError);
      sendJson(res, 200, { name, ready: true });
      log.request(id, req, 200, started, {});
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
    if (found && 'route' in found && found.route.mode !== 'both' && (found.route.mode === 'multi') !== config.multiModel) {
      req.resume();
      return fail(id, req, res, started, wrongMode(found.route, config.multiModel));
    }
    if (found && 'route' in found && config.upstream && found.route.mode === 'single') {
      req.resume();
      return fail(id, req, res, started, notProxied(found.route));
    }
    const route = found && 'route' in found ? hot[found.route.name] : undefined;
    if (metrics && found && 'route' in found && INFERENCE_ROUTES.has(found.route.name)) metrics.begin(res, modelLabel(found.route.name, found.name), found.route.name);
    const writeError = isOipPath(pathOf(req.url ?? '')) ? sendOipError : sendError;
    if (!route) {
      // Control routes, 404 and 405: express, logged here like every other route.
      res.once('finish', () => log.request(id, req, res.statusCode, started, { error: errorCodeOf(res) }));
      app(req, res, id, log);
      return;
    }
    // Every handler is async: whatever it throws becomes a rejected promise answered here, never a crash.
    route(id, req, res, started, found as PathParams).catch((err: unknown) => {
      const wire = toWireError(err);
      if (wire.code === 'INTERNAL_ERROR') log.unexpected(id, err, 'the HTTP layer');
      req.resume();
      fail(id, req, res, started, wire, writeError);
    });
  };
}

// The express app: the control routes (GET /execution-parameters, the multi-model API), registered from
// the route table, and 404/405 for everything unrouted.
type ControlApp = (req: IncomingMessage, res: ServerResponse, id: string, log: RequestLog) => void;

type ControlHandler = (req: Request, res: Response) => Promise<void>;

/** GET /models paging: SageMaker sends next_page_token (multi-model-server also reads limit, at most 1000). */
function page(query: Request['query'], total: number): { from: number; to: number } {
  const text = (name: string) => (typeof query[name] === 'string' ? (query[name] as string) : undefined);
  const token = text('next_page_token') ?? text('nextPageToken');
  const limitText = text('limit');
  const from = token === undefined ? 0 : Number(token);
  if (!Number.isSafeInteger(from) || from < 0 || (token !== undefined && !/^\d+$/.test(token))) {
    throw new ServerError('INVALID_PARAMETER', `next_page_token=${JSON.stringify(token)} is not a token this server gave out (a whole number)`);
  }
  const limit = limitText === undefined ? 100 : Number(limitText);
  if (!/^\d+$/.test(limitText ?? '100') || limit < 1 || limit > 1000) {
    throw new ServerError('INVALID_PARAMETER', `limit=${JSON.stringify(limitText)} must be a whole number from 1 to 1000`);
  }
  return { from, to: Math.min(total, from + limit) };
}

function createControlApp(deps: EdgeDeps, limit: number | undefined): ControlApp {
  const { config } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');

  const control = async (request: ControlRequest): Promise<LoadedModel[]> => {
    if (!deps.control) throw new ServerError('INTERNAL_ERROR', 'no model table in this worker');
    const reply = await deps.control.request(request);
    if (!reply.ok) throw new ServerError(reply.error.code, reply.error.message);
    return reply.models ?? [];
  };

  const handlers: Partial<Record<RouteName, ControlHandler>> = {
    'execution-parameters': async (_req, res) => {
      // What this server can run at once; the job's own settings, when SageMaker passed them, win.
      sendJson(res, 200, {
        MaxConcurrentTransforms: config.maxConcurrentTransforms ?? (config.upstream ? config.upstream.concurrency : config.workers * config.threads),
        BatchStrategy: config.batchStrategy ?? 'MULTI_RECORD',
        MaxPayloadInMB: config.maxPayloadMb === 0 ? 6 : Math.max(1, Math.floor(config.maxPayloadMb)),
      });
    },
    'list-models': async (req, res) => {
      const models = await control({ op: 'list' });
      const { from, to } = page(req.query, models.length);
      sendJson(res, 200, { models: models.slice(from, to), ...(to < models.length ? { nextPageToken: String(to) } : {}) });
    },
    'describe-model': async (req, res) => {
      const name = req.params.name as string;
      const found = (await control({ op: 'list' })).find((m) => m.modelName === name);
      if (!found) throw new ServerError('MODEL_NOT_LOADED', `model "${name}" is not loaded`);
      sendJson(res, 200, found);
    },
    'load-model': async (req, res) => {
      const body = await readBody(req, Math.min(limit ?? 1 << 20, 1 << 20));
      const doc = body.byteLength === 0 ? undefined : parseJson(Buffer.from(body).toString('utf8'));
      const fields = typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? (doc as Record<string, unknown>) : undefined;
      if (!fields || typeof fields.model_name !== 'string' || typeof fields.url !== 'string') {
        throw new ServerError('MALFORMED_JSON', 'POST /models needs a JSON object {"model_name": "<name>", "url": "<the model\'s folder>"}');
      }
      await control({ op: 'load', name: fields.model_name, url: fields.url });
      sendJson(res, 200, { status: 'loaded', modelName: fields.model_name, modelUrl: fields.url });
    },
    'unload-model': async (req, res) => {
      const name = req.params.name as string;
      await control({ op: 'unload', name });
      sendJson(res, 200, { status: 'unloaded', modelName: name });
    },
  };

  for (const route of ROUTES) {
    const handler = handlers[route.name];
    if (!handler) continue;
    const method = route.method.toLowerCase() as 'get' | 'post' | 'delete';
    app[method](route.path.replace('{name}', ':name'), (req, res, next) => void handler(req, res).catch(next));
  }

  app.use((req, res) => {
    const found = match(req.method, req.path);
    const writeError = isOipPath(req.path) ? sendOipError : sendError;
    if (found && 'allowed' in found) {
      writeError(res, { code: 'METHOD_NOT_ALLOWED', message: `${req.method} is not allowed on ${req.path}; use ${found.allowed}` }, { Allow: found.allowed });
      return;
    }
    writeError(res, { code: 'NOT_FOUND', message: `no endpoint ${req.method} ${req.path}; endpoints: ${endpoints(config.multiModel ? 'multi' : 'single')}` });
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
