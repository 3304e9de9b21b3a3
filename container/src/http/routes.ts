// The route table of a worker: every endpoint, its method and which endpoint mode serves it, and how a
// request path is matched against it (a model name inside /models/{name}, 405 with the methods a known
// path takes). The handler dispatches with it; the parser-error answers (client-error.ts) read it too.

export type RouteName = 'ping' | 'invocations' | 'execution-parameters' | 'predict-parameters' | 'list-models' | 'load-model' | 'describe-model' | 'unload-model' | 'invoke-model';

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
];

const byPath = new Map<string, Route[]>();
for (const route of ROUTES) byPath.set(route.path, [...(byPath.get(route.path) ?? []), route]);

/** The path of a request target, without its query string. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/** A request path as a route template (/models/{name}...) and the model name it holds. */
function template(path: string): { path: string; name?: string } {
  if (!path.startsWith('/models/')) return { path };
  const parts = path.split('/');
  if (parts.length === 3 && parts[2] !== '') return { path: '/models/{name}', name: decodeURIComponent(parts[2]) };
  if (parts.length === 4 && parts[2] !== '' && parts[3] === 'invoke') return { path: '/models/{name}/invoke', name: decodeURIComponent(parts[2]) };
  return { path };
}

/** The routes of a request path (several methods may share one), or undefined for an unknown path. */
function routesOf(path: string): { routes: Route[]; name?: string } | undefined {
  let t: { path: string; name?: string };
  try {
    t = template(path);
  } catch {
    return undefined; // a malformed %-escape in the name: no such endpoint
  }
  const routes = byPath.get(t.path);
  return routes && { routes, name: t.name };
}

/** The methods a path answers: HEAD too on GET routes (the GET answer's status and headers, no body). */
const allowedMethods = (routes: readonly Route[]): string => routes.flatMap((r) => (r.method === 'GET' ? ['GET', 'HEAD'] : [r.method])).join(', ');

/** The methods a known path answers (for a 405's Allow), or undefined for an unknown path. */
export const allowedOn = (path: string): string | undefined => {
  const found = routesOf(path);
  return found && allowedMethods(found.routes);
};

export type Match = { route: Route; name?: string } | { allowed: string };

/** The route a request is for; `allowed` names the methods a known path takes when this one is not among them. */
export function match(method: string | undefined, path: string): Match | undefined {
  const found = routesOf(path);
  if (!found) return undefined;
  const route = found.routes.find((r) => r.method === method) ?? (method === 'HEAD' ? found.routes.find((r) => r.method === 'GET') : undefined);
  return route ? { route, name: found.name } : { allowed: allowedMethods(found.routes) };
}

export const endpoints = (mode: 'single' | 'multi') => ROUTES.filter((r) => r.mode === mode || r.mode === 'both').map((r) => `${r.method} ${r.path}`).join(', ');
