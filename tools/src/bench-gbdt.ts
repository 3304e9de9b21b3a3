// `npm run bench:gbdt`: `train`'s boosted trees beside XGBoost 1.7.4 (Debian's python3-xgboost,
// tree_method=hist), on the same files with the same hyperparameters and threads: the synthetic datasets of
// `npm run gbdt-data` (binary, multiclass, regression, counts; missing values) and the small real ones
// scikit-learn bundles, over several seeds (subsample and colsample make a seed matter), the two trainers
// alternating run by run on a shared machine. It reports each side's validation metric over the seeds, the
// time to fit (reading the CSV aside: each side's own log) and the peak memory (VmHWM) of each process, and
// whether this trainer is within XGBoost's spread plus 1% and within 3x its time. Writes docs/bench/gbdt.md.
// Datasets are generated under --data (not committed).
// usage: npm run bench:gbdt -- [--seeds N] [--rounds N] [--rows N] [--features F] [--large-rows N]
//        [--large-rounds N] [--data DIR] [--markdown FILE] [--python PATH] [--omp-wait-policy passive|active]
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { option } from './cli-helpers';
import { KINDS, makeDataset, OBJECTIVE } from './make-gbdt-data';

const ROOT = path.resolve(__dirname, '../..');
const MAXIMISED = new Set(['auc', 'aucpr']);

interface Run {
  metric: number;
  seconds: number;
  peakMb: number;
}

interface Dataset {
  name: string;
  dir: string;
  /** objective, num_class and eval_metric. */
  objective: Record<string, string>;
  rows: string;
  /** Measured for quality and speed, or only for memory (one seed). */
  seeds: number;
}

/** Runs a command to its end, sampling its peak resident memory (VmHWM) from /proc. */
function measured(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string; peakMb: number }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env });
    let stdout = '';
    let stderr = '';
    let peakKb = 0;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const sample = () => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peakKb = Math.max(peakKb, Number(m[1]));
      } catch {
        // exited between samples: the last sample stands
      }
    };
    const timer = setInterval(sample, 50);
    child.on('exit', (code) => {
      clearInterval(timer);
      resolve({ code, stdout, stderr, peakMb: Math.round(peakKb / 1024) });
    });
  });
}

async function ours(d: Dataset, hp: Record<string, string>): Promise<Run> {
  fs.writeFileSync(path.join(d.dir, 'input/config/hyperparameters.json'), JSON.stringify(hp));
  fs.rmSync(path.join(d.dir, 'output'), { recursive: true, force: true });
  const r = await measured(path.join(ROOT, 'container/train'), [], { PATH: process.env.PATH, SAGEMAKER_BASE_DIR: d.dir });
  if (r.code !== 0) throw new Error(`train failed on ${d.name}: ${r.stdout.slice(-2000)}`);
  const metric = hp.eval_metric.split(',').pop()!;
  const line = r.stdout.split('\n').find((l) => l.startsWith(`validation:${metric}=`));
  const grown = r.stdout.split('\n').map((l) => (l.startsWith('{') ? JSON.parse(l) : {})).find((l) => l.msg === 'trees grown');
  return { metric: Number(line!.split('=')[1]), seconds: grown.fitMs / 1000, peakMb: r.peakMb };
}

