import { clientErrorAnswer } from '../../container/src/http/client-error';

const parseError = (code: string, reason: string, raw = '') => Object.assign(new Error(`Parse Error: ${reason}`), { code, reason, rawPacket: Buffer.from(raw) });

describe("what Node's HTTP parser refuses", () => {
  test.each([
    [parseError('HPE_INVALID_HEADER_TOKEN', 'Invalid header value char', 'GET /ping HTTP/1.1\r\nX: \x01\r\n'), { code: 'INVALID_PARAMETER', message: 'the request cannot be read: Invalid header value char (HPE_INVALID_HEADER_TOKEN)' }],
    [parseError('HPE_INVALID_METHOD', 'Invalid method encountered', 'FROB /invocations HTTP/1.1\r\n'), { code: 'METHOD_NOT_ALLOWED', message: 'FROB is not allowed on /invocations; use POST' }],
    [parseError('HPE_INVALID_METHOD', 'Invalid method encountered', 'FROB /ping?x=1 HTTP/1.1\r\n'), { code: 'METHOD_NOT_ALLOWED', message: 'FROB is not allowed on /ping; use GET, HEAD' }],
    [parseError('HPE_INVALID_METHOD', 'Invalid method encountered', 'FROB /elsewhere HTTP/1.1\r\n'), { code: 'NOT_FOUND', message: 'no endpoint for FROB on /elsewhere' }],
    [parseError('HPE_HEADER_OVERFLOW', 'Header overflow'), { code: 'HEADERS_TOO_LARGE', message: 'the request headers are larger than the worker accepts (16 KiB)' }],
  ])('%#: answered in JSON with a code from the catalogue', (err, wire) => {
    expect(clientErrorAnswer(err)).toEqual(wire);
  });

  test('a caller that went away or stopped sending gets no answer', () => {
    expect(clientErrorAnswer(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))).toBeUndefined();
    expect(clientErrorAnswer(Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }))).toBeUndefined();
  });
});
