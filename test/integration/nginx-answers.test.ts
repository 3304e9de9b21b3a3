// The answers nginx makes itself, before (or instead of) a worker: driven with raw sockets so that
// requests no HTTP client would send reach the real server. Each keeps its status and is JSON in the
// product's shape.
import { exampleBase } from '../helpers/models';
import { raw, type RawReply } from '../helpers/raw-http';
import { requireNginx, startServer, type Server } from '../helpers/server';

function expectJsonError(reply: RawReply, status: number, code: string): void {
  expect({ status: reply.status, contentType: reply.headers['content-type'] }).toEqual({ status, contentType: 'application/json' });
  const body = JSON.parse(reply.body);
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error)).toEqual(['code', 'message']);
  expect(body.error.code).toBe(code);
  expect(body.error.message.length).toBeGreaterThan(10);
}

const LONG = 'a'.repeat(9000);
const CSV_ROW = '5.1,3.5,1.4,0.2\n';

let server: Server;
beforeAll(async () => {
  requireNginx();
  // One worker, so the 504 case can stop the only one; MODEL_SERVER_TIMEOUT=1 makes nginx's own timeouts 6 s.
  server = await startServer({ baseDir: exampleBase(), env: { MODEL_SERVER_WORKERS: '1', MODEL_SERVER_TIMEOUT: '1' } });
});
afterAll(async () => {
  await server.stop();
  expect(server.nonJsonOutput()).toEqual([]);
});

test('HTTP/1.0 without Host is served: GET /ping is 200, POST /invocations answers', async () => {
  const ping = await raw(server.port, 'GET /ping HTTP/1.0\r\n\r\n');
  expect(ping.status).toBe(200);
  const invocation = await raw(server.port, `POST /invocations HTTP/1.0\r\nContent-Type: text/csv\r\nContent-Length: ${CSV_ROW.length}\r\n\r\n${CSV_ROW}`);
  expect({ status: invocation.status, body: invocation.body }).toEqual({ status: 200, body: 'setosa\n' });
});

test.each([
  ['a request line nginx cannot parse', 400, 'INVALID_PARAMETER', 'G@T /ping HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['a request that is not HTTP', 400, 'INVALID_PARAMETER', 'GARBAGE\r\n\r\n'],
  ['HTTP/1.1 without Host', 400, 'INVALID_PARAMETER', 'GET /ping HTTP/1.1\r\n\r\n'],
  ['a header line without a colon', 400, 'INVALID_PARAMETER', 'GET /ping HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n'],
  ['Content-Length that is not a number', 400, 'INVALID_PARAMETER', 'POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n'],
  ['TRACE', 405, 'METHOD_NOT_ALLOWED', 'TRACE /ping HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['CONNECT to a host and port (a proxy request)', 405, 'METHOD_NOT_ALLOWED', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'],
  ['CONNECT to a path', 405, 'METHOD_NOT_ALLOWED', 'CONNECT /invocations HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['a declared body over the payload limit', 413, 'PAYLOAD_TOO_LARGE', 'POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 100000000\r\n\r\n'],
  ['a request line over 8 KiB', 414, 'URI_TOO_LONG', `GET /predict_parameters?x=${LONG} HTTP/1.1\r\nHost: x\r\n\r\n`],
  ['a header over 8 KiB (nginx 494)', 431, 'HEADERS_TOO_LARGE', `GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: ${LONG}\r\n\r\n`],
  ['a Transfer-Encoding other than chunked', 501, 'NOT_IMPLEMENTED', 'POST /invocations HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n'],
  ['HTTP/2.0 in the request line', 505, 'HTTP_VERSION_NOT_SUPPORTED', 'GET /ping HTTP/2.0\r\nHost: x\r\n\r\n'],
])('%s: %d %s', async (_what, status, code, text) => {
  expectJsonError(await raw(server.port, text), status, code);
});

test('a body that stops arriving gets the connection closed without an answer; a stalled worker gets a JSON 504 TIMEOUT', async () => {
  // nginx never sends its 408: after client_body_timeout (MODEL_SERVER_TIMEOUT + 5 s) it closes the
  // connection. A worker that accepts a request and never answers (stopped here) meets proxy_read_timeout.
  const [worker] = server.workerPids();
  process.kill(worker, 'SIGSTOP');
  try {
    const [stalledBody, stalledWorker] = await Promise.all([
      raw(server.port, `POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: 100\r\n\r\n5.1,`, 20_000),
      raw(server.port, `POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: ${CSV_ROW.length}\r\n\r\n${CSV_ROW}`, 20_000),
    ]);
    expect(stalledBody.bytes).toBe('');
    expect(stalledBody.closedAfterMs).toBeGreaterThan(4000);
    expect(stalledBody.closedAfterMs).toBeLessThan(15_000);
    expectJsonError(stalledWorker, 504, 'TIMEOUT');
  } finally {
    process.kill(worker, 'SIGCONT');
  }
  const after = await raw(server.port, `POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\nContent-Length: ${CSV_ROW.length}\r\nConnection: close\r\n\r\n${CSV_ROW}`);
  expect(after.status).toBe(200);
});

describe('requests nginx passes on and Node\'s HTTP parser refuses: answered by the worker in JSON, with a log line', () => {
  test.each([
    ['a control byte (0x01) in a header value', 400, 'INVALID_PARAMETER', 'GET /execution-parameters HTTP/1.1\r\nHost: x\r\nX-Odd: a\x01b\r\nConnection: close\r\n\r\n'],
    ['a DEL byte (0x7f) in a header value', 400, 'INVALID_PARAMETER', 'GET /execution-parameters HTTP/1.1\r\nHost: x\r\nX-Odd: a\x7fb\r\nConnection: close\r\n\r\n'],
    ['an unknown method on a known path', 405, 'METHOD_NOT_ALLOWED', 'FROB /invocations HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
    ['an unknown method on an unknown path', 404, 'NOT_FOUND', 'FROB /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
  ])('%s: %d %s', async (what, status, code, text) => {
    const reply = await raw(server.port, text);
    expectJsonError(reply, status, code);
    if (status === 405) expect(reply.headers.allow).toBe('POST');
    const id = reply.headers['x-request-id'];
    expect(id).toBeTruthy();
    const line = await server.waitForLog((l) => l.reqId === id, 5000);
    expect(line).toMatchObject({ level: 'warn', res: { status }, error: code });
  });
});

describe('HEAD on a GET route answers like GET without a body', () => {
  test.each(['/ping', '/execution-parameters', '/predict_parameters?sepal_length=5.1&sepal_width=3.5&petal_length=1.4&petal_width=0.2'])('HEAD %s', async (target) => {
    const get = await raw(server.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    const head = await raw(server.port, `HEAD ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 2000);
    expect(get.status).toBe(200);
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect(head.headers['content-length']).toBe(get.headers['content-length']);
    expect(head.headers['content-type']).toBe(get.headers['content-type']);
  });

  test('HEAD /invocations is 405 with Allow: POST, and a wrong method on /ping names GET and HEAD', async () => {
    const head = await raw(server.port, 'HEAD /invocations HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 2000);
    expect(head.status).toBe(405);
    expect(head.headers.allow).toBe('POST');
    const post = await raw(server.port, 'POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
  });
});
