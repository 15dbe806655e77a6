// GroupNorm, LayerNorm and InstanceNorm2d modules over the shared row normalization.
// RMSNorm too. (InstanceNorm running statistics are not implemented yet: trackRunningStats is
// refused.)
import { ones, zeros } from '../tensor/create.js';
import type { Tensor } from '../tensor/tensor.js';
import { groupNorm, instanceNorm, layerNorm, rmsNorm } from '../ops/norms.js';
import { fmt } from '../tensor/shape.js';
import { Module } from './module.js';

export class GroupNorm extends Module {
  readonly isNormalization = true;
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly eps: number;

  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    opts: { eps?: number; affine?: boolean } = {},
  ) {
    super();
    if (!Number.isInteger(numGroups) || numGroups < 1 || numChannels % numGroups !== 0) {
      throw new Error(
        `GroupNorm: expected numChannels ${numChannels} to be divisible by numGroups ${numGroups}`,
      );
    }
    this.eps = opts.eps ?? 1e-5;
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
    return groupNorm(x, this.numGroups, this.weight, this.bias, this.eps, this.describe());
  }
}

export class LayerNorm extends Module {
  readonly isNormalization = true;
  readonly normalizedShape: number[];
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly eps: number;

  constructor(
    normalizedShape: number | readonly number[],
    opts: { eps?: number; elementwiseAffine?: boolean; bias?: boolean } = {},
  ) {
    super();
    this.normalizedShape =
      typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    this.eps = opts.eps ?? 1e-5;
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
    return layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps, this.describe());
  }
}

export class InstanceNorm2d extends Module {
  readonly isNormalization = true;
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly eps: number;

  constructor(
    readonly numFeatures: number,
    opts: { eps?: number; affine?: boolean; trackRunningStats?: boolean } = {},
  ) {
    super();
    if (opts.trackRunningStats) {
      throw new Error('InstanceNorm2d: trackRunningStats is not implemented yet');
    }
    this.eps = opts.eps ?? 1e-5;
    const affine = opts.affine ?? false;
    this.weight = this.registerParameter('weight', affine ? ones([numFeatures]) : null);
    this.bias = this.registerParameter('bias', affine ? zeros([numFeatures]) : null);
  }

  override describe(): string {
    return `InstanceNorm2d(${this.numFeatures}${this.weight ? ', affine=true' : ''})`;
  }

  forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.numFeatures) {
      throw new Error(
        `${this.describe()}: expected input [N, ${this.numFeatures}, H, W], got ${fmt(x.shape)}`,
      );
    }
    return instanceNorm(x, this.weight, this.bias, this.eps, this.describe());
  }
}

/** RMSNorm over the trailing normalizedShape dims: no mean removal, no bias. */
export class RMSNorm extends Module {
  readonly isNormalization = true;
  readonly normalizedShape: number[];
  readonly weight: Tensor | null;
  readonly eps: number;

  constructor(
    normalizedShape: number | readonly number[],
    opts: { eps?: number; elementwiseAffine?: boolean } = {},
  ) {
    super();
    this.normalizedShape =
      typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    this.eps = opts.eps ?? 1.1920928955078125e-7;
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
    return rmsNorm(x, this.normalizedShape, this.weight, this.eps, this.describe());
  }
}
