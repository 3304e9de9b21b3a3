// Builds a Matrix from rows given as CSV cells, JSON arrays or JSON objects, checking every value and
// naming its place ("line 3, column 2") when it is not usable.
import { ServerError } from '../errors';
import type { Matrix, TabularSchema } from '../vocabulary';
import { readNonFinite } from './numbers';
import type { DecodeContext } from './types';

/** The schema rows need; a model that is not tabular takes only V2 tensors. */
export function tabularSchema(ctx: DecodeContext): TabularSchema {
  if (!ctx.schema) {
    throw new ServerError('UNSUPPORTED_MEDIA_TYPE', 'this model is not a tabular classifier or regressor, so rows cannot be mapped onto it: send KServe V2 tensors as application/json {"inputs": [{"name", "shape", "datatype", "data"}]}');
  }
  return ctx.schema;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const SPECIAL = /^[+-]?(nan|inf|infinity)$/i;
const FLOAT32_MAX = 3.4028234663852886e38;
/** Most values a builder allocates before its rows arrive. */
const INITIAL_VALUES = 1 << 20;

function preview(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}...` : s);
}

function checkRange(v: number, raw: string, place: string, inputType: TabularSchema['inputType']): number {
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

export class MatrixBuilder {
  private values: Float32Array | Float64Array;
  private readonly Values: Float32ArrayConstructor | Float64ArrayConstructor;
  private rows = 0;
  private width: number | null;

  constructor(private readonly schema: TabularSchema, expectedRows = 16) {
    this.width = schema.features;
    // Stored at the model's own precision: the float32 copy would be made anyway, and large batches
    // then hold one array of the payload's numbers instead of two.
    this.Values = schema.inputType === 'float64' ? Float64Array : Float32Array;
    // Sized for the expected rows, but never more up front than INITIAL_VALUES (grown by doubling): a
    // body whose rows are far narrower than the model must fail on its first row, not on the allocation.
    this.values = new this.Values(Math.min(Math.max(1, expectedRows) * (this.width ?? 8), Math.max(INITIAL_VALUES, this.width ?? 8)));
  }

  get count(): number {
    return this.rows;
  }

  /**
   * Refuses a row of `length` values when the width is known already: callers count a line's cells
   * before splitting it, so a line of millions of cells fails without making millions of strings.
   */
  checkLength(length: number, place: string): void {
    if (this.width !== null && length !== this.width) {
      const source = this.schema.features !== null ? 'the model has' : 'the first record has';
      throw new ServerError('WRONG_FEATURE_COUNT', `${place}: ${length} value(s), but ${source} ${this.width} feature(s)`);
    }
  }

  /** Checks a row's length and reserves space for it; returns the offset of its first value. */
  private begin(length: number, place: string): number {
    if (this.width === null) this.width = length;
    this.checkLength(length, place);
    const needed = (this.rows + 1) * this.width;
    if (needed > this.values.length) {
      const grown = new this.Values(Math.max(needed, this.values.length * 2));
      grown.set(this.values);
      this.values = grown;
    }
    this.rows += 1;
    return (this.rows - 1) * this.width;
  }

  private checkRange(v: number, raw: string, place: string): number {
    return checkRange(v, raw, place, this.schema.inputType);
  }

  /** A text cell: a decimal number, NaN/Inf literal, or empty (missing = NaN). */
  parseCell(cell: string, place: string): number {
    return parseCell(cell, place, this.schema.inputType);
  }

  /** Cells in column order; `columnOf(i)` maps a cell index to the model's feature index (header reordering). */
  addCells(cells: readonly string[], line: number, columnOf?: readonly number[]): void {
    const at = this.begin(cells.length, `line ${line}`);
    for (let i = 0; i < cells.length; i++) {
      const column = columnOf ? columnOf[i] : i;
      this.values[at + column] = this.parseCell(cells[i], `line ${line}, column ${i + 1}`);
    }
  }

  /** A JSON value that should be a number (null = missing; "NaN", "Infinity", "-Infinity" as the answers spell them). */
  private jsonNumber(v: unknown, place: string): number {
    // JSON has no Infinity: an infinite number here is a literal too large for a double (1e400).
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new ServerError('INVALID_VALUE', `${place}: the number is too large to be a number the model can take`);
      return this.checkRange(v, String(v), place);
    }
    if (v === null) return NaN;
    const special = typeof v === 'string' ? readNonFinite(v) : undefined;
    if (special !== undefined) return special;
    const shown = typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : String(v);
    throw new ServerError('INVALID_VALUE', `${place}: ${shown} is not a number`);
  }

  addArray(row: readonly unknown[], place: string): void {
    const at = this.begin(row.length, place);
    for (let i = 0; i < row.length; i++) this.values[at + i] = this.jsonNumber(row[i], `${place}, column ${i + 1}`);
  }

  /** An object keyed by feature name; every feature must be present and no other key. */
  addObject(row: Readonly<Record<string, unknown>>, place: string): void {
    const names = this.schema.featureNames;
    if (!names) {
      throw new ServerError('UNKNOWN_FEATURE', `${place}: an object row needs feature names, and this model has none (add "features" to model.json, or send arrays in column order)`);
    }
    const keys = Object.keys(row);
    const unknown = keys.filter((k) => !names.includes(k));
    if (unknown.length > 0) {
      throw new ServerError('UNKNOWN_FEATURE', `${place}: unknown feature(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')}; expected ${names.join(', ')}`);
    }
    const missing = names.filter((n) => !(n in row));
    if (missing.length > 0) {
      throw new ServerError('WRONG_FEATURE_COUNT', `${place}: missing feature(s) ${missing.join(', ')}`);
    }
    const at = this.begin(names.length, place);
    for (let i = 0; i < names.length; i++) this.values[at + i] = this.jsonNumber(row[names[i]], `${place}, field "${names[i]}"`);
  }

  /** A row of named text values (query parameters); every feature must be present and no other name. */
  addNamedCells(values: Readonly<Record<string, string>>, what: string): void {
    const names = this.schema.featureNames;
    if (!names) throw new ServerError('UNKNOWN_FEATURE', `${what} need feature names, and this model has none (add "features" to model.json)`);
    const unknown = Object.keys(values).filter((k) => !names.includes(k));
    const missing = names.filter((n) => !(n in values));
    if (unknown.length > 0 || missing.length > 0) {
      const parts = [unknown.length > 0 ? `unknown: ${unknown.join(', ')}` : '', missing.length > 0 ? `missing: ${missing.join(', ')}` : ''].filter(Boolean);
      throw new ServerError(unknown.length > 0 ? 'UNKNOWN_FEATURE' : 'WRONG_FEATURE_COUNT', `${what} must name every feature once (${parts.join('; ')}); expected ${names.join(', ')}`);
    }
    const at = this.begin(names.length, what);
    for (let i = 0; i < names.length; i++) this.values[at + i] = this.parseCell(values[names[i]], `parameter "${names[i]}"`);
  }

  finish(emptyMessage: string): Matrix {
    if (this.rows === 0 || this.width === null) throw new ServerError('EMPTY_PAYLOAD', emptyMessage);
    return { rows: this.rows, width: this.width, values: this.values.subarray(0, this.rows * this.width) };
  }
}

