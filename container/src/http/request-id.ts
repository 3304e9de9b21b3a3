// Request ids: SageMaker's inference id, else the caller's X-Request-Id, else a fresh one; echoed back.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

const VALID = /^[\x21-\x7e]{1,256}$/;

export function requestId(req: IncomingMessage, res: ServerResponse): string {
  const given = req.headers['x-amzn-sagemaker-inference-id'] ?? req.headers['x-request-id'];
  const id = typeof given === 'string' && VALID.test(given) ? given : randomUUID();
  res.setHeader('X-Request-Id', id);
  return id;
}
