// Requests Node's HTTP parser refuses before any handler runs (a control byte in a header value, a method
// it does not know, a malformed Content-Length): answered here in the product's JSON shape with one log
// line, instead of Node's bare "400 Bad Request" with no body and nothing in the log.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { errorBody, statusOf, type WireError } from '../errors';
import type { Logger } from '../logger';
import { levelFor } from './respond';
import { allowedOn } from './routes';

type ParseError = Error & { code?: string; reason?: string; rawPacket?: Buffer };

/** What the parser's error means for the caller, or undefined when nobody is left to answer. */
export function clientErrorAnswer(err: ParseError): WireError | undefined {
  const reason = (err.reason ?? err.message.replace(/^Parse Error:\s*/, '')).replace(/\.$/, '');
  switch (err.code) {
    case 'ECONNRESET':
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      // The caller went away, or stopped sending: its connection is closed without an answer (as nginx does).
      return undefined;
    case 'HPE_INVALID_METHOD': {
      // As the app answers a known method on the wrong path: 405 with Allow on a known path, else 404.
      const { method, path } = requestLine(err.rawPacket);
      const allowed = path === undefined ? undefined : allowedOn(path.split('?')[0]);
      const what = method ?? 'the request method';
      return allowed
        ? { code: 'METHOD_NOT_ALLOWED', message: `${what} is not allowed on ${path!.split('?')[0]}; use ${allowed}` }
        : { code: 'NOT_FOUND', message: `no endpoint for ${what}${path ? ` on ${path.split('?')[0].slice(0, 100)}` : ''}` };
    }
    case 'HPE_HEADER_OVERFLOW':
      return { code: 'HEADERS_TOO_LARGE', message: 'the request headers are larger than the worker accepts (16 KiB)' };
    default:
      return { code: 'INVALID_PARAMETER', message: `the request cannot be read: ${reason}${err.code ? ` (${err.code})` : ''}` };
  }
}

/** The request line's method and path, when the parser got that far (for the log line). */
function requestLine(raw: Buffer | undefined): { method?: string; path?: string } {
  const line = /^([A-Za-z_-]{1,20}) (\S{1,200}) /.exec(raw?.subarray(0, 256).toString('latin1') ?? '');
  return line ? { method: line[1], path: line[2] } : {};
}

/** The server's 'clientError' listener: one JSON answer (Connection: close) and one log line. */
export function answerClientErrors(logger: Logger): (err: ParseError, socket: Duplex) => void {
  return (err, socket) => {
    const wire = clientErrorAnswer(err);
    // A response already under way on this connection cannot be followed by another.
    const responding = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
    if (!wire || !socket.writable || responding) {
      logger.debug({ err: err.code ?? err.message }, 'connection closed by a client error without an answer');
      socket.destroy();
      return;
    }
    const id = randomUUID();
    const status = statusOf(wire.code);
    const body = JSON.stringify(errorBody(wire));
    const { method, path } = requestLine(err.rawPacket);
    const allow = wire.code === 'METHOD_NOT_ALLOWED' && path ? `Allow: ${allowedOn(path.split('?')[0])}\r\n` : '';
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `${allow}X-Request-Id: ${id}\r\nConnection: close\r\n\r\n${body}`,
    );
    logger[levelFor(path ?? '', status)](
      { reqId: id, req: { method, path }, res: { status }, durationMs: 0, error: wire.code, parser: err.code },
      `${method ?? '-'} ${path ?? '-'} ${status}`,
    );
  };
}
