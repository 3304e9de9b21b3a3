// `npm run gbdt-data`: synthetic tabular datasets for the boosted trees, laid out for `train` (a folder like
// /opt/ml: input/data/train and input/data/validation, CSV with the label first and no header, as
// SageMaker's XGBoost reads it). Deterministic: a seed gives the same bytes. Features mix normal, uniform,
// skewed and integer columns, some with missing values; the label depends on a dozen of them through
// thresholds, interactions and curves, so trees have something to find and noise keeps it honest.
// usage: npm run gbdt-data -- --kind binary|multiclass|regression|counts [--rows N] [--features F]
//        [--missing FRACTION] [--seed S] [--out DIR]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Random } from '../../container/dist/train/gbdt/random';
import { option } from './cli-helpers';

export const KINDS = ['binary', 'multiclass', 'regression', 'counts'] as const;
export type Kind = (typeof KINDS)[number];

export interface DataOptions {
  kind: Kind;
  rows: number;
  features: number;
  /** Share of cells left empty in every third feature. */
  missing: number;
  seed: number;
}

/** The hyperparameters each kind is trained with (the bench adds its own). */
export const OBJECTIVE: Record<Kind, Record<string, string>> = {
  binary: { objective: 'binary:logistic', eval_metric: 'logloss' },
  multiclass: { objective: 'multi:softprob', num_class: '5', eval_metric: 'mlogloss' },
  regression: { objective: 'reg:squarederror', eval_metric: 'rmse' },
  counts: { objective: 'count:poisson', eval_metric: 'poisson-nloglik' },
};

class Draw {
  constructor(private readonly r: Random) {}
  uniform(): number {
    return this.r.next();
  }
  normal(): number {
    // Box-Muller; 1 - u keeps the logarithm finite.
    return Math.sqrt(-2 * Math.log(1 - this.r.next())) * Math.cos(2 * Math.PI * this.r.next());
  }
  poisson(mean: number): number {
    // Knuth's method in pieces, so large means do not underflow.
    let k = 0;
    let left = mean;
    while (left > 0) {
      const step = Math.min(left, 30);
      left -= step;
      let p = 1;
      const limit = Math.exp(-step);
      for (;;) {
        p *= this.r.next();
        if (p <= limit) break;
        k++;
      }
    }
    return k;
  }
}

/** One row's features: column j's kind is j mod 5 (normal, uniform, lognormal, integer 0-9, normal). */
function features(d: Draw, F: number, missing: number): number[] {
  const x: number[] = new Array(F);
  for (let j = 0; j < F; j++) {
    switch (j % 5) {
      case 0:
      case 4:
        x[j] = d.normal();
        break;
      case 1:
        x[j] = d.uniform();
        break;
      case 2:
        x[j] = Math.exp(d.normal());
        break;
      default:
        x[j] = Math.floor(d.uniform() * 10);
    }
    if (j % 3 === 1 && d.uniform() < missing) x[j] = NaN;
  }
  return x;
}

/** The signal: thresholds, an interaction, curves; a missing value counts as 0 (missingness carries signal). */
function signal(x: number[]): number {
  const v = (j: number) => (j < x.length && x[j] === x[j] ? x[j] : 0);
  return (
    1.2 * v(0) +
    (v(1) > 0.6 ? 1 : -0.4) +
    0.6 * Math.log1p(v(2)) +
    (v(3) === 3 || v(3) === 7 ? 0.9 : 0) +
    0.8 * v(4) * v(5) +
    Math.sin(2 * v(5)) +
    (v(6) < 0 && v(9) > 0 ? 0.7 : 0) -
    0.3 * v(10) * v(10) +
    (x.length > 7 && x[7] !== x[7] ? 0.5 : 0) +
    0.4 * Math.tanh(v(12) * v(14))
  );
}

function label(d: Draw, kind: Kind, x: number[]): string {
  const s = signal(x);
  switch (kind) {
    case 'binary':
      return d.uniform() < 1 / (1 + Math.exp(-(s - 0.6))) ? '1' : '0';
    case 'regression':
      return (s + d.normal()).toPrecision(6);
    case 'counts':
      return String(d.poisson(Math.exp(0.45 * s - 0.2)));
    case 'multiclass': {
      const v = (j: number) => (j < x.length && x[j] === x[j] ? x[j] : 0);
      const scores = [s, -s, 0.8 * v(0) - v(4), Math.sin(3 * v(1)) + v(8) / 5, (v(3) - 4.5) / 2];
      const e = scores.map((z) => Math.exp(1.5 * z));
      const total = e.reduce((a, b) => a + b, 0);
      let u = d.uniform() * total;
      for (let k = 0; k < e.length; k++) {
        u -= e[k];
        if (u < 0) return String(k);
      }
      return String(e.length - 1);
    }
  }
}

const cell = (v: number) => (v !== v ? '' : Number.isInteger(v) ? String(v) : v.toPrecision(5));

/** Writes `rows` rows (label first, no header) to `file`, buffered. */
function writeRows(file: string, rows: number, o: DataOptions, d: Draw): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const fd = fs.openSync(file, 'w');
  try {
    let chunk: string[] = [];
    for (let r = 0; r < rows; r++) {
      const x = features(d, o.features, o.missing);
      chunk.push(`${label(d, o.kind, x)},${x.map(cell).join(',')}`);
      if (chunk.length === 10_000 || r === rows - 1) {
        fs.writeSync(fd, `${chunk.join('\n')}\n`);
        chunk = [];
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** A dataset folder: 80% of the rows in train/, 20% in validation/. */
export function makeDataset(dir: string, o: DataOptions): void {
  const d = new Draw(new Random(o.seed));
  const validation = Math.floor(o.rows / 5);
  writeRows(path.join(dir, 'input/data/train/data.csv'), o.rows - validation, o, d);
  writeRows(path.join(dir, 'input/data/validation/data.csv'), validation, o, d);
  fs.mkdirSync(path.join(dir, 'input/config'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'input/config/hyperparameters.json'), `${JSON.stringify({ num_round: '100', ...OBJECTIVE[o.kind] }, null, 2)}\n`);
}

if (require.main === module) {
  const kind = option('kind', 'binary') as Kind;
  if (!KINDS.includes(kind)) {
    console.error(`--kind must be one of ${KINDS.join(', ')}`);
    process.exit(2);
  }
  const o: DataOptions = { kind, rows: Number(option('rows', '125000')), features: Number(option('features', '20')), missing: Number(option('missing', '0.1')), seed: Number(option('seed', '1')) };
  const out = path.resolve(option('out', `local-test/gbdt-${kind}`));
  makeDataset(out, o);
  console.log(`${out}: ${o.rows} rows (${o.rows - Math.floor(o.rows / 5)} train, ${Math.floor(o.rows / 5)} validation), ${o.features} features, ${kind}`);
}
