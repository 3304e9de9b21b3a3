// Training data for the boosted trees: a channel's CSV or libsvm files read byte by byte into one float32
// matrix (a million rows of fifty columns is 200 MB, not the gigabytes a string per cell would take), with
// text columns as category codes and text labels as class codes. Errors name the file, line and column.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ServerError } from '../../errors';

export type DataFormat = 'csv' | 'libsvm';

/** The feature matrix and labels of one channel. */
export interface Table {
  rows: number;
  features: number;
  names: string[];
  /** Per feature: a categorical column's categories in code order (sorted), else undefined. */
  categories: (string[] | undefined)[];
  /** Row-major [rows, features] float32 in shared memory (threads bin it); NaN is missing; a category cell holds its code. */
  x: Float32Array;
  /** Per row: the label as a number, NaN where it is text. */
  labelNumbers: Float64Array;
  /** Per row: the index of a text label in `labelTexts`, -1 where it is a number. */
  labelCodes: Int32Array;
  labelTexts: string[];
  format: DataFormat;
  files: string[];
}

export interface ReadOptions {
  format?: DataFormat;
  header: boolean;
  /** The label column: 0-based index or (with a header) name. CSV only; libsvm's label is first. */
  target: number | string;
  featureNames?: string[];
  categorical?: string[];
  /** The training table: a validation channel takes its columns, kinds and categories. */
  like?: Table;
}

const fail = (message: string): never => {
  throw new ServerError('TRAINING_DATA_INVALID', message);
};

const CATEGORICAL_HINT = 'name the column in the "categorical" hyperparameter to treat every value as a category';
const CHUNK = 8 << 20;

/** What the last parseCell saw. */
const enum Cell {
  Number,
  Empty,
  Text,
}
let cellKind: Cell = Cell.Number;
const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * A cell's number: exact (Clinger's fast path: at most 15 digits and a power of ten up to 22 give the
 * correctly rounded double Number() gives), else Number() itself. Sets cellKind; NaN for empty, "nan" and text.
 */