async function xgboost(d: Dataset, hp: Record<string, string>, python: string, ompPolicy: string): Promise<Run> {
  const r = await measured(python, [path.join(ROOT, 'tools/gbdt-bench/xgb_train.py'), d.dir, JSON.stringify(hp)], { PATH: process.env.PATH, OMP_WAIT_POLICY: ompPolicy });
  if (r.code !== 0) throw new Error(`XGBoost failed on ${d.name}: ${r.stderr.slice(-2000)}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  return { metric: out.value, seconds: out.dmatrix_seconds + out.train_seconds, peakMb: r.peakMb };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x: number, digits = 4) => (Math.abs(x) >= 100 ? x.toFixed(1) : x.toPrecision(digits));

async function main(): Promise<void> {
  const seeds = Number(option('seeds', '3'));
  const rounds = option('rounds', '100');
  const rows = Number(option('rows', '125000'));
  const features = Number(option('features', '20'));
  const largeRows = Number(option('large-rows', '1250000'));
  const largeRounds = option('large-rounds', '50');
  const dataDir = path.resolve(option('data', path.join(os.tmpdir(), 'gbdt-bench-data')));
  const markdown = path.resolve(option('markdown', path.join(ROOT, 'docs/bench/gbdt.md')));
  const python = option('python', fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
  const ompPolicy = option('omp-wait-policy', 'passive');
  if (spawnSync(python, ['-c', 'import xgboost, sklearn, pandas'], { stdio: 'ignore' }).status !== 0) {
    throw new Error("the comparison needs Debian's python3-xgboost, python3-sklearn and python3-pandas: apt-get install -y python3-xgboost python3-sklearn python3-pandas");
  }
  const xgbVersion = spawnSync(python, ['-c', 'import xgboost; print(xgboost.__version__)'], { encoding: 'utf8' }).stdout.trim();

  // Datasets, generated once per size (delete --data to regenerate).
  const sets: Dataset[] = [];
  for (const kind of KINDS) {
    const dir = path.join(dataDir, `${kind}-${rows}x${features}`);
    if (!fs.existsSync(path.join(dir, 'input/data/validation/data.csv'))) makeDataset(dir, { kind, rows, features, missing: 0.1, seed: 1 });
    sets.push({ name: `synthetic ${kind}`, dir, objective: OBJECTIVE[kind], rows: `${rows - Math.floor(rows / 5)} × ${features}`, seeds });
  }
  const sk = path.join(dataDir, 'sklearn');
  if (!fs.existsSync(path.join(sk, 'digits'))) spawnSync(python, [path.join(ROOT, 'tools/gbdt-bench/sklearn_datasets.py'), sk], { stdio: 'inherit' });
  for (const name of ['breast_cancer', 'wine', 'digits', 'diabetes']) {
    const dir = path.join(sk, name);
    const count = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8').trim().split('\n').length;
    const width = fs.readFileSync(path.join(dir, 'input/data/train/data.csv'), 'utf8').split('\n')[0].split(',').length - 1;
    const objective = JSON.parse(fs.readFileSync(path.join(dir, 'input/config/hyperparameters.json'), 'utf8')) as Record<string, string>;
    sets.push({ name: `scikit-learn ${name}`, dir, objective, rows: `${count('input/data/train/data.csv')} × ${width}`, seeds });
  }
  const largeDir = path.join(dataDir, `binary-${largeRows}x50`);
  if (largeRows > 0) {
    if (!fs.existsSync(path.join(largeDir, 'input/data/validation/data.csv'))) makeDataset(largeDir, { kind: 'binary', rows: largeRows, features: 50, missing: 0.1, seed: 2 });
    sets.push({ name: 'synthetic binary (large)', dir: largeDir, objective: OBJECTIVE.binary, rows: `${largeRows - Math.floor(largeRows / 5)} × 50`, seeds: 1 });
  }

  const loadBefore = os.loadavg()[0];
  const lines: string[] = [];
  for (const d of sets) {
    const base = d.objective;
    const objective = { objective: base.objective, eval_metric: base.eval_metric, ...(base.num_class ? { num_class: base.num_class } : {}) };
    const runsOurs: Run[] = [];
    const runsXgb: Run[] = [];
    for (let seed = 0; seed < d.seeds; seed++) {
      const hp = { ...objective, num_round: d.name.includes('large') ? largeRounds : rounds, max_depth: '6', eta: '0.3', subsample: '0.8', colsample_bytree: '0.8', seed: String(seed), nthread: '2' };
      // Alternate who goes first, so neither side always meets the machine in the same state.
      if (seed % 2 === 0) {
        runsOurs.push(await ours(d, hp));
        runsXgb.push(await xgboost(d, hp, python, ompPolicy));
      } else {
        runsXgb.push(await xgboost(d, hp, python, ompPolicy));
        runsOurs.push(await ours(d, hp));
      }
      process.stderr.write(`${d.name} seed ${seed}: ours ${runsOurs[seed].metric} (${runsOurs[seed].seconds.toFixed(2)} s, ${runsOurs[seed].peakMb} MB), XGBoost ${runsXgb[seed].metric} (${runsXgb[seed].seconds.toFixed(2)} s, ${runsXgb[seed].peakMb} MB)\n`);
    }
    const metric = objective.eval_metric;
    const mx = runsXgb.map((r) => r.metric);
    const mo = mean(runsOurs.map((r) => r.metric));
    const margin = 0.01 * Math.abs(mean(mx));
    const within = MAXIMISED.has(metric) ? mo >= Math.min(...mx) - margin : mo <= Math.max(...mx) + margin;
    const ratio = median(runsOurs.map((r) => r.seconds)) / median(runsXgb.map((r) => r.seconds));
    lines.push(
      `| ${d.name} | ${d.rows} | ${metric} | ${fmt(mo)} | ${fmt(mean(mx))} (${fmt(Math.min(...mx))} to ${fmt(Math.max(...mx))}) | ${d.seeds > 1 ? (within ? 'yes' : '**no**') : '-'} | ${median(runsOurs.map((r) => r.seconds)).toFixed(2)} | ${median(runsXgb.map((r) => r.seconds)).toFixed(2)} | ${ratio.toFixed(2)} | ${Math.max(...runsOurs.map((r) => r.peakMb))} | ${Math.max(...runsXgb.map((r) => r.peakMb))} |`,
    );
  }
  const cpu = os.cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
  const table = [
    '# `train` (algorithm=xgboost) beside XGBoost',
    '',
    `Written by \`npm run bench:gbdt\` (--seeds ${seeds} --rounds ${rounds} --rows ${rows} --features ${features} --large-rows ${largeRows} --large-rounds ${largeRounds}) on ${os.cpus().length} x ${cpu}, Node ${process.version}, XGBoost ${xgbVersion} (tree_method=hist, OMP_WAIT_POLICY=${ompPolicy}); both sides with nthread=2, max_depth=6, eta=0.3, subsample=0.8, colsample_bytree=0.8, seeds 0 to ${seeds - 1}, the two trainers alternating run by run. Load average ${loadBefore.toFixed(1)} at the start and ${os.loadavg()[0].toFixed(1)} at the end (the machine is shared). The metric is the validation channel's after the last round, the mean over the seeds for this trainer and the mean and range for XGBoost; "within" is this trainer's mean inside XGBoost's range widened by 1% of its mean. Seconds are the fit (bins, rounds; reading the CSV aside), median over the seeds; memory is each process's peak resident set (VmHWM). [What it measures](../gradient-boosting.md#quality-and-speed-beside-xgboost).`,
    '',
    '| dataset | train rows × features | metric | this trainer | XGBoost (range over seeds) | within | this trainer s | XGBoost s | time ratio | this trainer MB | XGBoost MB |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...lines,
    '',
  ].join('\n');
  fs.mkdirSync(path.dirname(markdown), { recursive: true });
  fs.writeFileSync(markdown, table);
  console.log(table);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
