// GET /metrics, served by the primary on a unix socket in the run directory, to which nginx passes the
// route: so a scrape is answered while workers load or restart. Each scrape first asks the workers for
// their process metrics (refresh), then writes the Prometheus text format.
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { Logger } from '../logger';
import type { MetricsCollector } from './collector';

export function serveMetrics(socket: string, collector: MetricsCollector, refresh: () => Promise<void>, logger: Logger): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    const json = (status: number, code: string, message: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      res.end(JSON.stringify({ error: { code, message } }));
    };
    if (path !== '/metrics') return json(404, 'NOT_FOUND', `no endpoint ${req.method} ${path}`);
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on /metrics; use GET, HEAD`, { Allow: 'GET, HEAD' });
    refresh()
      .then(() => collector.render())
      .then((text) => {
        res.writeHead(200, { 'Content-Type': collector.contentType, 'Content-Length': Buffer.byteLength(text) });
        res.end(req.method === 'HEAD' ? undefined : text);
      })
      .catch((err: unknown) => {
        logger.error({ err: String((err as Error)?.stack ?? err) }, 'unexpected error while writing /metrics');
        json(500, 'INTERNAL_ERROR', 'the metrics could not be written; see the server log');
      });
  });
  fs.rmSync(socket, { force: true });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => {
      // nginx's worker processes may run as an unprivileged user (nobody) when serve runs as root.
      fs.chmodSync(socket, 0o666);
      resolve(server);
    });
  });
}
