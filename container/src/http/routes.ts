// The route table: every endpoint once, for dispatch, for 405's Allow header and for 404's list.
export type RouteName = 'ping' | 'invocations' | 'execution-parameters' | 'predict-parameters';

export interface Route {
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
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/** The route a request is for; `allowed` names the method a known path takes when this one is not it. */
export function match(method: string | undefined, path: string): { route: Route } | { allowed: string } | undefined {
  const route = byPath.get(path);
  if (!route) return undefined;
  return route.method === method ? { route } : { allowed: route.method };
}

export const ENDPOINTS = ROUTES.map((r) => `${r.method} ${r.path}`).join(', ');
