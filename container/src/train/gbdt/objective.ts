// The objectives XGBoost 1.7 trains with: what a label may be, where the margin starts (base_score), the
// float32 gradient and hessian of each row, and the transform from margins to the predictions metrics see.
import { ServerError } from '../../errors';
import { sigmoidF32, softmax } from '../../trees/objectives';
import type { ObjectiveName } from './params';

const f32 = Math.fround;
const EPS = f32(1e-16);

export interface ObjectiveSettings {
  name: ObjectiveName;
  /** Classes of a multi:* objective. */
  numClass: number;
  scalePosWeight: number;
  /** count:poisson's own max_delta_step (XGBoost's 0.7 unless the job sets max_delta_step). */
  poissonMaxDeltaStep: number;
}

export class Objective {
  readonly groups: number;

  constructor(readonly s: ObjectiveSettings) {
    this.groups = s.name.startsWith('multi:') ? s.numClass : 1;
  }

  get name(): ObjectiveName {
    return this.s.name;
  }

  /** Refuses a label XGBoost would refuse, naming the row (1-based) of the channel. */
  checkLabels(labels: Float32Array, channel: string): void {
    const name = this.s.name;
    for (let r = 0; r < labels.length; r++) {
      const y = labels[r];
      let why: string | undefined;
      if (name === 'binary:logistic' || name === 'binary:logitraw' || name === 'reg:logistic') {
        if (!(y >= 0 && y <= 1)) why = `must be in [0, 1] for objective=${name}`;
      } else if (name.startsWith('multi:')) {
        if (!(Number.isInteger(y) && y >= 0 && y < this.s.numClass)) why = `must be a class index 0 to ${this.s.numClass - 1} (num_class=${this.s.numClass}) for objective=${name}`;
      } else if (name === 'count:poisson') {
        if (!(y >= 0)) why = 'must be >= 0 for objective=count:poisson';
      }
      if (why) throw new ServerError('TRAINING_DATA_INVALID', `${channel} channel, row ${r + 1}: label ${y} ${why}`);
    }
  }

  /** The default base_score: 0.5, but reg:absoluteerror starts from the labels' median (XGBoost 1.7 estimates it). */
  defaultBaseScore(labels: Float32Array): number {
    if (this.s.name !== 'reg:absoluteerror') return 0.5;
    return quantile(labels, 0.5);
  }

  /** base_score in margin space (XGBoost's ProbToMargin), float32. */
  baseMargin(baseScore: number): number {
    const b = f32(baseScore);
    switch (this.s.name) {
      case 'binary:logistic':
      case 'reg:logistic':
        return f32(-f32(Math.log(f32(f32(1 / b) - 1))));
      case 'count:poisson':
        return f32(Math.log(b));
      default:
        return b;
    }
  }

  /**
   * Gradients of every row and group from the margins [rows, groups]: out is [groups][rows] interleaved
   * (gradient, hessian), float32 as XGBoost computes them. `transformed` is evalTransform of these same
   * margins when the caller has it (the last round's metrics did the work): the same float32 values.
   */
  gradients(margins: Float32Array, labels: Float32Array, rows: number, out: Float32Array, transformed?: Float32Array): void {
    const K = this.groups;
    switch (this.s.name) {
      case 'reg:squarederror':
        for (let r = 0; r < rows; r++) {
          out[2 * r] = f32(margins[r] - labels[r]);
          out[2 * r + 1] = 1;
        }
        return;
      case 'reg:absoluteerror':
        for (let r = 0; r < rows; r++) {
          const d = margins[r] - labels[r];
          out[2 * r] = d > 0 ? 1 : d < 0 ? -1 : 0;
          out[2 * r + 1] = 1;
        }
        return;
      case 'count:poisson': {
        const step = this.s.poissonMaxDeltaStep;
        for (let r = 0; r < rows; r++) {
          const p = margins[r];
          out[2 * r] = f32((transformed ? transformed[r] : f32(Math.exp(p))) - labels[r]);
          out[2 * r + 1] = f32(Math.exp(f32(p + step)));
        }
        return;
      }
      case 'binary:logistic':
      case 'binary:logitraw':
      case 'reg:logistic': {
        const spw = this.s.scalePosWeight;
        for (let r = 0; r < rows; r++) {
          const y = labels[r];
          const p = transformed && this.s.name !== 'binary:logitraw' ? transformed[r] : sigmoidF32(margins[r]);
          const w = y === 1 ? spw : 1;
          out[2 * r] = f32(f32(p - y) * w);
          out[2 * r + 1] = f32(Math.max(f32(p * f32(1 - p)), EPS) * w);
        }
        return;
      }
      case 'multi:softprob':
      case 'multi:softmax': {
        const prob = new Float32Array(K);
        for (let r = 0; r < rows; r++) {
          if (transformed) prob.set(transformed.subarray(r * K, r * K + K));
          else softmax(margins, r * K, K, prob, 0, true);
          const y = labels[r];
          for (let k = 0; k < K; k++) {
            const p = prob[k];
            const at = 2 * (k * rows + r);
            out[at] = k === y ? f32(p - 1) : p;
            out[at + 1] = Math.max(f32(f32(2 * p) * f32(1 - p)), EPS);
          }
        }
        return;
      }
    }
  }

  /** Predictions as metrics see them (XGBoost's EvalTransform): probabilities, counts or values, float32 (into `out` when given). */
  evalTransform(margins: Float32Array, rows: number, out: Float32Array = new Float32Array(rows * this.groups)): Float32Array {
    const K = this.groups;
    switch (this.s.name) {
      case 'binary:logistic':
      case 'reg:logistic':
        for (let r = 0; r < rows; r++) out[r] = sigmoidF32(margins[r]);
        return out;
      case 'count:poisson':
        for (let r = 0; r < rows; r++) out[r] = Math.exp(margins[r]);
        return out;
      case 'multi:softprob':
      case 'multi:softmax':
        for (let r = 0; r < rows; r++) softmax(margins, r * K, K, out, r * K, true);
        return out;
      default:
        out.set(margins.subarray(0, rows * K));
        return out;
    }
  }
}

/** XGBoost's common::Quantile: linear interpolation between order statistics (NIST method). */
export function quantile(values: ArrayLike<number>, alpha: number): number {
  const n = values.length;
  if (n === 0) return NaN;
  const sorted = Float32Array.from(values).sort();
  if (alpha <= 1 / (n + 1)) return sorted[0];
  if (alpha >= n / (n + 1)) return sorted[n - 1];
  const x = alpha * (n + 1);
  const k = Math.floor(x) - 1;
  const d = x - 1 - k;
  return f32(sorted[k] + d * (sorted[k + 1] - sorted[k]));
}
