// Batch Renormalization (Ioffe 2017) and masked batch norm for padded sequences, built on
// BatchNormBase (its options, buffers, conventions and ghost batches) and on public ops, so
// their gradients come from autograd.
import { tensor } from '../tensor/create.js';
import { fmt } from '../tensor/shape.js';
import { type Tensor } from '../tensor/tensor.js';
import { add, div, maskedFill, mul, sqrt, sub } from '../ops/arith.js';
import { relu as reluOp } from '../ops/activation.js';
import { batchNorm, batchNormTrain } from '../ops/batchnorm.js';
import { sum } from '../ops/reduce.js';
import { clone, reshape } from '../ops/shape-ops.js';
import { assertInputDType } from './input-checks.js';
import { BatchNormBase, type BatchNormOptions, LAYOUTS_1D, LAYOUTS_2D } from './batchnorm.js';

export interface RenormLimits {
  rMax: number;
  dMax: number;
}

export interface RenormSchedule {
  /** Steps of plain BatchNorm (rMax 1, dMax 0) before relaxing; the paper uses 5,000. */
  warmupSteps?: number;
  /** Steps over which rMax rises linearly from 1 to rMax (paper: 40,000 to 3). */
  rMaxSteps?: number;
  /** Steps over which dMax rises linearly from 0 to dMax (paper: 25,000 to 5). */
  dMaxSteps?: number;
  rMax?: number;
  dMax?: number;
}

/** rMax and dMax after `step` training steps under a schedule (the paper's defaults). */
export function renormLimits(step: number, s: RenormSchedule = {}): RenormLimits {
  const warm = s.warmupSteps ?? 5000;
  const t = Math.max(0, step - warm);
  const ramp = (steps: number) => (steps <= 0 ? 1 : Math.min(1, t / steps));
  return {
    rMax: 1 + ((s.rMax ?? 3) - 1) * ramp(s.rMaxSteps ?? 40000),
    dMax: (s.dMax ?? 5) * ramp(s.dMaxSteps ?? 25000),
  };
}

export interface BatchRenormOptions extends BatchNormOptions {
  /** Fixed limits; ignored when a schedule is given. Default 1 and 0: plain BatchNorm. */
  rMax?: number;
  dMax?: number;
  /** Relax the limits with numBatchesTracked (see renormLimits). */
  schedule?: RenormSchedule;
}

/**
 * Batch Renormalization: y = γ·(x̂·r + d) + β with x̂ normalized by the batch statistics,
 * r = clip(σ_B/σ, 1/rMax, rMax) and d = clip((μ_B − μ)/σ, −dMax, dMax) from the running
 * statistics (σ = sqrt(runningVar + eps)), both treated as constants in the backward pass.
 * Eval is BatchNorm's. rMax = 1 and dMax = 0 give BatchNorm exactly.
 */
export abstract class BatchRenormBase extends BatchNormBase {
  rMax: number;
  dMax: number;
  readonly schedule: RenormSchedule | null;

  constructor(numFeatures: number, opts: BatchRenormOptions = {}) {
    super(numFeatures, opts);
    if (!this.trackRunningStats)
      throw new Error(
        `${this.constructor.name}: needs running statistics (trackRunningStats true)`,
      );
    this.schedule = opts.schedule ?? null;
    this.rMax = opts.rMax ?? 1;
    this.dMax = opts.dMax ?? 0;
    if (!(this.rMax >= 1) || !(this.dMax >= 0)) {
      throw new Error(
        `${this.constructor.name}: expected rMax >= 1 and dMax >= 0, got ${this.rMax} and ${this.dMax}`,
      );
    }
  }

  protected override normalizeBatch(x: Tensor, relu: boolean, name: string) {
    if (this.schedule !== null)
      Object.assign(this, renormLimits(this.numBatchesTracked, this.schedule));
    const st = batchNormTrain(x, null, null, {
      eps: this.eps,
      name,
      checkBatchOfOne: this.settings.checkBatchOfOne,
    });
    const C = this.numFeatures;
    const RM = this.runningMean!.data,
      RV = this.runningVar!.data;
    const r = new Float64Array(C),
      d = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      const sigma = Math.sqrt(RV[c] + this.eps);
      const sigmaB = Math.sqrt(st.variance[c] + this.eps);
      r[c] = Math.min(this.rMax, Math.max(1 / this.rMax, sigmaB / sigma));
      d[c] = Math.min(this.dMax, Math.max(-this.dMax, (st.mean[c] - RM[c]) / sigma));
    }
    const shape = x.shape.map((s, i) => (i === 1 ? s : 1));
    const rt = tensor(r, shape, { dtype: x.dtype }),
      dt = tensor(d, shape, { dtype: x.dtype });
    const g = this.weight ? reshape(this.weight, shape) : null;
    const scale = g ? mul(g, rt) : rt;
    const shift = g ? add(mul(g, dt), reshape(this.bias!, shape)) : dt;
    let y = add(mul(st.y, scale), shift);
    if (relu) y = reluOp(y);
    return { ...st, y };
  }
}

