// The benchmarks' constant answer: an HTTP server that reads each request's body and answers the same
// short CSV line, i.e. what one Node process costs per request with no work to do.
import * as http from 'node:http';

const BODY = Buffer.from('setosa\n');

export function constantAnswerServer(keepAliveMs: number): http.Server {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'Content-Type': 'text/csv', 'Content-Length': BODY.length });
      res.end(BODY);
    });
  });
  server.keepAliveTimeout = keepAliveMs;
  return server;
}
