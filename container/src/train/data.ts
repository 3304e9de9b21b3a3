// Training data: finds a channel's files (File/FastFile folders, or Pipe-mode FIFOs) and reads CSV into a
// feature matrix and targets. Errors name the file, line and column.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'csv-parse/sync';
import { ServerError } from '../errors';
import type { Hyperparameters } from './hyperparameters';

/** How a feature column is learned: as numbers (standardised), or as categories (one-hot encoded). */
export type ColumnKind = 'numeric' | 'categorical';

export interface Dataset {
  features: string[];
  /** Each feature column's kind, in feature order. */
  kinds: ColumnKind[];
  /** Row-major [rows, features]: the numeric columns' values, NaN where missing (and in categorical columns). */
  x: Float64Array;
  /** The categorical columns' text per row (undefined for numeric columns); the empty string is missing. */
  text: (string[] | undefined)[];
  rows: number;
  /** The label column's text per row (parsed by the algorithm: class names or numbers). */
  targets: string[];
  files: string[];
}

export interface ChannelConfig {
  TrainingInputMode?: string;
  ContentType?: string;
}

function fail(message: string): never {
  throw new ServerError('TRAINING_DATA_INVALID', message);
}

/** inputdataconfig.json, when present: channel name -> settings. */
export function readInputDataConfig(file: string): Record<string, ChannelConfig> {
  if (!fs.existsSync(file)) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ServerError('TRAINING_CONFIG_INVALID', `${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ServerError('TRAINING_CONFIG_INVALID', `${file} must be a JSON object keyed by channel name`);
  return parsed as Record<string, ChannelConfig>;
}

const SKIP = (name: string) => name.startsWith('.') || name.toLowerCase().endsWith('.onnx') || name === 'model.json' || name.endsWith('.manifest');

/**
 * The files of a channel: every regular file below `data/<channel>` (SageMaker delivers many parts,
 * possibly in sub-folders), sorted; or, in Pipe mode, the FIFO `data/<channel>_0`. Undefined when the
 * channel was not given at all.
 */
export function channelFiles(dataDir: string, channel: string, config?: ChannelConfig): string[] | undefined {
  const dir = path.join(dataDir, channel);
  const fifo = path.join(dataDir, `${channel}_0`);
  const pipe = config?.TrainingInputMode?.toLowerCase() === 'pipe' || (!fs.existsSync(dir) && fs.existsSync(fifo));
  if (pipe) {
    if (!fs.existsSync(fifo)) throw new ServerError('TRAINING_DATA_MISSING', `channel "${channel}" is in Pipe mode but ${fifo} does not exist`);
    return [fifo];
  }
  if (!fs.existsSync(dir)) return undefined;
  const files: string[] = [];
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (SKIP(entry.name)) continue;
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else files.push(full);
    }
  };
  walk(dir);
  return files;
}

/** The .onnx file (and model.json) of a bring-your-own-model training channel, if it has one. */
export function channelModel(dataDir: string, channel: string): { onnx: string; json?: string } | undefined {
  const dir = path.join(dataDir, channel);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) return undefined;
  const onnx = fs.readdirSync(dir).filter((n) => n.toLowerCase().endsWith('.onnx')).sort();
  if (onnx.length === 0) return undefined;
  if (onnx.length > 1) throw new ServerError('TRAINING_MODEL_INVALID', `the ${channel} channel holds ${onnx.length} .onnx files (${onnx.join(', ')}); bring one model`);
  const json = path.join(dir, 'model.json');
  return { onnx: path.join(dir, onnx[0]), json: fs.existsSync(json) ? json : undefined };
}

const NUMBER = /^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/;

interface Layout {
  width: number;
  target: number;
  features: string[];
  /** Each feature's kind once the training data has been read (a validation set must follow them). */
  kinds?: ColumnKind[];
}

/**
 * Whether a validation file's first line is data rather than a header: every numeric feature cell is a
 * number or empty, and the line is not the feature names themselves.
 */
function isDataRow(record: readonly string[], layout: Layout): boolean {
  if (record.length !== layout.width) return false;
  const cells = record.filter((_, c) => c !== layout.target);
  if (cells.every((cell, f) => cell.trim() === layout.features[f])) return false;
  return cells.every((cell, f) => layout.kinds?.[f] === 'categorical' || cell.trim() === '' || NUMBER.test(cell));
}

const CATEGORICAL_HINT = 'name the column in the "categorical" hyperparameter to treat every value as a category';

/**
 * The feature columns as they are read: each column's kind is named (hyperparameter `categorical`),
 * fixed (a validation set takes the training set's), or found from its values: numbers make it numeric,
 * text makes it categorical, and a column holding both is refused (a typo in a numeric column is likelier
 * than a category). Empty cells are missing values, whatever the kind.
 */
class Columns {
  x = new Float64Array(1024);
  readonly text: (string[] | undefined)[];
  rows = 0;
  /** Where each column auto-detected as categorical got its first text, for the error when a number follows. */
  private readonly firstText: (string | undefined)[];

  constructor(readonly features: string[], readonly kinds: (ColumnKind | undefined)[], private readonly fixed: boolean) {
    this.text = kinds.map((k) => (k === 'categorical' ? [] : undefined));
    this.firstText = features.map(() => undefined);
  }

  /** Appends one row of feature cells; `where(f)` names the cell of feature f in errors. */
  add(cells: readonly string[], where: (f: number) => string): void {
    const f = this.features.length;
    if ((this.rows + 1) * f > this.x.length) {
      const grown = new Float64Array(Math.max((this.rows + 1) * f, this.x.length * 2));
      grown.set(this.x);
      this.x = grown;
    }
    for (let k = 0; k < f; k++) {
      const cell = cells[k];
      const missing = cell.trim() === '';
      const number = !missing && NUMBER.test(cell);
      let kind = this.kinds[k];
      if (kind === undefined && !missing) {
        kind = this.kinds[k] = number ? 'numeric' : 'categorical';
        if (kind === 'categorical') {
          this.text[k] = new Array<string>(this.rows).fill('');
          this.firstText[k] = `${where(k)}: ${JSON.stringify(cell)}`;
        }
      }
      if (kind === 'categorical') {
        if (number && this.firstText[k] !== undefined) {
          fail(`${where(k)}: ${JSON.stringify(cell)} is a number, but the column's earlier values are text (${this.firstText[k]}); ${CATEGORICAL_HINT}`);
        }
        this.text[k]!.push(missing ? '' : cell);
        this.x[this.rows * f + k] = NaN;
      } else {
        if (!missing && !number) {
          fail(`${where(k)}: ${JSON.stringify(cell)} is not a number; ${this.fixed ? 'the column is numeric in the training data' : `the column's other values are numbers (${CATEGORICAL_HINT})`}`);
        }
        this.x[this.rows * f + k] = missing ? NaN : Number(cell);
      }
    }
    this.rows += 1;
  }
}

