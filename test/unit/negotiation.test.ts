import { mediaTypes } from '../../container/src/codecs/registry';
import { negotiate, parseMediaType } from '../../container/src/http/invocation';

/** What the built-in codecs read and write: what an ONNX model offers. */
const builtIn = mediaTypes();

describe('Content-Type parsing', () => {
  test('type and parameters, case-insensitive names', () => {
    expect(parseMediaType('Text/CSV; Charset=UTF-8; header="present"')).toEqual({ type: 'text/csv', params: { charset: 'UTF-8', header: 'present' } });
    expect(parseMediaType(undefined)).toBeUndefined();
    expect(parseMediaType('nonsense')).toBeUndefined();
  });
});

describe('Accept negotiation', () => {
  test.each([
    [undefined, 'text/csv', undefined, 'text/csv'],
    ['', 'application/json', undefined, 'application/json'],
    ['*/*', 'text/csv', undefined, 'text/csv'],
    ['*/*', 'text/csv', 'application/json', 'application/json'],
    [undefined, 'text/csv', 'application/jsonlines', 'application/jsonlines'],
    [undefined, 'application/octet-stream', undefined, 'application/json'],
    [undefined, 'application/x-jsonlines', undefined, 'application/jsonlines'],
    ['application/json', 'text/csv', undefined, 'application/json'],
    ['text/csv;q=0.5, application/json', 'text/csv', undefined, 'application/json'],
    ['application/json;q=0.2, text/csv;q=0.9', 'application/json', undefined, 'text/csv'],
    ['text/*', 'application/json', undefined, 'text/csv'],
    ['application/*', 'text/csv', undefined, 'application/json'],
    ['application/*', 'application/jsonlines', undefined, 'application/jsonlines'],
    ['*/*, text/csv;q=0', 'text/csv', undefined, 'application/json'],
    ['application/x-jsonlines', 'text/csv', undefined, 'application/jsonlines'],
    ['image/png, */*;q=0.1', 'text/csv', undefined, 'text/csv'],
    ['image/png', 'text/csv', undefined, undefined],
    ['text/csv;q=0', 'text/csv', undefined, undefined],
  ])('Accept %j for a %s request (default %j) -> %j', (accept, requestType, defaultAccept, expected) => {
    expect(negotiate(accept, requestType, defaultAccept, builtIn)).toBe(expected);
  });
});
