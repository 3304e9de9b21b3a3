// The boosting rounds: gradients from the margins, one tree per class grown on them (rows sampled by
// subsample), margins moved by the new leaves, the metrics logged in XGBoost's own line format, early
// stopping on the validation channel's last metric, and the state a checkpoint saves between rounds.
import { ServerError } from '../../errors';
import type { Binned } from './bins';
import { ColumnSampler, TreeGrower, type GrowParams } from './grow';
import type { HistogramThreads } from './histogram-threads';
import { evaluate } from './metrics';
import { quantile, type Objective } from './objective';
import { maximised, type BoostParams, type MetricName } from './params';
import { Random } from './random';
import { addPredictions, type Tree } from './tree';

/** One channel as the rounds see it. */
export interface Rows {
  x: Float32Array;
  rows: number;
  labels: Float32Array;
}

/** Everything a resumed job needs besides the data and the hyperparameters. */
export interface BoostState {
  /** Rounds done. */
  round: number;
  /** round-major, class-minor. */
  trees: Tree[];
  rowRandom: number[];
  columnRandom: number[];
  /** Per round: the logged metric values, train's then validation's, in eval_metric order. */
  history: number[][];
  best?: { score: number; iteration: number };
  sinceBest: number;
}

export interface BoostHooks {
  /** A line of the evaluation log. */
  log: (line: string) => void;
  /** Called after every round with the state; returns quickly (it decides itself whether to write). */
  roundDone?: (state: BoostState) => void;
  /** Checked between rounds; true stops training (SIGTERM). */
  shouldStop?: () => boolean;
}

export interface BoostResult {
  state: BoostState;
  /** Rounds in the final model (the best round's count when early stopping ran). */
  rounds: number;
  baseMargin: number;
  metrics: { names: string[]; values: number[] };
  stoppedEarly: boolean;
}

export class TrainingInterrupted extends Error {
  constructor(readonly state: BoostState) {
    super('training stopped by SIGTERM before it finished');
  }
}

/** Python's f"{x:.5f}" for the log line (nan as Python prints it). */
const fixed5 = (v: number) => (Number.isNaN(v) ? 'nan' : v.toFixed(5));

export class Booster {
  readonly metricNames: MetricName[];
  private readonly grower: TreeGrower;
  private readonly rowRandom: Random;
  private readonly columnRandom: Random;

  constructor(
    private readonly p: BoostParams,
    private readonly objective: Objective,
    private readonly binned: Binned,
    threads: HistogramThreads,
    /** The threads' gradient buffer (interleaved, one class at a time) and row order. */
    private readonly gh: Float32Array,
    private readonly rows: Int32Array,
    readonly baseMargin: number,
    metricNames: MetricName[],
    resume?: BoostState,
  ) {
    this.metricNames = metricNames;
    this.rowRandom = new Random(resume?.rowRandom ?? p.seed);
    this.columnRandom = new Random(resume?.columnRandom ?? (p.seed ^ 0x5bd1e995) >>> 0);
    const grow: GrowParams = {
      eta: p.eta,
      gamma: p.gamma,
      maxDepth: p.maxDepth,
      maxLeaves: p.maxLeaves,
      growPolicy: p.growPolicy,
      colsampleBytree: p.colsampleBytree,
      colsampleBylevel: p.colsampleBylevel,
      colsampleBynode: p.colsampleBynode,
      lambda: p.lambda,
      alpha: p.alpha,
      // XGBoost gives count:poisson's trees the objective's 0.7 too when the job sets none.
      maxDeltaStep: p.maxDeltaStep ?? (p.objective === 'count:poisson' ? 0.7 : 0),
      minChildWeight: p.minChildWeight,
      maxCatToOnehot: p.maxCatToOnehot,
      maxCatThreshold: p.maxCatThreshold,
    };
    this.grower = new TreeGrower(binned, threads, rows, grow, new ColumnSampler(this.columnRandom, binned.features, grow));
  }

  /** Margins of `data` after `trees` (the first rounds of a resumed job), in the order training adds them. */
  private margins(data: Rows, trees: Tree[]): Float32Array {
    const K = this.objective.groups;
    const m = new Float32Array(data.rows * K).fill(this.baseMargin);
    trees.forEach((t, i) => addPredictions(t, data.x, this.binned.features, data.rows, m, K, i % K));
    return m;
  }

  /** The metrics of `data`; `preds` receives the transformed margins (the next round's gradients reuse them). */
  private evaluateAll(margins: Float32Array, data: Rows, preds: Float32Array): number[] {
    this.objective.evalTransform(margins, data.rows, preds);
    return this.metricNames.map((m) => evaluate(m, preds, data.labels, data.rows, this.objective.groups));
  }

