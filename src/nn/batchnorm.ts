// BatchNorm1d/2d/3d with PyTorch semantics: r = (1 - m)·r + m·batch, running variance unbiased,
// momentum null = cumulative average over numBatchesTracked, eval uses running statistics
// unless trackRunningStats is false. A failed call changes no state.
import { ones, scalar, zeros } from '../tensor/create.js';
import { fmt } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { batchNorm } from '../ops/batchnorm.js';
import { Module } from './module.js';
import { ReLU } from './simple.js';

export interface BatchNormOptions {
  eps?: number;
  /** null: cumulative moving average. */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
}

export abstract class BatchNormBase extends Module {
  readonly isNormalization = true;
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor | null;
  readonly runningVar: Tensor | null;
  private readonly tracked: Tensor | null;

  protected abstract readonly ranks: number[];
  protected abstract readonly layout: string;

  constructor(
    readonly numFeatures: number,
    opts: BatchNormOptions = {},
  ) {
    super();
    const name = this.constructor.name;
    if (!Number.isInteger(numFeatures) || numFeatures < 1) {
      throw new Error(`${name}: expected numFeatures to be a positive integer, got ${numFeatures}`);
    }
    this.eps = opts.eps ?? 1e-5;
    if (!(this.eps > 0)) throw new Error(`${name}: expected eps > 0, got ${this.eps}`);
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
    if (this.momentum !== null && !(this.momentum >= 0 && this.momentum <= 1)) {
      throw new Error(`${name}: expected momentum in [0, 1] or null, got ${this.momentum}`);
    }
    this.affine = opts.affine ?? true;
    this.trackRunningStats = opts.trackRunningStats ?? true;
    this.weight = this.registerParameter('weight', this.affine ? ones([numFeatures]) : null);
    this.bias = this.registerParameter('bias', this.affine ? zeros([numFeatures]) : null);
    const track = this.trackRunningStats;
    this.runningMean = this.registerBuffer('running_mean', track ? zeros([numFeatures]) : null);
    this.runningVar = this.registerBuffer('running_var', track ? ones([numFeatures]) : null);
    this.tracked = this.registerBuffer(
      'num_batches_tracked',
      track ? scalar(0, { dtype: 'float64' }) : null,
    );
  }

  get numBatchesTracked(): number {
    return this.tracked === null ? 0 : this.tracked.item();
  }

  override describe(): string {
    const extra = [
      this.eps !== 1e-5 ? `eps=${this.eps}` : '',
      this.momentum !== 0.1 ? `momentum=${this.momentum}` : '',
      this.affine ? '' : 'affine=false',
      this.trackRunningStats ? '' : 'trackRunningStats=false',
    ].filter(Boolean);
    return `${this.constructor.name}(${this.numFeatures}${extra.length ? ', ' + extra.join(', ') : ''})`;
  }

  /** Resets running statistics to mean 0, variance 1 and the step count to 0. */
  resetRunningStats(): void {
    this.runningMean?.data.fill(0);
    this.runningVar?.data.fill(1);
    this.tracked?.data.fill(0);
  }

  forward(x: Tensor): Tensor {
    return this.run(x, false);
  }

  /** BatchNorm followed by a ReLU runs as one fused pass (same values, one less tensor). */
  override fuseWith(next: Module): ((x: Tensor) => Tensor) | null {
    return next instanceof ReLU ? (x) => this.run(x, true) : null;
  }

  private run(x: Tensor, relu: boolean): Tensor {
    const name = this.describe();
    if (!this.ranks.includes(x.rank) || x.shape[1] !== this.numFeatures) {
      throw new Error(
        `${name}: expected input ${this.layout.replace('C', String(this.numFeatures))}, got ${fmt(x.shape)}`,
      );
    }
    const updating = this.training && this.trackRunningStats;
    const steps = this.numBatchesTracked + (updating ? 1 : 0);
    const factor = this.momentum === null ? (updating ? 1 / steps : 0) : this.momentum;
    const useBatchStats = this.training || !this.trackRunningStats;
    const y = batchNorm(
      x,
      useBatchStats && !updating ? null : this.runningMean,
      useBatchStats && !updating ? null : this.runningVar,
      this.weight,
      this.bias,
      { training: useBatchStats, momentum: factor, eps: this.eps, name, relu },
    );
    if (updating) this.tracked!.data[0] = steps;
    return y;
  }
}

export class BatchNorm1d extends BatchNormBase {
  protected readonly ranks = [2, 3];
  protected readonly layout = '[N, C] or [N, C, L]';
}

export class BatchNorm2d extends BatchNormBase {
  protected readonly ranks = [4];
  protected readonly layout = '[N, C, H, W]';
}

export class BatchNorm3d extends BatchNormBase {
  protected readonly ranks = [5];
  protected readonly layout = '[N, C, D, H, W]';
}
