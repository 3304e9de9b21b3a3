// The process-wide pino logger: one JSON line per event on stdout. Writes are buffered (a write syscall
// per request line was a measurable share of a worker's time under load), flushed every 100 ms, and
// flushed synchronously when the process exits (an 'exit' listener, so every process.exit flushes).
import pino from 'pino';
import type { LogLevel } from './config/env';

export type Logger = pino.Logger;

let destination: ReturnType<typeof pino.destination> | undefined;

function stdout(): ReturnType<typeof pino.destination> {
  if (!destination) {
    destination = pino.destination({ dest: 1, sync: false, minLength: 8192 });
    setInterval(() => {
      try {
        destination?.flush();
      } catch {
        // nothing to flush, or stdout closed
      }
    }, 100).unref();
    process.on('exit', () => flushLogs());
  }
  return destination;
}

export function createLogger(level: LogLevel, bindings: Record<string, unknown> = {}): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, ...bindings },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stdout(),
  );
}

/** Complete JSON lines written by another program in this log's shape (nginx's request lines in proxy mode), passed on as they are. */
export function writeLogLines(lines: string): void {
  stdout().write(lines);
}

export function flushLogs(): void {
  try {
    destination?.flushSync();
  } catch {
    // stdout already gone (the reader exited): nothing more can be said
  }
}

