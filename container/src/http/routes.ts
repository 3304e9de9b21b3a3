// The route table of a worker: every endpoint, its method and which endpoint mode serves it, and how a
// request path is matched against it (a model name inside /models/{name} and /v2/models/{name}, a version
// in /v2/models/{name}/versions/{version}, 405 with the methods a known path takes). The handler
// dispatches with it; the parser-error answers (client-error.ts) read it too.

export type RouteName =
  | 'ping' | 'invocations' | 'execution-parameters' | 'predict-parameters' | 'list-models' | 'load-model' | 'describe-model' | 'unload-model' | 'invoke-model'
  | 'v2-server' | 'v2-live' | 'v2-ready' | 'v2-model' | 'v2-model-ready' | 'v2-infer';

export interface Route {
  readonly name: RouteName;
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** The path, with {name} standing for a model name. */
  readonly path: string;
  /** Which endpoint mode serves it: the single model, multi-model (SAGEMAKER_MULTI_MODEL=true), or both. */
  readonly mode: 'single' | 'multi' | 'both';
}

export const ROUTES: readonly Route[] = [
  { name: 'ping', method: 'GET', path: '/ping', mode: 'both' },
  { name: 'invocations', method: 'POST', path: '/invocations', mode: 'single' },
  { name: 'execution-parameters', method: 'GET', path: '/execution-parameters', mode: 'both' },
  { name: 'predict-parameters', method: 'GET', path: '/predict_parameters', mode: 'single' },
  { name: 'list-models', method: 'GET', path: '/models', mode: 'multi' },
  { name: 'load-model', method: 'POST', path: '/models', mode: 'multi' },
  { name: 'describe-model', method: 'GET', path: '/models/{name}', mode: 'multi' },
  { name: 'unload-model', method: 'DELETE', path: '/models/{name}', mode: 'multi' },
  { name: 'invoke-model', method: 'POST', path: '/models/{name}/invoke', mode: 'multi' },
  // The Open Inference Protocol (KServe V2): errors on these paths take its shape, {"error": "..."}.
  { name: 'v2-server', method: 'GET', path: '/v2', mode: 'both' },
  { name: 'v2-live', method: 'GET', path: '/v2/health/live', mode: 'both' },
  { name: 'v2-ready', method: 'GET', path: '/v2/health/ready', mode: 'both' },
  { name: 'v2-model', method: 'GET', path: '/v2/models/{name}', mode: 'both' },
  { name: 'v2-model-ready', method: 'GET', path: '/v2/models/{name}/ready', mode: 'both' },
  { name: 'v2-infer', method: 'POST', path: '/v2/models/{name}/infer', mode: 'both' },
];

/** Paths of the Open Inference Protocol, whose errors are {"error": "<message>"} (its specification's shape). */
export const isOipPath = (path: string): boolean => path === '/v2' || path.startsWith('/v2/');

const byPath = new Map<string, Route[]>();
for (const route of ROUTES) byPath.set(route.path, [...(byPath.get(route.path) ?? []), route]);

/** The path of a request target, without its query string. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/** What a request path names besides its route: a model, and on the Open Inference Protocol's paths a version. */
export interface PathParams {
  name?: string;
  version?: string;
}

/** /v2/models/{name}[/versions/{version}][/ready|/infer] as a template; undefined for other /v2/models paths. */
function oipTemplate(parts: string[]): ({ path: string } & PathParams) | undefined {
  // parts: ['', 'v2', 'models', name, ...rest]
  if (parts.length < 4 || parts[3] === '') return undefined;
  const name = decodeURIComponent(parts[3]);
  let rest = parts.slice(4);
  let version: string | undefined;
  if (rest[0] === 'versions') {
    if (rest.length < 2 || rest[1] === '') return undefined;
    version = decodeURIComponent(rest[1]);
    rest = rest.slice(2);
  }
  const tail = rest.length === 0 ? '' : rest.length === 1 && (rest[0] === 'ready' || rest[0] === 'infer') ? `/${rest[0]}` : undefined;
  return tail === undefined ? undefined : { path: `/v2/models/{name}${tail}`, name, ...(version !== undefined ? { version } : {}) };
}

/** A request path as a route template (/models/{name}...) and the model name (and version) it holds. */
function template(path: string): { path: string } & PathParams {
  const parts = path.split('/');
  if (path.startsWith('/v2/models/')) return oipTemplate(parts) ?? { path };
  if (!path.startsWith('/models/')) return { path };
  if (parts.length === 3 && parts[2] !== '') return { path: '/models/{name}', name: decodeURIComponent(parts[2]) };
  if (parts.length === 4 && parts[2] !== '' && parts[3] === 'invoke') return { path: '/models/{name}/invoke', name: decodeURIComponent(parts[2]) };
  return { path };
}

/** The routes of a request path (several methods may share one), or undefined for an unknown path. */
function routesOf(path: string): ({ routes: Route[] } & PathParams) | undefined {
  let t: { path: string } & PathParams;
  try {
    t = template(path);
  } catch {
    return undefined; // a malformed %-escape in the name: no such endpoint
  }
  const routes = byPath.get(t.path);
  return routes && { routes, name: t.name, version: t.version };
}

/** The methods a path answers: HEAD too on GET routes (the GET answer's status and headers, no body). */
const allowedMethods = (routes: readonly Route[]): string => routes.flatMap((r) => (r.method === 'GET' ? ['GET', 'HEAD'] : [r.method])).join(', ');

/** The methods a known path answers (for a 405's Allow), or undefined for an unknown path. */
export const allowedOn = (path: string): string | undefined => {
  const found = routesOf(path);
  return found && allowedMethods(found.routes);
};

export type Match = ({ route: Route } & PathParams) | { allowed: string };

/** The route a request is for; `allowed` names the methods a known path takes when this one is not among them. */
export function match(method: string | undefined, path: string): Match | undefined {
  const found = routesOf(path);
  if (!found) return undefined;
  const route = found.routes.find((r) => r.method === method) ?? (method === 'HEAD' ? found.routes.find((r) => r.method === 'GET') : undefined);
  return route ? { route, name: found.name, version: found.version } : { allowed: allowedMethods(found.routes) };
}

export const endpoints = (mode: 'single' | 'multi') => ROUTES.filter((r) => r.mode === mode || r.mode === 'both').map((r) => `${r.method} ${r.path}`).join(', ');
