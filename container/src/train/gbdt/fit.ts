// Fitting the boosted trees on tables already read: cuts and bins (on the threads), the boosting rounds,
// checkpoints read and written around them, and the trained model. No file but the checkpoints: the job
// (job.ts) reads the channels and writes the model; tests call this directly.
import { ServerError } from '../../errors';
import type { Logger } from '../../logger';
import { TrainingStopped } from '../logistic';
import { slotLayout, type Binned } from './bins';
import { Booster, TrainingInterrupted, type BoostResult, type BoostState, type Rows } from './boost';
import { fingerprint, loadCheckpoint, saveCheckpoint } from './checkpoint';
import { isClassifier, type TrainedModel } from './export';
import { HistogramThreads } from './histogram-threads';
import { Objective } from './objective';
import { defaultMetric, type BoostParams, type MetricName } from './params';
import type { Table } from './table';

/** A table with its labels as the objective takes them (class indices for text classes). */
export type LabelledTable = Table & { labels: Float32Array; classNames?: (string | number)[] };

export interface FitOptions {
  /** Threads in all, the main thread included. */
  threads: number;
  /** Each round's evaluation line. */
  log?: (line: string) => void;
  /** Checked between rounds (SIGTERM). */
  shouldStop?: () => boolean;
  /** The checkpoint folder, when checkpoints are on. */
  checkpoints?: string;
  logger?: Logger;
}

export interface Fitted {
  model: TrainedModel;
  result: BoostResult;
  metricNames: MetricName[];
}

/** Cells (rows × features) below which a fit runs on the main thread alone. */
const SMALL_TABLE = 1 << 20;

export const objectiveOf = (p: BoostParams): Objective => new Objective({ name: p.objective, numClass: p.numClass, scalePosWeight: p.scalePosWeight, poissonMaxDeltaStep: p.maxDeltaStep ?? 0.7 });

export async function fitBoosted(p: BoostParams, train: LabelledTable, validation: LabelledTable | undefined, options: FitOptions): Promise<Fitted> {
  const objective = objectiveOf(p);
  const metricNames = p.evalMetric.length > 0 ? p.evalMetric : [defaultMetric(p.objective)];
  const logger = options.logger;
  // A small table trains faster on the main thread alone than it takes to start a helper and wake it at
  // every level; the model is the same either way.
  const pool = new HistogramThreads(train.rows * train.features < SMALL_TABLE ? 1 : options.threads);
  try {
    const started = performance.now();
    const cuts = pool.cuts(train, p.maxBin);
    const layout = slotLayout(cuts);
    const cells = train.rows * train.features;
    const cellArray = () => (layout.slots <= 65536 ? new Uint16Array(new SharedArrayBuffer(cells * 2)) : new Uint32Array(new SharedArrayBuffer(cells * 4)));
    const bins = cellArray();
    const columns = cellArray();
    const gh = new Float32Array(new SharedArrayBuffer(train.rows * 8));
    const rowOrder = new Int32Array(new SharedArrayBuffer(train.rows * 4));
    const binned: Binned = { cuts, rows: train.rows, features: train.features, bins, columns, slot2: layout.slot2, slots: layout.slots };
    pool.setData({ bins, columns, features: train.features, slot2: layout.slot2, gh, rows: rowOrder }, layout.slots);
    pool.bin(cuts, train.x, train.rows);
    logger?.debug({ ms: Math.round(performance.now() - started), slots: layout.slots }, 'binned');
    const baseScore = p.baseScore ?? objective.defaultBaseScore(train.labels);
    const baseMargin = objective.baseMargin(baseScore);

    const dir = options.checkpoints;
    const print = dir ? fingerprint(p, [train, ...(validation ? [validation] : [])]) : '';
    let resume: BoostState | undefined;
    if (dir) {
      const found = loadCheckpoint(dir, print);
      if (found.ignored) logger?.warn({ checkpoints: dir }, `checkpoint not resumed: ${found.ignored}`);
      resume = found.state;
      if (resume) logger?.info({ checkpoints: dir, round: resume.round }, `resuming from the checkpoint after round ${resume.round}`);
    }
    const booster = new Booster(p, objective, binned, pool, gh, rowOrder, baseMargin, metricNames, resume);
    const trainRows: Rows = { x: train.x, rows: train.rows, labels: train.labels };
    const validRows: Rows | undefined = validation ? { x: validation.x, rows: validation.rows, labels: validation.labels } : undefined;
    let lastCheckpoint = performance.now();
    let result: BoostResult;
    try {
      result = await booster.run(
        trainRows,
        validRows,
        {
          log: options.log ?? (() => undefined),
          shouldStop: options.shouldStop,
          roundDone: (state) => {
            if (!dir || state.round >= p.numRound) return;
            if (performance.now() - lastCheckpoint < p.checkpointInterval * 1000) return;
            saveCheckpoint(dir, print, state);
            lastCheckpoint = performance.now();
          },
        },
        resume,
      );
    } catch (err) {
      if (!(err instanceof TrainingInterrupted)) throw err;
      if (dir) {
        saveCheckpoint(dir, print, err.state);
        throw new TrainingStopped(`training stopped by SIGTERM after round ${err.state.round} of ${p.numRound}; a checkpoint was written to ${dir} and a restarted job resumes from it`);
      }
      throw new TrainingStopped(`training stopped by SIGTERM after round ${err.state.round} of ${p.numRound} (no checkpoint folder is configured, so a restarted job starts again)`);
    }
    const groups = objective.groups;
    const model: TrainedModel = {
      objective: p.objective,
      groups,
      features: train.features,
      names: train.names,
      categories: train.categories,
      baseScore,
      baseMargin,
      trees: result.state.trees.slice(0, result.rounds * groups),
      ...(isClassifier(p.objective) ? { classNames: train.classNames ?? Array.from({ length: groups === 1 ? 2 : groups }, (_, i) => i) } : {}),
      ...(result.state.best ? { bestIteration: result.state.best.iteration, bestScore: result.state.best.score } : {}),
      params: p,
    };
    if (model.trees.length === 0) throw new ServerError('TRAINING_FAILED', 'no boosting round ran');
    return { model, result, metricNames };
  } finally {
    pool.close();
  }
}