function parseCell(b: Uint8Array, start: number, end: number): number {
  while (start < end && (b[start] === 32 || b[start] === 9)) start++;
  while (end > start && (b[end - 1] === 32 || b[end - 1] === 9 || b[end - 1] === 13)) end--;
  if (start === end) {
    cellKind = Cell.Empty;
    return NaN;
  }
  let i = start;
  let negative = false;
  if (b[i] === 45 || b[i] === 43) {
    negative = b[i] === 45;
    i++;
  }
  let mantissa = 0;
  let digits = 0;
  let scale = 0;
  let any = false;
  while (i < end && b[i] >= 48 && b[i] <= 57) {
    if (digits < 15) {
      mantissa = mantissa * 10 + (b[i] - 48);
      if (mantissa > 0) digits++;
    } else scale++;
    any = true;
    i++;
  }
  if (i < end && b[i] === 46) {
    i++;
    while (i < end && b[i] >= 48 && b[i] <= 57) {
      if (digits < 15) {
        mantissa = mantissa * 10 + (b[i] - 48);
        if (mantissa > 0) digits++;
        scale--;
      }
      any = true;
      i++;
    }
  }
  let exact = digits < 15;
  if (any && i < end && (b[i] === 101 || b[i] === 69)) {
    i++;
    let expNegative = false;
    if (i < end && (b[i] === 45 || b[i] === 43)) {
      expNegative = b[i] === 45;
      i++;
    }
    let exponent = 0;
    let expDigits = 0;
    while (i < end && b[i] >= 48 && b[i] <= 57) {
      exponent = exponent * 10 + (b[i] - 48);
      expDigits++;
      i++;
    }
    if (expDigits === 0) any = false;
    if (exponent > 400) exact = false;
    scale += expNegative ? -exponent : exponent;
  }
  if (!any || i !== end) {
    const s = Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1');
    if (s.toLowerCase() === 'nan') {
      cellKind = Cell.Empty;
      return NaN;
    }
    cellKind = Cell.Text;
    return NaN;
  }
  cellKind = Cell.Number;
  if (exact && scale >= -22 && scale <= 22) {
    const v = scale >= 0 ? mantissa * POW10[scale] : mantissa / POW10[-scale];
    return negative ? -v : v;
  }
  const v = Number(Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1'));
  if (!Number.isFinite(v)) cellKind = Cell.Text;
  return v;
}

const cellText = (b: Uint8Array, start: number, end: number): string => Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('utf8');

type Growable = Float32Array | Float64Array | Int32Array;

/** `a` with room for at least `need` values: itself, or a copy twice as long (in the same kind of memory). */
function room<T extends Growable>(a: T, need: number): T {
  if (need <= a.length) return a;
  const length = Math.max(need, a.length * 2);
  const Kind = a.constructor as new (b: ArrayBufferLike) => T;
  // Untouched pages of a SharedArrayBuffer cost address space, not memory: doubling is cheap until used.
  const bytes = length * a.BYTES_PER_ELEMENT;
  const grown = new Kind(a.buffer instanceof SharedArrayBuffer ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  grown.set(a as never);
  return grown;
}

/** A float32 matrix growing by rows, in shared memory. */
class Rows {
  x: Float32Array;
  rows = 0;
  labelNumbers = new Float64Array(1024);
  labelCodes = new Int32Array(1024);

  constructor(public width: number) {
    this.x = new Float32Array(new SharedArrayBuffer(Math.max(1, width) * 1024 * 4));
  }

  /** Room for one more row; returns its offset in x. */
  next(): number {
    this.x = room(this.x, (this.rows + 1) * this.width);
    this.labelNumbers = room(this.labelNumbers, this.rows + 1);
    this.labelCodes = room(this.labelCodes, this.rows + 1);
    return this.rows * this.width;
  }
}

/** Text labels to codes, in first-seen order. */
class LabelTexts {
  readonly index = new Map<string, number>();
  readonly texts: string[] = [];
  code(text: string): number {
    let c = this.index.get(text);
    if (c === undefined) {
      c = this.texts.length;
      this.texts.push(text);
      this.index.set(text, c);
    }
    return c;
  }
}

/** Lines of a file, read in chunks (also from a Pipe-mode FIFO): calls `line(bytes, start, end, number)`. */
function eachLine(file: string, line: (b: Uint8Array, start: number, end: number, number: number) => void): void {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    return fail(`cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    let buf = new Uint8Array(CHUNK);
    let filled = 0;
    let lineNo = 0;
    let first = true;
    for (;;) {
      if (filled === buf.length) {
        const bigger = new Uint8Array(buf.length * 2);
        bigger.set(buf);
        buf = bigger;
      }
      const n = fs.readSync(fd, buf, filled, buf.length - filled, null);
      const end = filled + n;
      let start = 0;
      if (first && end >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) start = 3;
      first = false;
      let i = start;
      for (;;) {
        const nl = buf.indexOf(10, i);
        if (nl < 0 || nl >= end) break;
        lineNo++;
        line(buf, i, nl > i && buf[nl - 1] === 13 ? nl - 1 : nl, lineNo);
        i = nl + 1;
      }
      if (n === 0) {
        if (i < end) {
          lineNo++;
          line(buf, i, end, lineNo);
        }
        return;
      }
      buf.copyWithin(0, i, end);
      filled = end - i;
    }
  } finally {
    fs.closeSync(fd);
  }
}

const isBlank = (b: Uint8Array, start: number, end: number): boolean => {
  for (let i = start; i < end; i++) if (b[i] !== 32 && b[i] !== 9 && b[i] !== 13) return false;
  return true;
};

/** The field boundaries of a CSV line: [start0, end0, start1, end1, ...]; quoted fields keep their quotes. */
function splitCsv(b: Uint8Array, start: number, end: number, out: number[], where: string): number {
  let n = 0;
  let i = start;
  for (;;) {
    let fieldEnd = i;
    if (b[i] === 34) {
      fieldEnd = i + 1;
      for (;;) {
        const q = b.indexOf(34, fieldEnd);
        if (q < 0 || q >= end) fail(`${where}: a quoted field is not closed on its line`);
        if (b[q + 1] === 34) fieldEnd = q + 2;
        else {
          fieldEnd = q + 1;
          break;
        }
      }
      while (fieldEnd < end && b[fieldEnd] !== 44) fieldEnd++;
    } else {
      fieldEnd = b.indexOf(44, i);
      if (fieldEnd < 0 || fieldEnd > end) fieldEnd = end;
    }
    out[n++] = i;
    out[n++] = fieldEnd;
    if (fieldEnd >= end) return n >> 1;
    i = fieldEnd + 1;
  }
}

/** A quoted field's text ("a ""b""" is a "b"), else the field itself. */
function fieldText(b: Uint8Array, start: number, end: number): string {
  const raw = cellText(b, start, end);
  const t = raw.trim();
  return t.startsWith('"') && t.endsWith('"') && t.length >= 2 ? t.slice(1, -1).replace(/""/g, '"') : raw;
}

function namedKinds(names: string[], categorical: string[] | undefined, like?: Table): boolean[] {
  if (like) return like.categories.map((c) => c !== undefined);
  const kinds = names.map(() => false);
  for (const name of categorical ?? []) {
    const f = names.indexOf(name);
    if (f < 0) throw new ServerError('TRAINING_CONFIG_INVALID', `hyperparameter "categorical" names ${JSON.stringify(name)}, which is not a feature column; features are ${names.join(', ')}`);
    kinds[f] = true;
  }
  return kinds;
}

/** Per column: numeric, categorical, or not yet known; and the categories seen. */
class ColumnKinds {
  readonly kind: ('numeric' | 'categorical' | undefined)[];
  readonly named: boolean[];
  readonly codes: Map<string, number>[];
  readonly firstText: (string | undefined)[];

  constructor(names: string[], categorical: string[] | undefined, readonly like?: Table) {
    this.named = namedKinds(names, categorical, like);
    this.kind = names.map((_, f) => (this.named[f] ? 'categorical' : like ? 'numeric' : undefined));
    this.codes = names.map((_, f) => new Map(like?.categories[f]?.map((c, i) => [c, i]) ?? []));
    this.firstText = names.map(() => undefined);
  }

  /** The value a cell stores: its number, or its category's code (NaN: missing, or unseen in a validation set). */
  value(b: Uint8Array, start: number, end: number, f: number, line: string, column: number): number {
    const quoted = b[start] === 34 && end - start >= 2 && b[end - 1] === 34;
    const v = quoted ? parseCell(b, start + 1, end - 1) : parseCell(b, start, end);
    const kind = cellKind;
    if (kind === Cell.Empty) return NaN;
    let k = this.kind[f];
    if (k === undefined) {
      k = this.kind[f] = kind === Cell.Number ? 'numeric' : 'categorical';
      if (k === 'categorical') this.firstText[f] = `${line}, column ${column}: ${JSON.stringify(fieldText(b, start, end))}`;
    }
    if (k === 'numeric') {
      if (kind !== Cell.Number) {
        fail(`${line}, column ${column}: ${JSON.stringify(fieldText(b, start, end))} is not a number; ${this.like ? 'the column is numeric in the training data' : `the column's other values are numbers (${CATEGORICAL_HINT})`}`);
      }
      return v;
    }
    if (kind === Cell.Number && !this.named[f] && !this.like) {
      fail(`${line}, column ${column}: ${JSON.stringify(fieldText(b, start, end))} is a number, but the column's earlier values are text (${this.firstText[f]}); ${CATEGORICAL_HINT}`);
    }
    const text = fieldText(b, start, end);
    const codes = this.codes[f];
    let code = codes.get(text);
    if (code === undefined) {
      if (this.like) return NaN;
      code = codes.size;
      codes.set(text, code);
    }
    return code;
  }
}

/** Categories sorted, and the cells' codes renumbered to that order. */
function sortCategories(t: Rows, kinds: ColumnKinds): (string[] | undefined)[] {
  return kinds.kind.map((k, f) => {
    if (k !== 'categorical') return undefined;
    const seen = [...kinds.codes[f].keys()];
    if (kinds.like) return seen;
    const sorted = [...seen].sort();
    const order = new Float32Array(seen.length);
    sorted.forEach((c, i) => (order[kinds.codes[f].get(c)!] = i));
    const w = t.width;
    for (let r = 0; r < t.rows; r++) {
      const v = t.x[r * w + f];
      if (v === v) t.x[r * w + f] = order[v];
    }
    return sorted;
  });
}

function readCsv(files: string[], options: ReadOptions, channel: string): Table {
  const like = options.like;
  let names: string[] | undefined = like?.names;
  let target = typeof options.target === 'number' ? options.target : -1;
  let width = 0;
  let header: string[] | undefined;
  let kinds: ColumnKinds | undefined;
  let t: Rows | undefined;
  const labels = new LabelTexts();
  const bounds: number[] = [];
  for (const file of files) {
    const name = path.basename(file);
    let firstLine = true;
    eachLine(file, (b, start, end, lineNo) => {
      if (isBlank(b, start, end)) return;
      const where = `${name}, line ${lineNo}`;
      const n = splitCsv(b, start, end, bounds, where);
      if (firstLine && options.header) {
        firstLine = false;
        const cells = Array.from({ length: n }, (_, i) => fieldText(b, bounds[2 * i], bounds[2 * i + 1]).trim());
        if (!header) {
          if (typeof options.target === 'string') {
            target = cells.indexOf(options.target);
            if (target < 0) fail(`${where} (header): no column named ${JSON.stringify(options.target)} (target); columns are ${cells.join(', ')}`);
          }
          if (target >= cells.length) fail(`${where} (header): target column ${target} is past the last column (${cells.length} columns)`);
          const features = cells.filter((_, i) => i !== target);
          if (like && features.join(',') !== like.names.join(',')) fail(`${where} (header): columns ${cells.join(', ')} differ from the training data's`);
          header = cells;
          names = features;
          return;
        }
        // Later files may repeat the header line, or start with data.
        if (cells.join(',') === header.join(',')) return;
      }
      firstLine = false;
      if (!t) {
        if (target < 0) target = 0;
        if (target >= n) fail(`${where}: target column ${target} is past the last column (${n} columns)`);
        width = n;
        if (!names) {
          names = options.featureNames ?? Array.from({ length: n - 1 }, (_, i) => `feature_${i + 1}`);
          if (names.length !== n - 1) throw new ServerError('TRAINING_CONFIG_INVALID', `hyperparameter "feature_names" lists ${names.length} name(s), but ${where} has ${n - 1} feature column(s)`);
        }
        if (names.length !== n - 1) fail(`${where}: ${n} column(s), but the training data has ${names.length + 1}`);
        if (n < 2) fail(`${where}: a row needs a label and at least one feature`);
        kinds = new ColumnKinds(names, options.categorical, like);
        t = new Rows(n - 1);
      }
      if (n !== width) fail(`${where}: ${n} column(s), but the ${header ? 'header has' : like ? 'training data has' : 'first row has'} ${width}`);
      const at = t.next();
      const k = kinds!;
      let f = 0;
      for (let c = 0; c < n; c++) {
        const s = bounds[2 * c];
        const e = bounds[2 * c + 1];
        if (c === target) {
          const quoted = b[s] === 34 && e - s >= 2 && b[e - 1] === 34;
          const v = quoted ? parseCell(b, s + 1, e - 1) : parseCell(b, s, e);
          if (cellKind === Cell.Empty) fail(`${where}, column ${c + 1}: the label is empty`);
          t.labelNumbers[t.rows] = cellKind === Cell.Number ? v : NaN;
          t.labelCodes[t.rows] = cellKind === Cell.Number ? -1 : labels.code(fieldText(b, s, e).trim());
        } else {
          t.x[at + f] = k.value(b, s, e, f, where, c + 1);
          f++;
        }
      }
      t.rows++;
    });
  }
  if (!t || t.rows === 0 || !names || !kinds) return fail(`the ${channel} channel has no rows`);
  return {
    rows: t.rows,
    features: names.length,
    names,
    categories: sortCategories(t, kinds),
    x: t.x.subarray(0, t.rows * t.width),
    labelNumbers: t.labelNumbers.subarray(0, t.rows),
    labelCodes: t.labelCodes.subarray(0, t.rows),
    labelTexts: labels.texts,
    format: 'csv',
    files,
  };
}

/** libsvm: `label[:weight] [qid:n] index:value ...`; features are the indices as written, absent ones missing. */
function readLibsvm(files: string[], options: ReadOptions, channel: string): Table {
  let starts = new Int32Array(1024);
  let index = new Int32Array(1 << 16);
  let value = new Float32Array(1 << 16);
  let nnz = 0;
  let rows = 0;
  let labelNumbers = new Float64Array(1024);
  let maxIndex = -1;
  for (const file of files) {
    const name = path.basename(file);
    eachLine(file, (b, start, end, lineNo) => {
      if (isBlank(b, start, end)) return;
      const where = `${name}, line ${lineNo}`;
      starts = room(starts, rows + 2);
      labelNumbers = room(labelNumbers, rows + 1);
      starts[rows] = nnz;
      let i = start;
      let token = 0;
      while (i < end) {
        while (i < end && (b[i] === 32 || b[i] === 9 || b[i] === 13)) i++;
        if (i >= end) break;
        let j = i;
        while (j < end && b[j] !== 32 && b[j] !== 9 && b[j] !== 13) j++;
        const colon = b.indexOf(58, i);
        if (token === 0) {
          const labelEnd = colon >= 0 && colon < j ? colon : j;
          const v = parseCell(b, i, labelEnd);
          if (cellKind !== Cell.Number) fail(`${where}: the label ${JSON.stringify(cellText(b, i, labelEnd))} is not a number (libsvm labels are numbers)`);
          labelNumbers[rows] = v;
        } else {
          if (colon < 0 || colon >= j) fail(`${where}: ${JSON.stringify(cellText(b, i, j))} is not index:value`);
          if (j - i >= 4 && b[i] === 113 && b[i + 1] === 105 && b[i + 2] === 100 && b[i + 3] === 58) {
            // qid:n (ranking groups) means nothing to these objectives
          } else {
            const idx = parseCell(b, i, colon);
            if (cellKind !== Cell.Number || !Number.isInteger(idx) || idx < 0 || idx >= 1 << 24) fail(`${where}: feature index ${JSON.stringify(cellText(b, i, colon))} is not a whole number from 0 to 16777215`);
            const v = parseCell(b, colon + 1, j);
            if (cellKind === Cell.Text) fail(`${where}: the value of feature ${idx}, ${JSON.stringify(cellText(b, colon + 1, j))}, is not a number`);
            index = room(index, nnz + 1);
            value = room(value, nnz + 1);
            index[nnz] = idx;
            value[nnz] = v;
            nnz++;
            if (idx > maxIndex) maxIndex = idx;
          }
        }
        token++;
        i = j;
      }
      rows++;
    });
  }
  if (rows === 0) return fail(`the ${channel} channel has no rows`);
  starts[rows] = nnz;
  const like = options.like;
  const features = like ? like.features : maxIndex + 1;
  if (features === 0) return fail(`the ${channel} channel's rows have no features`);
  if (like && maxIndex >= features) fail(`the ${channel} channel has feature index ${maxIndex}, but the training data's largest is ${features - 1}`);
  const names = like ? like.names : options.featureNames ?? Array.from({ length: features }, (_, i) => `f${i}`);
  if (names.length !== features) throw new ServerError('TRAINING_CONFIG_INVALID', `hyperparameter "feature_names" lists ${names.length} name(s), but the libsvm data has ${features} feature(s) (indices 0 to ${features - 1})`);
  if (options.categorical && options.categorical.length > 0) throw new ServerError('TRAINING_CONFIG_INVALID', 'hyperparameter "categorical" applies to CSV data; libsvm data is numeric');
  const x = new Float32Array(new SharedArrayBuffer(rows * features * 4)).fill(NaN);
  for (let r = 0; r < rows; r++) for (let k = starts[r]; k < starts[r + 1]; k++) x[r * features + index[k]] = value[k];
  return { rows, features, names, categories: names.map(() => undefined), x, labelNumbers: labelNumbers.subarray(0, rows), labelCodes: new Int32Array(rows).fill(-1), labelTexts: [], format: 'libsvm', files };
}

/** libsvm or CSV, from a channel's ContentType; without one, from the first line's shape. */
export function formatOf(contentType: string | undefined, files: string[], channel: string): DataFormat {
  const type = contentType?.toLowerCase().split(';')[0].trim();
  if (type === 'text/csv' || type === 'csv') return 'csv';
  if (type === 'text/libsvm' || type === 'libsvm' || type === 'text/x-libsvm') return 'libsvm';
  if (type) throw new ServerError('TRAINING_CONFIG_INVALID', `channel "${channel}" has ContentType ${contentType}; algorithm=xgboost reads text/csv and text/libsvm`);
  let first = '';
  for (const file of files) {
    if (fs.statSync(file).isFIFO()) return 'csv';
    const fd = fs.openSync(file, 'r');
    const head = Buffer.alloc(4096);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    fs.closeSync(fd);
    first = head.subarray(0, n).toString('utf8').split('\n').find((l) => l.trim() !== '') ?? '';
    if (first) break;
  }
  const tokens = first.trim().split(/\s+/);
  return !first.includes(',') && tokens.length > 1 && tokens.slice(1).every((t) => /^\d+:/.test(t) || /^qid:/.test(t)) ? 'libsvm' : 'csv';
}

export function readTable(files: string[], options: ReadOptions, channel: string): Table {
  const format = options.format ?? 'csv';
  return format === 'libsvm' ? readLibsvm(files, options, channel) : readCsv(files, options, channel);
}
