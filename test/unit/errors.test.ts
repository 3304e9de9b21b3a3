import * as fs from 'node:fs';
import * as path from 'node:path';
import { CATALOGUE, ServerError, errorBody, statusOf, toWireError } from '../../container/src/errors';

describe('error catalogue', () => {
  test('every code has an HTTP status and a meaning', () => {
    for (const [code, entry] of Object.entries(CATALOGUE)) {
      expect(entry.status).toBeGreaterThanOrEqual(400);
      expect(entry.status).toBeLessThan(600);
      expect(entry.meaning.length).toBeGreaterThan(10);
      expect(code).toMatch(/^[A-Z_]+$/);
    }
  });

  test('statuses follow the product contract', () => {
    expect(statusOf('INVALID_VALUE')).toBe(400);
    expect(statusOf('NOT_FOUND')).toBe(404);
    expect(statusOf('METHOD_NOT_ALLOWED')).toBe(405);
    expect(statusOf('NOT_ACCEPTABLE')).toBe(406);
    expect(statusOf('PAYLOAD_TOO_LARGE')).toBe(413);
    expect(statusOf('UNSUPPORTED_MEDIA_TYPE')).toBe(415);
    expect(statusOf('MODEL_ERROR')).toBe(500);
    expect(statusOf('NOT_READY')).toBe(503);
    expect(statusOf('TIMEOUT')).toBe(504);
  });

  test('a ServerError keeps its code and message across a structured clone', () => {
    const wire = structuredClone(toWireError(new ServerError('WRONG_FEATURE_COUNT', 'line 2: 3 value(s)')));
    expect(wire).toEqual({ code: 'WRONG_FEATURE_COUNT', message: 'line 2: 3 value(s)' });
    expect(errorBody(wire)).toEqual({ error: wire });
  });

  test('anything else becomes INTERNAL_ERROR without its message or stack', () => {
    const wire = toWireError(new TypeError('Cannot read properties of undefined (reading "x") at /app/secret.js:1'));
    expect(wire.code).toBe('INTERNAL_ERROR');
    expect(wire.message).not.toMatch(/secret|undefined/);
  });

  test('the README documents exactly the codes in the catalogue, with the same statuses', () => {
    const readme = fs.readFileSync(path.resolve(__dirname, '../../README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('<!-- error-codes:start -->'), readme.indexOf('<!-- error-codes:end -->'));
    const rows = [...table.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])]);
    expect(rows.length).toBeGreaterThan(0);
    expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(Object.entries(CATALOGUE).map(([code, e]) => [code, e.status])));
  });
});