  async run(train: Rows, validation: Rows | undefined, hooks: BoostHooks, resume?: BoostState): Promise<BoostResult> {
    const p = this.p;
    const K = this.objective.groups;
    const R = train.rows;
    const state: BoostState = resume
      ? { ...resume, trees: [...resume.trees], history: [...resume.history] }
      : { round: 0, trees: [], rowRandom: [], columnRandom: [], history: [], sinceBest: 0 };
    const trainMargins = this.margins(train, state.trees);
    const validMargins = validation ? this.margins(validation, state.trees) : undefined;
    const ghAll = new Float32Array(2 * R * K);
    const trainPreds = new Float32Array(R * K);
    const validPreds = validation ? new Float32Array(validation.rows * K) : undefined;
    // Whether trainPreds holds the transform of the current margins (after a round's metrics).
    let predsCurrent = false;
    const early = validation && p.earlyStoppingRounds !== undefined;
    const last = this.metricNames[this.metricNames.length - 1];
    let stoppedEarly = false;
    let lastYield = performance.now();

    while (state.round < p.numRound && !stoppedEarly) {
      if (hooks.shouldStop?.()) throw new TrainingInterrupted(this.snapshot(state));
      this.objective.gradients(trainMargins, train.labels, R, ghAll, predsCurrent ? trainPreds : undefined);
      for (let k = 0; k < K; k++) {
        const gh = this.gh;
        gh.set(ghAll.subarray(2 * R * k, 2 * R * (k + 1)));
        if (p.subsample < 1) {
          const rng = this.rowRandom;
          for (let r = 0; r < R; r++) {
            if (!(gh[2 * r + 1] >= 0 && rng.next() < p.subsample)) {
              gh[2 * r] = 0;
              gh[2 * r + 1] = 0;
            }
          }
        }
        const grown = this.grower.grow();
        const t = grown.tree;
        if (this.objective.name === 'reg:absoluteerror') this.medianLeaves(grown, trainMargins, train.labels, gh);
        const rows = this.rows;
        for (let n = 0; n < t.left.length; n++) {
          if (t.left[n] >= 0) continue;
          const v = t.value[n];
          for (let i = grown.begin[n]; i < grown.end[n]; i++) trainMargins[rows[i] * K + k] += v;
        }
        if (validation && validMargins) addPredictions(t, validation.x, this.binned.features, validation.rows, validMargins, K, k);
        state.trees.push(t);
      }
      const values = this.evaluateAll(trainMargins, train, trainPreds);
      predsCurrent = true;
      if (validation && validMargins && validPreds) values.push(...this.evaluateAll(validMargins, validation, validPreds));
      state.history.push(values);
      const names = [...this.metricNames.map((m) => `train-${m}`), ...(validation ? this.metricNames.map((m) => `validation-${m}`) : [])];
      hooks.log(`[${state.round}]${names.map((n, i) => `#011${n}:${fixed5(values[i])}`).join('')}`);
      if (early) {
        const score = values[values.length - 1];
        const improved = state.best === undefined || (maximised(last) ? score > state.best.score : score < state.best.score);
        if (improved) {
          state.best = { score, iteration: state.round };
          state.sinceBest = 0;
        } else state.sinceBest += 1;
        if (state.sinceBest >= p.earlyStoppingRounds!) stoppedEarly = true;
      }
      state.round += 1;
      hooks.roundDone?.(this.snapshot(state));
      // Let a SIGTERM handler run now and then.
      if (performance.now() - lastYield > 50) {
        await new Promise((resolve) => setImmediate(resolve));
        lastYield = performance.now();
      }
    }
    const rounds = early && state.best ? state.best.iteration + 1 : state.round;
    const finalValues = state.history[rounds - 1];
    if (!finalValues) throw new ServerError('TRAINING_FAILED', 'no boosting round ran');
    const metricNames = [...this.metricNames.map((m) => `train:${m}`), ...(validation ? this.metricNames.map((m) => `validation:${m}`) : [])];
    return { state: this.snapshot(state), rounds, baseMargin: this.baseMargin, metrics: { names: metricNames, values: finalValues }, stoppedEarly };
  }

  private snapshot(state: BoostState): BoostState {
    return { ...state, rowRandom: this.rowRandom.state(), columnRandom: this.columnRandom.state() };
  }

  /**
   * reg:absoluteerror's leaves, as XGBoost 1.7 sets them: each leaf's value becomes the median of its
   * sampled rows' residuals (label - margin before this tree), without the learning rate (1.7 does not
   * apply it there); a leaf with no sampled row keeps its value.
   */
  private medianLeaves(grown: { tree: Tree; begin: number[]; end: number[] }, margins: Float32Array, labels: Float32Array, gh: Float32Array): void {
    const t = grown.tree;
    const rows = this.rows;
    for (let n = 0; n < t.left.length; n++) {
      if (t.left[n] >= 0) continue;
      const residuals: number[] = [];
      for (let i = grown.begin[n]; i < grown.end[n]; i++) {
        const r = rows[i];
        if (gh[2 * r + 1] !== 0) residuals.push(Math.fround(labels[r] - margins[r]));
      }
      if (residuals.length > 0) t.value[n] = quantile(residuals, 0.5);
    }
  }
}
