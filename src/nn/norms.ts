// GroupNorm, LayerNorm, InstanceNorm1d/2d/3d and RMSNorm modules over the fused kernels.
import { ones, zeros } from '../tensor/create.js';
import type { Tensor } from '../tensor/tensor.js';
import { groupNorm, groupNormStats, layerNorm, rmsNorm } from '../ops/norms.js';
import { batchNorm, updateRunningStats } from '../ops/batchnorm.js';
import { fmt, sizeOf } from '../tensor/shape.js';
import { assertFinite, assertInputDType, checkSizes } from './input-checks.js';
import { clone } from '../ops/shape-ops.js';
import { Module } from './module.js';
import { NormBase } from './norm-base.js';

export class GroupNorm extends Module {
  readonly isNormalization = true;
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly eps: number;
  readonly checkFinite: boolean;

  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    opts: { eps?: number; affine?: boolean; checkFinite?: boolean } = {},
  ) {
    super();
    checkSizes('GroupNorm', 'numGroups and numChannels', [numGroups, numChannels]);
    if (numChannels % numGroups !== 0) {
      throw new Error(
        `GroupNorm: expected numChannels ${numChannels} to be divisible by numGroups ${numGroups}`,
      );
    }
    this.eps = opts.eps ?? 1e-5;
    this.checkFinite = opts.checkFinite ?? false;
    if (!(this.eps > 0))
      throw new Error(`${this.constructor.name}: expected eps > 0, got ${this.eps}`);
    const affine = opts.affine ?? true;
    this.weight = this.registerParameter('weight', affine ? ones([numChannels]) : null);
    this.bias = this.registerParameter('bias', affine ? zeros([numChannels]) : null);
  }

  override describe(): string {
    return `GroupNorm(${this.numGroups}, ${this.numChannels})`;
  }

  forward(x: Tensor): Tensor {
    if (x.rank < 2 || x.shape[1] !== this.numChannels) {
      throw new Error(
        `${this.describe()}: expected input [N, ${this.numChannels}, ...], got ${fmt(x.shape)}`,
      );
    }
    assertInputDType(this.describe(), x, this.weight);
    if (this.checkFinite) assertFinite(this.describe(), x);
    return groupNorm(x, this.numGroups, this.weight, this.bias, this.eps, this.describe());
  }
}

export class LayerNorm extends Module {
  readonly isNormalization = true;
  readonly normalizedShape: number[];
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly eps: number;
  readonly checkFinite: boolean;

  constructor(
    normalizedShape: number | readonly number[],
    opts: { eps?: number; elementwiseAffine?: boolean; bias?: boolean; checkFinite?: boolean } = {},
  ) {
    super();
    this.normalizedShape =
      typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    checkSizes('LayerNorm', 'normalizedShape', this.normalizedShape);
    this.eps = opts.eps ?? 1e-5;
    this.checkFinite = opts.checkFinite ?? false;
    if (!(this.eps > 0))
      throw new Error(`${this.constructor.name}: expected eps > 0, got ${this.eps}`);
    const affine = opts.elementwiseAffine ?? true;
    this.weight = this.registerParameter('weight', affine ? ones(this.normalizedShape) : null);
    this.bias = this.registerParameter(
      'bias',
      affine && opts.bias !== false ? zeros(this.normalizedShape) : null,
    );
  }

  override describe(): string {
    return `LayerNorm(${fmt(this.normalizedShape)})`;
  }

  forward(x: Tensor): Tensor {
    assertInputDType(this.describe(), x, this.weight);
    if (this.checkFinite) assertFinite(this.describe(), x);
    return layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps, this.describe());
  }
}

export interface InstanceNormOptions {
  eps?: number;
  /** Weight of the new statistics in the running average; null: no update (PyTorch). */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
  checkFinite?: boolean;
}

/**
 * InstanceNorm with PyTorch semantics: each (sample, channel) is normalized over its spatial
 * positions. Defaults: affine false, no running statistics. With trackRunningStats the
 * running mean/variance are the batch mean of the per-instance mean and unbiased variance,
 * and eval mode uses them; momentum null means they never move.
 */
export abstract class InstanceNormBase extends NormBase {
  readonly eps: number;
  readonly checkFinite: boolean;
  readonly momentum: number | null;
  protected abstract readonly spatialDims: number;

