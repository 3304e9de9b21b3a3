// Reads a request body into one exactly-sized Uint8Array (a shared slot, or its own buffer that can be
// transferred to a thread), enforcing the payload limit.
import type { IncomingMessage } from 'node:http';
import { ServerError } from '../errors';
import type { BodyMemory } from '../shared-bodies';

export function payloadTooLarge(limitBytes: number): ServerError {
  const mb = limitBytes / (1024 * 1024);
  // Same words as nginx's 413 (nginx.conf), whichever layer catches the body.
  return new ServerError('PAYLOAD_TOO_LARGE', `the request body is larger than the ${Number(mb.toFixed(3))} MB (${limitBytes} bytes) limit; raise SAGEMAKER_MAX_PAYLOAD_IN_MB, or send smaller mini-batches`);
}

/**
 * The body, read into a slot of `memory` when it has one that fits (given back here if reading fails;
 * otherwise whoever consumes the body gives it back), else into a buffer of its own.
 */
export function readBody(req: IncomingMessage, limitBytes: number | undefined, memory?: BodyMemory): Promise<Uint8Array> {
  const declared = Number(req.headers['content-length']);
  if (limitBytes !== undefined && Number.isFinite(declared) && declared > limitBytes) {
    return Promise.reject(payloadTooLarge(limitBytes));
  }
  // nginx buffers the body and sends its length: then one exactly-sized array takes the chunks as they
  // arrive, instead of a chunk list plus a joined copy (twice the payload, for a 100 MB batch).
  if (Number.isSafeInteger(declared) && declared >= 0 && req.headers['transfer-encoding'] === undefined) {
    return new Promise((resolve, reject) => {
      // Not zero-filled (every byte is overwritten, and a short body is refused below); never from Node's
      // shared pool, so it can be transferred to a thread.
      const body: Uint8Array = (declared > 0 ? memory?.take(declared) : undefined) ?? Buffer.allocUnsafeSlow(declared);
      let offset = 0;
      let settled = false;
      const fail = (err: ServerError) => {
        if (settled) return;
        settled = true;
        memory?.release(body);
        reject(err);
      };
      req.on('data', (chunk: Buffer) => {
        if (settled) return;
        if (offset + chunk.length > declared) {
          fail(new ServerError('BODY_TOO_LONG', `the body is longer than its Content-Length (${declared} bytes)`));
          req.destroy();
          return;
        }
        body.set(chunk, offset);
        offset += chunk.length;
      });
      const finish = () => {
        if (offset !== declared) return fail(new ServerError('BODY_INCOMPLETE', `the body ended after ${offset} of its ${declared} bytes (Content-Length)`));
        if (!settled) {
          settled = true;
          resolve(body);
        }
      };
      req.on('end', finish);
      req.on('error', (err) => fail(new ServerError('CLIENT_GONE', `the request body could not be read: ${err.message}`)));
      // A client that goes away mid-body may end the request with neither 'end' nor 'error': settle anyway,
      // so that the body's memory is given back.
      req.on('close', finish);
    });
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (limitBytes !== undefined && size > limitBytes) {
        failed = true;
        chunks.length = 0;
        reject(payloadTooLarge(limitBytes));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (failed) return;
      // Not Buffer.concat: small results may come from Node's shared pool, which must never be transferred.
      const body: Uint8Array = Buffer.allocUnsafeSlow(size);
      let offset = 0;
      for (const c of chunks) {
        body.set(c, offset);
        offset += c.length;
      }
      resolve(body);
    });
    req.on('error', (err) => {
      if (!failed) reject(new ServerError('CLIENT_GONE', `the request body could not be read: ${err.message}`));
    });
  });
}
