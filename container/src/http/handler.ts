// A worker's request handler: one dispatcher for every route. The hot routes (GET /ping, POST
// /invocations, GET /predict_parameters) are served here on node:http; the others go to the express app
// (app.ts). Every route logs through RequestLog and answers errors through respond.ts.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { payloadLimitBytes, type Config } from '../config';
import { statusOf, ServerError, toWireError, type WireError } from '../errors';
import type { Logger } from '../logger';
import type { Answer, Invocation, Model } from '../models/model';
import type { ModelRegistry } from '../models/registry';
import type { BodyMemory } from '../shared-bodies';
import type { HealthState } from '../vocabulary';
import { createApp } from './app';
import { readBody } from './body';
import { resolveBodyInvocation, resolveFieldsInvocation } from './invocation';
import { RequestLog } from './request-log';
import { send, sendError, errorCodeOf } from './respond';
import { requestId } from './request-id';
import { match, pathOf, type RouteName } from './routes';

/** The name the single-model endpoint serves its model under. */
export const SINGLE_MODEL = 'model';

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
  const app = createApp(deps);

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