  constructor(numFeatures: number, opts: InstanceNormOptions = {}) {
    super(numFeatures, opts.affine ?? false, opts.trackRunningStats ?? false);
    const name = this.constructor.name;
    this.eps = opts.eps ?? 1e-5;
    this.checkFinite = opts.checkFinite ?? false;
    if (!(this.eps > 0)) throw new Error(`${name}: expected eps > 0, got ${this.eps}`);
    this.momentum = opts.momentum === undefined ? 0.1 : opts.momentum;
  }

  override describe(): string {
    const extra = [
      this.weight ? 'affine=true' : '',
      this.trackRunningStats ? 'trackRunningStats=true' : '',
    ].filter(Boolean);
    return `${this.constructor.name}(${this.numFeatures}${extra.length ? ', ' + extra.join(', ') : ''})`;
  }

  forward(x: Tensor): Tensor {
    const name = this.describe();
    const rank = this.spatialDims + 2;
    if (x.rank !== rank || x.shape[1] !== this.numFeatures) {
      const dims = ['L', 'H, W', 'D, H, W'][this.spatialDims - 1];
      throw new Error(
        `${name}: expected input [N, ${this.numFeatures}, ${dims}], got ${fmt(x.shape)}`,
      );
    }
    assertInputDType(name, x, this.weight ?? this.runningMean);
    if (this.checkFinite) assertFinite(name, x);
    // An empty batch gives an empty result and moves no statistic.
    if (x.shape[0] === 0) return clone(x);
    if (!this.training && this.trackRunningStats) {
      return batchNorm(x, this.runningMean, this.runningVar, this.weight, this.bias, {
        training: false,
        eps: this.eps,
        name,
      });
    }
    const spatial = sizeOf(x.shape.slice(2));
    if (spatial <= 1) {
      throw new Error(
        `${name}: Expected more than 1 spatial element when training, got input size ${fmt(x.shape)}`,
      );
    }
    const { y, mean, variance } = groupNormStats(
      x,
      this.numFeatures,
      this.weight,
      this.bias,
      this.eps,
    );
    if (this.training && this.trackRunningStats && this.momentum !== null) {
      // The batch mean of per-instance mean and unbiased variance (PyTorch).
      const [N, C] = x.shape;
      const unbias = spatial / (spatial - 1);
      const M = mean.data,
        V = variance.data;
      const bm = new Float64Array(C),
        bv = new Float64Array(C);
      for (let n = 0; n < N; n++) {
        for (let c = 0; c < C; c++) {
          bm[c] += M[n * C + c] / N;
          bv[c] += (V[n * C + c] * unbias) / N;
        }
      }
      updateRunningStats(this.runningMean!, this.runningVar!, bm, bv, this.momentum);
    }
    return y;
  }
}

export class InstanceNorm1d extends InstanceNormBase {
  protected readonly spatialDims = 1;
}

export class InstanceNorm2d extends InstanceNormBase {
  protected readonly spatialDims = 2;
}

export class InstanceNorm3d extends InstanceNormBase {
  protected readonly spatialDims = 3;
}

/** RMSNorm over the trailing normalizedShape dims: no mean removal, no bias. */
export class RMSNorm extends Module {
  readonly isNormalization = true;
  readonly normalizedShape: number[];
  readonly weight: Tensor | null;
  readonly eps: number;
  readonly checkFinite: boolean;

  constructor(
    normalizedShape: number | readonly number[],
    opts: { eps?: number; elementwiseAffine?: boolean; checkFinite?: boolean } = {},
  ) {
    super();
    this.normalizedShape =
      typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    checkSizes('RMSNorm', 'normalizedShape', this.normalizedShape);
    this.eps = opts.eps ?? 1.1920928955078125e-7;
    this.checkFinite = opts.checkFinite ?? false;
    if (!(this.eps > 0)) throw new Error(`RMSNorm: expected eps > 0, got ${this.eps}`);
    this.weight = this.registerParameter(
      'weight',
      opts.elementwiseAffine === false ? null : ones(this.normalizedShape),
    );
  }

  override describe(): string {
    return `RMSNorm(${fmt(this.normalizedShape)})`;
  }

  forward(x: Tensor): Tensor {
    assertInputDType(this.describe(), x, this.weight);
    if (this.checkFinite) assertFinite(this.describe(), x);
    return rmsNorm(x, this.normalizedShape, this.weight, this.eps, this.describe());
  }
}
