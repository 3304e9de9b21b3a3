// The tree-model fixtures of test/fixtures/trees (written by tools/fixtures/make-tree-fixtures.py with the
// real XGBoost and LightGBM): their index, input rows and the libraries' own predictions.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

export const TREES = path.resolve(__dirname, '../fixtures/trees');

export interface TreeCase {
  name: string;
  library: 'xgboost' | 'lightgbm';
  files: string[];
  rows: string;
  expected: string;
  width: number;
  objective: string;
  folder?: string;
  bestNtreeLimit?: number;
  rounds?: number;
}

export interface TreeIndex {
  xgboost: string;
  lightgbm: string;
  cases: TreeCase[];
  inputs: Record<string, { file: string; rows: number; features: number }>;
  libsvm: { payload: string; model: string; expected: string };
  'bench-500': { file: string; trees: number; depth: number; features: number };
  'load-1000': { file: string; trees: number; depth: number; features: number };
}

export const treeIndex = (): TreeIndex => JSON.parse(fs.readFileSync(path.join(TREES, 'index.json'), 'utf8'));

/** A gzipped little-endian float array (.f32.gz or .f64.gz). */
export function readFloats(file: string): Float32Array | Float64Array {
  const bytes = zlib.gunzipSync(fs.readFileSync(path.join(TREES, file)));
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  return file.includes('.f32') ? new Float32Array(buffer) : new Float64Array(buffer);
}

/** A gzipped model file written out plain (the bench and load-time models), into `dir` as `name`. */
export function gunzipModel(file: string, dir: string, name: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const out = path.join(dir, name);
  fs.writeFileSync(out, zlib.gunzipSync(fs.readFileSync(path.join(TREES, file))));
  return out;
}

/** Rows as CSV lines: float32 values in their shortest form (they read back as the same float32), NaN as an empty field. */
export function csvLines(values: Float32Array | Float64Array, features: number, from: number, to: number): string {
  const lines: string[] = [];
  for (let r = from; r < to; r++) {
    const cells: string[] = [];
    for (let c = 0; c < features; c++) {
      const v = values[r * features + c];
      cells.push(Number.isNaN(v) ? '' : values instanceof Float32Array ? String(shortestFloat32(v)) : String(v));
    }
    lines.push(cells.join(','));
  }
  return `${lines.join('\n')}\n`;
}

function shortestFloat32(v: number): number {
  for (let p = 1; p <= 9; p++) {
    const candidate = Number(v.toPrecision(p));
    if (Math.fround(candidate) === v) return candidate;
  }
  return v;
}

/** Largest relative difference, and how many values differ at all; NaN must meet NaN. */
export function compare(got: ArrayLike<number>, want: ArrayLike<number>): { worst: number; differing: number; at: number } {
  let worst = 0;
  let differing = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const a = got[i];
    const b = want[i];
    if (a === b || (Number.isNaN(a) && Number.isNaN(b))) continue;
    differing += 1;
    const rel = Math.abs(a - b) / Math.max(Math.abs(b), Number.MIN_VALUE);
    if (!(rel <= worst)) {
      worst = Number.isNaN(rel) ? Infinity : rel;
      at = i;
    }
  }
  return { worst, differing, at };
}
