// The one place errors become HTTP responses (status from the catalogue, JSON body, no stack traces), and
// the one writer of response bodies for every route.
import type { ServerResponse } from 'node:http';
import { errorBody, statusOf, type ErrorCode, type WireError } from '../errors';

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
  errorCodes.set(res, error.code);
  if (res.headersSent) return;
  send(res, statusOf(error.code), 'application/json', Buffer.from(JSON.stringify(errorBody(error))), headers);
}

export function errorCodeOf(res: ServerResponse): ErrorCode | undefined {
  return errorCodes.get(res);
}
