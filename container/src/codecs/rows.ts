// Builds a Matrix from rows given as CSV cells, JSON arrays or JSON objects, checking every value and
// naming its place ("line 3, column 2") when it is not usable.
import { ServerError } from '../errors';
import { stringSlots, type ColumnType, type Matrix, type TabularSchema } from '../vocabulary';
import { checkRange, columnLabel, jsonNumberValue, jsonStringValue, parseCell, parseNumberCell, preview } from './cells';
import { readNonFinite } from './numbers';
import type { DecodeContext } from './types';

/** The schema rows need; a model that is not tabular takes only V2 tensors. */
export function tabularSchema(ctx: DecodeContext): TabularSchema {
  if (!ctx.schema) {
    const why = ctx.rowsRefused ? `rows cannot be mapped onto this model's inputs (${ctx.rowsRefused})` : 'this model is not a tabular classifier or regressor, so rows cannot be mapped onto it';
    throw new ServerError('UNSUPPORTED_MEDIA_TYPE', `${why}: send KServe V2 tensors as application/json {"inputs": [{"name", "shape", "datatype", "data"}]}`);
  }
  return ctx.schema;
}

/** Most values a builder allocates before its rows arrive. */
const INITIAL_VALUES = 1 << 20;

export class MatrixBuilder {
  private values: Float32Array | Float64Array;
  private readonly Values: Float32ArrayConstructor | Float64ArrayConstructor;
  private rows = 0;
  private width: number | null;
  /** Mixed-type models: each column's type, its slot among the string columns, and the string cells. */
  private readonly types?: readonly ColumnType[];
  private readonly slots?: Int32Array;
  private readonly stringWidth: number = 0;
  private readonly strings?: string[];
  /** Where the row being added starts in values and in strings. */
  private at = 0;
  private stringAt = 0;

  constructor(private readonly schema: TabularSchema, expectedRows = 16) {
    this.width = schema.features;
    if (schema.columnTypes) {
      this.types = schema.columnTypes;
      this.width = this.types.length;
      ({ slots: this.slots, count: this.stringWidth } = stringSlots(this.types));
      this.strings = [];
    }
    // Stored at the model's own precision: the float32 copy would be made anyway, and large batches
    // then hold one array of the payload's numbers instead of two. Mixed-type rows hold float64 and
    // integer columns alike, so they are read into doubles.
    this.Values = schema.inputType === 'float64' || this.types ? Float64Array : Float32Array;
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
      const source = this.schema.features !== null || this.types ? 'the model has' : 'the first record has';
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
    if (this.strings) {
      this.stringAt = this.strings.length;
      for (let k = 0; k < this.stringWidth; k++) this.strings.push('');
    }
    this.rows += 1;
    this.at = (this.rows - 1) * this.width;
    return this.at;
  }

  /** Starts a row of `length` cells (checked against the width), to be filled with put/putText. */
  startRow(length: number, place: string): void {
    this.begin(length, place);
  }

  /** A number for `column` of the row being added (already checked for its type). */
  put(column: number, v: number): void {
    this.values[this.at + column] = v;
  }

  /** The text of string column `column` of the row being added, exactly as sent. */
  putText(column: number, text: string): void {
    this.strings![this.stringAt + this.slots![column]] = text;
  }

  /** A mixed-type column's text cell, read as its type; `place` is the line or record. */
  putCell(column: number, cell: string, place: string): void {
    if (this.slots![column] >= 0) this.putText(column, cell);
    else this.values[this.at + column] = parseNumberCell(cell, `${place} (${columnLabel(this.schema, column)})`, this.types![column]);
  }

  /** A mixed-type column's JSON value, read as its type; `where` names the place, the column and its type. */
  private putJson(column: number, v: unknown, where: string): void {
    if (this.slots![column] >= 0) this.putText(column, jsonStringValue(v, where));
    else this.values[this.at + column] = jsonNumberValue(v, where, this.types![column]);
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
    if (this.types) {
      for (let i = 0; i < cells.length; i++) this.putCell(columnOf ? columnOf[i] : i, cells[i], `line ${line}, column ${i + 1}`);
      return;
    }
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
    if (this.types) {
      for (let i = 0; i < row.length; i++) this.putJson(i, row[i], `${place}, column ${i + 1} (${columnLabel(this.schema, i)})`);
      return;
    }
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
    if (this.types) {
      for (let i = 0; i < names.length; i++) this.putJson(i, row[names[i]], `${place}, field "${names[i]}" (${this.types[i]})`);
      return;
    }
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
    if (this.types) {
      for (let i = 0; i < names.length; i++) {
        if (this.slots![i] >= 0) this.putText(i, values[names[i]]);
        else this.values[at + i] = parseNumberCell(values[names[i]], `parameter "${names[i]}" (${this.types[i]})`, this.types[i]);
      }
      return;
    }
    for (let i = 0; i < names.length; i++) this.values[at + i] = this.parseCell(values[names[i]], `parameter "${names[i]}"`);
  }

  finish(emptyMessage: string): Matrix {
    if (this.rows === 0 || this.width === null) throw new ServerError('EMPTY_PAYLOAD', emptyMessage);
    const values = this.values.subarray(0, this.rows * this.width);
    return this.strings ? { rows: this.rows, width: this.width, values, strings: this.strings } : { rows: this.rows, width: this.width, values };
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
