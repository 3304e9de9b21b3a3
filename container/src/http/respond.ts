// What every response carries, once for every route: its request id, its body (bytes, or the JSON error
// with the status from the catalogue; never a stack trace), and its one JSON log line.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody, statusOfError, type ErrorCode, type WireError } from '../errors';
import type { Logger } from '../logger';

const VALID = /^[\x21-\x7e]{1,256}$/;

/** SageMaker's inference id, else the caller's X-Request-Id, else a fresh one; echoed back as X-Request-Id. */
export function requestId(req: IncomingMessage, res: ServerResponse): string {
  const given = req.headers['x-amzn-sagemaker-inference-id'] ?? req.headers['x-request-id'];
  const id = typeof given === 'string' && VALID.test(given) ? given : randomUUID();
  res.setHeader('X-Request-Id', id);
  return id;
}

/** The error code a response carried, for its log line. */
const errorCodes = new WeakMap<ServerResponse, ErrorCode>();

/** Sends bytes, or a latin1 string of bytes (one character per byte: how threads return small answers). */
export function send(res: ServerResponse, status: number, contentType: string | undefined, body: Uint8Array | string, headers?: Record<string, string>): void {
  const head: Record<string, string | number> = { ...headers, 'Content-Length': typeof body === 'string' ? body.length : body.byteLength };
  if (contentType) head['Content-Type'] = contentType;
  res.writeHead(status, head);
  res.end(body, 'latin1'); // the encoding applies to strings only
}

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json', Buffer.from(JSON.stringify(value)));
}

export function sendError(res: ServerResponse, error: WireError, headers?: Record<string, string>): void {
  sendErrorBody(res, error, errorBody(error), headers);
}

/** An error's status with a body in the shape of the path's protocol; its code is kept for the log line. */
export function sendErrorBody(res: ServerResponse, error: WireError, body: unknown, headers?: Record<string, string>): void {
  errorCodes.set(res, error.code);
  if (res.headersSent) return;
  const status = statusOfError(error);
  // Every 503 is worth a retry: say when.
  send(res, status, 'application/json', Buffer.from(JSON.stringify(body)), status === 503 ? { 'Retry-After': '1', ...headers } : headers);
}

export function errorCodeOf(res: ServerResponse): ErrorCode | undefined {
  return errorCodes.get(res);
}

export interface RequestFacts {
  /** The model invoked (multi-model). */
  model?: string;
  /** X-Amzn-SageMaker-Target-Model: the platform's name of the model's artifact (multi-model). */
  targetModel?: string;
  rows?: number;
  batch?: number;
  error?: string;
}

/** Health paths are polled constantly (/ping by SageMaker, /v2/health/* by Kubernetes' probes). */
const HEALTH = /^\/(ping|v2\/health\/(live|ready))(\?|$)/;

/** Health checks: debug only. Server faults are errors, caller mistakes warnings. */
export function levelFor(path: string, status: number): 'debug' | 'info' | 'warn' | 'error' {
  if (HEALTH.test(path)) return 'debug';
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
