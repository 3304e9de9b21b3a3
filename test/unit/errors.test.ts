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

  test('docs/errors.md documents exactly the codes in the catalogue, with the same statuses and meanings', () => {
    const page = fs.readFileSync(path.resolve(__dirname, '../../docs/errors.md'), 'utf8');
    const table = page.slice(page.indexOf('<!-- error-codes:start -->'), page.indexOf('<!-- error-codes:end -->'));
    const rows = [...table.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \| (.*) \|$/gm)];
    expect(rows.length).toBeGreaterThan(0);
    // The page may render identifiers in backticks and mark when an error happens: "(start-up) ", "(training) ".
    const documented = rows.map(([, code, status, cell]) => {
      const marker = /^\((start-up|start-up or later|training)\) /.exec(cell)?.[1];
      return [code, { status: Number(status), marker, meaning: cell.slice(marker ? marker.length + 3 : 0).replace(/`/g, '') }] as const;
    });
    expect(documented.map(([code]) => code).sort()).toEqual(Object.keys(CATALOGUE).sort());
    expect(Object.fromEntries(documented.map(([code, d]) => [code, { status: d.status, meaning: d.meaning }]))).toEqual(CATALOGUE);
    for (const [code, d] of documented) expect([code, d.marker === 'training']).toEqual([code, code.startsWith('TRAINING_')]);
  });
});
