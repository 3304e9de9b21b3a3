// The one place errors become HTTP responses: status from the catalogue, JSON body, no stack traces.
import type { Response } from 'express';
import { errorBody, statusOf, type WireError } from '../errors';

export function sendError(res: Response, error: WireError): void {
  if (res.headersSent) return;
  res.status(statusOf(error.code)).type('application/json').send(JSON.stringify(errorBody(error)));
}
