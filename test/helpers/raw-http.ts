// Raw HTTP over a socket: requests no HTTP client would send, and the exact bytes that come back.
import * as net from 'node:net';

export interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Milliseconds until nginx closed the connection, or undefined if it was still open at the end. */
  closedAfterMs?: number;
}

/** Writes `text` as is on a fresh connection and reads until nginx closes it, or `waitMs` pass. */
export function raw(port: number, text: string | Buffer, waitMs = 3000): Promise<RawReply & { bytes: string }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const started = Date.now();
    let bytes = '';
    const finish = (closedAfterMs?: number) => {
      clearTimeout(timer);
      socket.destroy();
      const split = bytes.indexOf('\r\n\r\n');
      const head = split >= 0 ? bytes.slice(0, split).split('\r\n') : [];
      const headers = Object.fromEntries(head.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? '')?.[1] ?? 0);
      resolve({ status, headers, body: split >= 0 ? bytes.slice(split + 4) : '', closedAfterMs, bytes });
    };
    const timer = setTimeout(() => finish(undefined), waitMs);
    socket.on('data', (chunk) => {
      bytes += chunk.toString('latin1');
      // A complete answer is enough (nginx may linger before closing, e.g. after a 413).
      const split = bytes.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: (\d+)/i.exec(bytes.slice(0, split))?.[1];
      if (split >= 0 && length !== undefined && bytes.length >= split + 4 + Number(length)) finish(Date.now() - started);
    });
    socket.on('close', () => finish(Date.now() - started));
    socket.on('error', () => undefined);
    socket.write(text);
  });
}
