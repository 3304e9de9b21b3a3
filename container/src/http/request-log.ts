// The request log rules, once for every route: one JSON line per request (reqId, req.method/path,
// res.status, durationMs, and rows/batch/error when known), its level, and the unexpected-error line.
import type { IncomingMessage } from 'node:http';
import type { Logger } from '../logger';

export interface RequestFacts {
  rows?: number;
  batch?: number;
  error?: string;
}

/** /ping is polled constantly: debug only. Server faults are errors, caller mistakes warnings. */
export function levelFor(path: string, status: number): 'debug' | 'info' | 'warn' | 'error' {
  if (path === '/ping') return 'debug';
  return status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
}

export class RequestLog {
  constructor(private readonly logger: Logger) {}

  request(id: string, req: IncomingMessage, status: number, started: number, facts: RequestFacts): void {
    const level = levelFor(req.url ?? '', status);
    if (!this.logger.isLevelEnabled(level)) return;
    this.logger[level](
      { reqId: id, req: { method: req.method, path: req.url }, res: { status }, durationMs: Math.round((performance.now() - started) * 10) / 10, ...facts },
      `${req.method} ${req.url} ${status}`,
    );
  }

  /** A fault of the server, answered INTERNAL_ERROR: the detail goes to the log only, once, with the request id. */
  unexpected(id: string, detail: unknown, where: string): void {
    this.logger.error({ reqId: id, err: detail }, `unexpected error in ${where}`);
  }
}
