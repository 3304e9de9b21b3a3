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

  test('a quoted parameter may hold ";", "," and escaped quotes', () => {
    expect(parseMediaType('text/csv; header="a;b, c"; charset=utf-8')).toEqual({ type: 'text/csv', params: { header: 'a;b, c', charset: 'utf-8' } });
    expect(parseMediaType('application/json; note="say \\"hi\\""')).toEqual({ type: 'application/json', params: { note: 'say "hi"' } });
  });

  test('a parameter without a value is left out, the type still read', () => {
    expect(parseMediaType('text/csv; charset')).toEqual({ type: 'text/csv', params: {} });
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
    // q-values: the highest wins, a more specific range overrides a wildcard's, ties go by the order given
    ['*/*;q=0.9, text/csv;q=0.1', 'text/csv', undefined, 'application/json'],
    ['text/csv;q=0.5, application/jsonlines;q=0.5', 'application/json', undefined, 'text/csv'],
    ['application/json;q=0.3, text/csv;q=0.31', 'application/json', undefined, 'text/csv'],
    ['text/csv;q=1.0, application/json;q=0.999', 'application/json', undefined, 'text/csv'],
    ['application/*;q=0.2, text/*;q=0.8', 'application/json', undefined, 'text/csv'],
    // parameters other than q do not narrow a range, and a quoted one may hold a comma
    ['application/json; charset=utf-8', 'text/csv', undefined, 'application/json'],
    ['text/csv; header="present, maybe"; q=0.1, application/json;q=0.05', 'application/json', undefined, 'text/csv'],
    ['APPLICATION/JSON', 'text/csv', undefined, 'application/json'],
    // an Accept that names no media range is as if absent
    ['nonsense', 'text/csv', undefined, 'text/csv'],
  ])('Accept %j for a %s request (default %j) -> %j', (accept, requestType, defaultAccept, expected) => {
    expect(negotiate(accept, requestType, defaultAccept, builtIn)).toBe(expected);
  });
});