/** Each feature's kind as the `categorical` hyperparameter names it (undefined: found from the values). */
function namedKinds(hp: Hyperparameters, features: string[]): (ColumnKind | undefined)[] {
  const kinds: (ColumnKind | undefined)[] = features.map(() => undefined);
  for (const name of hp.categorical ?? []) {
    const f = features.indexOf(name);
    if (f < 0) throw new ServerError('TRAINING_CONFIG_INVALID', `hyperparameter "categorical" names ${JSON.stringify(name)}, which is not a feature column; features are ${features.join(', ')}`);
    kinds[f] = 'categorical';
  }
  return kinds;
}

/** Reads CSV files into one dataset; `expected` (the training set's layout) checks a validation set. */
export function loadCsv(files: string[], hp: Hyperparameters, channel: string, expected?: Layout): Dataset & { layout: Layout } {
  let layout = expected;
  const targets: string[] = [];
  let columns: Columns | undefined;
  for (const file of files) {
    const name = path.basename(file);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new ServerError('TRAINING_DATA_INVALID', `${channel} channel: cannot read ${file}: ${(err as Error).message}`);
    }
    let records: { record: string[]; info: { lines: number } }[];
    try {
      records = parse(text, { bom: true, relax_column_count: true, skip_empty_lines: true, info: true }) as never;
    } catch (err) {
      const e = err as { lines?: number; message?: string };
      fail(`${name}, line ${e.lines ?? '?'}: malformed CSV (${String(e.message).replace(/\s*at line \d+\.?$/, '')})`);
    }
    let start = 0;
    // A validation file may come without the training files' header line: its columns are then read by
    // position, in the training layout.
    const headerless = expected !== undefined && hp.header && records.length > 0 && isDataRow(records[0].record, expected);
    if (hp.header && !headerless) {
      if (records.length === 0) fail(`${name} is empty: the ${channel} channel needs a header line and at least one row`);
      const header = records[0].record.map((c) => c.trim());
      const target = typeof hp.target === 'number' ? hp.target : header.indexOf(hp.target);
      if (target < 0) fail(`${name}, line 1 (header): no column named ${JSON.stringify(hp.target)} (target); columns are ${header.join(', ')}`);
      if (target >= header.length) fail(`${name}, line 1 (header): target column ${target} is past the last column (${header.length} columns)`);
      const features = header.filter((_, i) => i !== target);
      if (layout && (layout.width !== header.length || layout.features.join(',') !== features.join(','))) {
        fail(`${name}, line 1 (header): columns ${header.join(', ')} differ from the training data's`);
      }
      layout ??= { width: header.length, target, features };
      start = 1;
    }
    if (records.length - start === 0) fail(`${name} is empty: the ${channel} channel needs at least one row`);
    for (let r = start; r < records.length; r++) {
      const { record, info } = records[r];
      const line = info.lines;
      if (!layout) {
        const target = typeof hp.target === 'number' ? hp.target : -1;
        if (target >= record.length) fail(`${name}, line ${line}: target column ${target} is past the last column (${record.length} columns)`);
        const features = hp.featureNames ?? Array.from({ length: record.length - 1 }, (_, i) => `feature_${i + 1}`);
        if (features.length !== record.length - 1) {
          throw new ServerError('TRAINING_CONFIG_INVALID', `hyperparameter "feature_names" lists ${features.length} name(s), but ${name}, line ${line} has ${record.length - 1} feature column(s)`);
        }
        layout = { width: record.length, target, features };
      }
      if (record.length !== layout.width) fail(`${name}, line ${line}: ${record.length} column(s), but the ${expected ? 'training data has' : 'first row has'} ${layout.width}`);
      if (layout.width < 2) fail(`${name}, line ${line}: a row needs a label and at least one feature`);
      const l = layout;
      columns ??= new Columns(l.features, expected?.kinds ? [...expected.kinds] : namedKinds(hp, l.features), expected?.kinds !== undefined);
      if (record[l.target].trim() === '') fail(`${name}, line ${line}, column ${l.target + 1}: the label is empty`);
      targets.push(record[l.target].trim());
      const cells = record.filter((_, c) => c !== l.target);
      columns.add(cells, (f) => `${name}, line ${line}, column ${f + (f >= l.target ? 2 : 1)}`);
    }
  }
  if (!layout || !columns || columns.rows === 0) fail(`the ${channel} channel has no rows`);
  const empty = layout.features.filter((_, f) => columns!.kinds[f] === undefined);
  if (empty.length > 0) fail(`${channel} channel: column(s) ${empty.join(', ')} have no values`);
  const kinds = columns.kinds as ColumnKind[];
  const f = layout.features.length;
  return {
    features: layout.features,
    kinds,
    x: columns.x.subarray(0, columns.rows * f),
    text: columns.text,
    rows: columns.rows,
    targets,
    files,
    layout: { ...layout, kinds },
  };
}
