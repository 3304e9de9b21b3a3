// One cell of a row, read as its column's type: numbers for the classic all-float models, and for
// mixed-type models (string or integer columns) each column's own type, with errors that name the place,
// the column and the type it takes. rows.ts builds matrices out of these.
import { ServerError } from '../errors';
import type { ColumnType, TabularSchema } from '../vocabulary';

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const SPECIAL = /^[+-]?(nan|inf|infinity)$/i;
const FLOAT32_MAX = 3.4028234663852886e38;
const INT_LIMITS: Record<string, number> = { int64: Number.MAX_SAFE_INTEGER, int32: 2 ** 31 - 1 };

export function preview(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}...` : s);
}

/** How a column is named in errors: `"amount", float32` (or just the type when the model has no names). */
export function columnLabel(schema: TabularSchema, column: number): string {
  const type = schema.columnTypes![column];
  const name = schema.featureNames?.[column];
  return name === undefined ? type : `${JSON.stringify(name)}, ${type}`;
}

/** A number within what the model's float input can hold; an infinity only when the text spells one. */
export function checkRange(v: number, raw: string, place: string, inputType: TabularSchema['inputType']): number {
  if (Math.abs(v) > (inputType === 'float64' ? Number.MAX_VALUE : FLOAT32_MAX) && Number.isFinite(v)) {
    throw new ServerError('INVALID_VALUE', `${place}: ${preview(raw)} is outside the range the model's ${inputType ?? 'float32'} input can hold`);
  }
  if (v === Infinity || v === -Infinity) {
    if (!SPECIAL.test(raw.trim())) throw new ServerError('INVALID_VALUE', `${place}: ${preview(raw)} is too large to be a number`);
  }
  return v;
}

/** A text cell: a decimal number, NaN/Inf literal, or empty (missing = NaN); `place` names it in errors. */
export function parseCell(cell: string, place: string, inputType: TabularSchema['inputType']): number {
  const s = cell.trim();
  if (s === '') return NaN;
  if (NUMBER.test(s)) return checkRange(Number(s), s, place, inputType);
  if (SPECIAL.test(s)) return s.toLowerCase().includes('nan') ? NaN : s.startsWith('-') ? -Infinity : Infinity;
  throw new ServerError('INVALID_VALUE', `${place}: ${preview(cell)} is not a number`);
}

/** No cell is a number or empty. */
function noNumbers(cells: readonly string[]): boolean {
  return cells.length > 0 && cells.every((c) => {
    const s = c.trim();
    return s !== '' && !NUMBER.test(s) && !SPECIAL.test(s);
  });
}

/** An integer column's value: a whole number the server reads exactly (within ±2^53, or int32's range). */
function checkInteger(v: number, raw: string, place: string, type: 'int64' | 'int32'): number {
  if (!Number.isInteger(v)) throw new ServerError('INVALID_VALUE', `${place}: ${raw} is not an integer`);
  const limit = INT_LIMITS[type];
  if (Math.abs(v) > limit) {
    throw new ServerError('INVALID_VALUE', `${place}: ${raw} is beyond ${type === 'int64' ? '±2^53 (the integers a JSON number holds exactly)' : "the model's int32 range"}`);
  }
  return v;
}

const missingInteger = (place: string, type: ColumnType) =>
  new ServerError('INVALID_VALUE', `${place}: a missing value, which the model's ${type} column cannot take`);

/** A number column's text cell; `place` names the line or parameter, the column and its type. */
export function parseNumberCell(cell: string, place: string, type: ColumnType): number {
  if (type === 'float32' || type === 'float64') return parseCell(cell, place, type);
  const s = cell.trim();
  if (s === '') throw missingInteger(place, type);
  if (!NUMBER.test(s)) throw new ServerError('INVALID_VALUE', `${place}: ${preview(cell)} is not an integer`);
  return checkInteger(Number(s), preview(s), place, type as 'int64' | 'int32');
}

function shown(v: unknown): string {
  return typeof v === 'string' ? preview(v) : Array.isArray(v) ? 'an array' : typeof v === 'object' && v !== null ? 'an object' : String(v);
}

/** A JSON value for a number column: a number, a string holding one (as the H2O scorer took them), or null (missing). */
export function jsonNumberValue(v: unknown, place: string, type: ColumnType): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new ServerError('INVALID_VALUE', `${place}: the number is too large to be a number the model can take`);
    if (type === 'int64' || type === 'int32') return checkInteger(v, String(v), place, type);
    return checkRange(v, String(v), place, type === 'float64' ? 'float64' : 'float32');
  }
  if (typeof v === 'string') return parseNumberCell(v, place, type);
  if (v === null) {
    if (type === 'int64' || type === 'int32') throw missingInteger(place, type);
    return NaN;
  }
  throw new ServerError('INVALID_VALUE', `${place}: ${shown(v)} is not a number`);
}

/**
 * A JSON value for a string column: the string itself; a number as its JSON text (28007 is "28007", as
 * H2O clients send codes); null is missing, sent to the model as the empty string.
 */
export function jsonStringValue(v: unknown, place: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (v === null) return '';
  throw new ServerError('INVALID_VALUE', `${place}: ${shown(v)} is not text (a string or a number)`);
}

/**
 * Whether the first CSV line is a header. For an all-number model: no cell is a number or empty. For a
 * mixed-type model: every cell names a feature, or the model has a number column and no cell is a number
 * or empty (a header with a wrong name is then reported as such). A model of string columns only cannot
 * tell a header from a row by its values: without names, only `header=present` makes one.
 */
export function looksLikeHeader(cells: readonly string[], schema?: TabularSchema): boolean {
  if (!schema?.columnTypes) return noNumbers(cells);
  if (cells.length === 0) return false;
  const names = schema.featureNames;
  if (names) {
    const known = new Set(names.map((n) => n.toLowerCase()));
    if (cells.every((c) => known.has(c.trim().toLowerCase()))) return true;
  }
  return schema.columnTypes.some((t) => t !== 'string') && noNumbers(cells);
}
