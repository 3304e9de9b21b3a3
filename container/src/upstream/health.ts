// Proxy mode: whether the scorer is healthy, asked of its health path. The primary asks on a timer and
// tells the workers, so /ping answers from the last result at once and the scorer gets one probe a second
// however often the platform pings (four a second while it is not healthy, so readiness shows quickly).
import * as http from 'node:http';
import type { UpstreamAddress } from '../config/proxy';
import { upstreamUrl } from './address';

/** A probe gets this long: well under the 2 s SageMaker gives a ping. */
export const PROBE_TIMEOUT_MS = 500;
/** How long a result stands while healthy, and while not. */
export const PROBE_INTERVAL_MS = { healthy: 1000, unhealthy: 250 } as const;

export interface HealthResult {
  /** The health path answered 2xx within the timeout. */
  ok: boolean;
  /** What happened, for the log and the 503's message. */
  detail: string;
}

const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim().slice(0, 200);

/** One GET of the health path on a fresh connection; never rejects. */
export function probeHealth(address: UpstreamAddress, path: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<HealthResult> {
  const what = `GET ${upstreamUrl(address, path)}`;
  return new Promise((resolve) => {
    let settled = false;
    const settle = (result: HealthResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(result);
    };
    const target = address.kind === 'unix' ? { socketPath: address.path } : { host: address.host.replace(/^\[|\]$/g, ''), port: address.port };
    const req = http.request({ ...target, path, method: 'GET', agent: false, headers: { 'User-Agent': 'model-server-health-probe' } }, (res) => {
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < 1024) chunks.push(chunk);
        size += chunk.length;
      });
      res.on('end', () => {
        const body = oneLine(Buffer.concat(chunks).toString('utf8'));
        if (status >= 200 && status < 300) return settle({ ok: true, detail: `${what} answered ${status}` });
        if (status >= 300 && status < 400) {
          return settle({ ok: false, detail: `${what} answered ${status}, a redirect to ${res.headers.location ?? '(no Location)'}: set MODEL_SERVER_UPSTREAM_HEALTH_PATH to the path that answers` });
        }
        settle({ ok: false, detail: `${what} answered ${status}${body ? `: ${body}` : ''}` });
      });
      res.on('error', (err) => settle({ ok: false, detail: `${what}: ${err.message}` }));
    });
    const timer = setTimeout(() => settle({ ok: false, detail: `${what}: no answer within ${timeoutMs} ms` }), timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => {
      const reason = err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? 'connection refused (nothing listens there yet)' : err.code === 'EACCES' ? 'permission denied on the socket' : err.message;
      settle({ ok: false, detail: `${what}: ${reason}` });
    });
    req.end();
  });
}

/** Probes on a timer and reports every result, saying whether health changed. */
export class HealthMonitor {
  private last: HealthResult | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly address: UpstreamAddress,
    private readonly path: string,
    private readonly onResult: (result: HealthResult, changed: boolean) => void,
  ) {}

  get current(): HealthResult | undefined {
    return this.last;
  }

  start(): void {
    void this.tick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async tick(): Promise<void> {
    const result = await probeHealth(this.address, this.path);
    if (this.stopped) return;
    const changed = this.last === undefined || this.last.ok !== result.ok;
    this.last = result;
    this.onResult(result, changed);
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), result.ok ? PROBE_INTERVAL_MS.healthy : PROBE_INTERVAL_MS.unhealthy);
    this.timer.unref();
  }
}