export class BatchRenorm1d extends BatchRenormBase {
  protected readonly ranks = LAYOUTS_1D.ranks;
  protected readonly layout = LAYOUTS_1D.layout;
  protected readonly layoutLast = LAYOUTS_1D.layoutLast;
}

export class BatchRenorm2d extends BatchRenormBase {
  protected readonly ranks = LAYOUTS_2D.ranks;
  protected readonly layout = LAYOUTS_2D.layout;
  protected readonly layoutLast = LAYOUTS_2D.layoutLast;
}

/**
 * Batch norm over [N, C, L] that ignores padded positions: mask [N, L] (1 = real, 0 = pad)
 * excludes them from the batch statistics and so from the running statistics. Padded values
 * influence nothing, NaN and Inf included: they are read as 0 (gradient 0), so a padded
 * position's output is the normalized 0 (β − γ·μ/σ); mask the output downstream if padded
 * positions must be zero. Eval uses the running statistics, as BatchNorm1d does.
 */
export class MaskedBatchNorm1d extends BatchNormBase {
  protected readonly ranks = [3];
  protected readonly layout = '[N, C, L]';
  protected readonly layoutLast = '[N, L, C]';

  constructor(numFeatures: number, opts: BatchNormOptions = {}) {
    super(numFeatures, opts);
    if (this.settings.channelAxis !== 1 || this.virtualBatchSize !== null) {
      throw new Error('MaskedBatchNorm1d: supports channels-first input and no ghost batches');
    }
  }

  override forward(input: Tensor, mask?: Tensor): Tensor {
    let x = input;
    const name = this.describe();
    if (x.rank !== 3 || x.shape[1] !== this.numFeatures) {
      throw new Error(`${name}: expected input [N, ${this.numFeatures}, L], got ${fmt(x.shape)}`);
    }
    const [N, , L] = x.shape;
    if (mask === undefined) return super.forward(x);
    if (mask.rank !== 2 || mask.shape[0] !== N || mask.shape[1] !== L) {
      throw new Error(
        `${name}: expected mask [${N}, ${L}] for input ${fmt(x.shape)}, got ${fmt(mask.shape)}`,
      );
    }
    assertInputDType(name, x, this.weight ?? this.runningMean);
    if (x.size === 0) return clone(x);
    const M = mask.data;
    let n = 0;
    for (let i = 0; i < M.length; i++) {
      if (M[i] !== 0 && M[i] !== 1)
        throw new Error(`${name}: mask values must be 0 or 1, got ${M[i]} at ${i}`);
      n += M[i];
    }
    const padding = tensor(
      Array.from(M, (m) => 1 - m),
      [N, 1, L],
      { dtype: x.dtype },
    );
    x = maskedFill(x, padding, 0);
    if (!this.training && this.trackRunningStats) {
      return batchNorm(x, this.runningMean, this.runningVar, this.weight, this.bias, {
        training: false,
        eps: this.eps,
        name,
      });
    }
    if (n <= 1 && this.settings.checkBatchOfOne) {
      throw new Error(
        `${name}: Expected more than 1 unmasked value per channel when training, got ${n} (input ${fmt(x.shape)})`,
      );
    }
    // Two-pass masked statistics with public ops (float64 sums), so autograd gives the gradient.
    const m = reshape(mask.to(x.dtype), [N, 1, L]);
    const mean = div(sum(mul(x, m), [0, 2], true), n);
    const centered = sub(x, mean);
    const variance = div(sum(mul(mul(centered, centered), m), [0, 2], true), n);
    const shape = [1, this.numFeatures, 1];
    let y = div(centered, sqrt(add(variance, this.eps)));
    if (this.weight) y = add(mul(y, reshape(this.weight, shape)), reshape(this.bias!, shape));
    if (this.training && this.trackRunningStats) {
      this.recordBatchStats([{ mean: mean.data, variance: variance.data, count: n }]);
    }
    return y;
  }
}