/** Header handling shared by CSV: maps header cells to feature indices, or explains what is wrong. */
export function headerColumns(cells: readonly string[], names: readonly string[] | undefined, line: number): number[] | null {
  const trimmed = cells.map((c) => c.trim());
  if (!names) return null;
  const index = new Map(names.map((n, i) => [n, i]));
  const lower = new Map(names.map((n, i) => [n.toLowerCase(), i]));
  const columns: number[] = [];
  const unknown: string[] = [];
  for (const cell of trimmed) {
    const i = index.get(cell) ?? lower.get(cell.toLowerCase());
    if (i === undefined) unknown.push(cell);
    else columns.push(i);
  }
  if (unknown.length > 0) {
    // A hostile header may hold millions of names: the message shows the first few, each shortened.
    const shown = unknown.slice(0, 5).map(preview).join(', ') + (unknown.length > 5 ? ` and ${unknown.length - 5} more` : '');
    throw new ServerError('UNKNOWN_FEATURE', `line ${line} (header): unknown feature(s) ${shown}; expected ${names.join(', ')}`);
  }
  const missing = names.filter((_, i) => !columns.includes(i));
  if (missing.length > 0 || columns.length !== names.length) {
    throw new ServerError('WRONG_FEATURE_COUNT', `line ${line} (header): ${missing.length > 0 ? `missing feature(s) ${missing.join(', ')}` : 'a feature is named twice'}`);
  }
  return columns;
}

export function looksLikeHeader(cells: readonly string[]): boolean {
  return cells.length > 0 && cells.every((c) => {
    const s = c.trim();
    return s !== '' && !NUMBER.test(s) && !SPECIAL.test(s);
  });
}
