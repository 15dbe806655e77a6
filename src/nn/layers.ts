// Linear and Conv2d with PyTorch's default initialization.
import { empty } from '../tensor/tensor.js';
import type { Tensor } from '../tensor/tensor.js';
import { conv2d, type Conv2dOptions } from '../ops/conv.js';
import { convTranspose2d, type ConvTranspose2dOptions } from '../ops/conv-transpose.js';
import { linear } from '../ops/matmul.js';
import { reshape } from '../ops/shape-ops.js';
import { pair2 } from '../ops/util.js';
import { defaultInit_ } from './init.js';
import { Module } from './module.js';

function positiveInt(layer: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1)
    throw new Error(`${layer}: expected ${name} to be a positive integer, got ${v}`);
}

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: { bias?: boolean } = {},
  ) {
    super();
    positiveInt('Linear', 'inFeatures', inFeatures);
    positiveInt('Linear', 'outFeatures', outFeatures);
    this.weight = this.registerParameter('weight', empty([outFeatures, inFeatures]))!;
    this.bias = this.registerParameter('bias', opts.bias === false ? null : empty([outFeatures]));
    defaultInit_(this.weight, this.bias);
  }

  override describe(): string {
    return `Linear(${this.inFeatures}, ${this.outFeatures}${this.bias ? '' : ', bias=false'})`;
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

export interface Conv2dModuleOptions extends Conv2dOptions {
  bias?: boolean;
}

export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly kernelSize: [number, number];

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: number | [number, number],
    readonly options: Conv2dModuleOptions = {},
  ) {
    super();
    positiveInt('Conv2d', 'inChannels', inChannels);
    positiveInt('Conv2d', 'outChannels', outChannels);
    const groups = options.groups ?? 1;
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new Error(
        `Conv2d: inChannels ${inChannels} and outChannels ${outChannels} must be divisible by groups ${groups}`,
      );
    }
    this.kernelSize = pair2('Conv2d', 'kernelSize', kernelSize, 1);
    this.weight = this.registerParameter(
      'weight',
      empty([outChannels, inChannels / groups, ...this.kernelSize]),
    )!;
    this.bias = this.registerParameter(
      'bias',
      options.bias === false ? null : empty([outChannels]),
    );
    defaultInit_(this.weight, this.bias);
  }

  override describe(): string {
    const o = this.options;
    const extra = [
      o.stride !== undefined ? `stride=${o.stride}` : '',
      o.padding !== undefined ? `padding=${o.padding}` : '',
      o.groups !== undefined ? `groups=${o.groups}` : '',
      this.bias ? '' : 'bias=false',
    ].filter(Boolean);
    return `Conv2d(${this.inChannels}, ${this.outChannels}, ${this.kernelSize.join('x')}${extra.length ? ', ' + extra.join(', ') : ''})`;
  }

  forward(x: Tensor): Tensor {
    try {
      return conv2d(x, this.weight, this.bias, this.options);
    } catch (e) {
      throw new Error(`${this.describe()}: ${(e as Error).message}`);
    }
  }
}

export interface Conv1dOptions {
  stride?: number;
  padding?: number;
  dilation?: number;
  groups?: number;
  bias?: boolean;
}

/**
 * 1-D convolution over [N, Cin, L] with a [Cout, Cin/groups, k] weight (PyTorch's Conv1d and
 * its state-dict shapes), run as a Conv2d over a height of one.
 */
export class Conv1d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    readonly options: Conv1dOptions = {},
  ) {
    super();
    positiveInt('Conv1d', 'inChannels', inChannels);
    positiveInt('Conv1d', 'outChannels', outChannels);
    positiveInt('Conv1d', 'kernelSize', kernelSize);
    const groups = options.groups ?? 1;
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new Error(
        `Conv1d: inChannels ${inChannels} and outChannels ${outChannels} must be divisible by groups ${groups}`,
      );
    }
    this.weight = this.registerParameter(
      'weight',
      empty([outChannels, inChannels / groups, kernelSize]),
    )!;
    this.bias = this.registerParameter(
      'bias',
      options.bias === false ? null : empty([outChannels]),
    );
    defaultInit_(this.weight, this.bias);
  }

  override describe(): string {
    const o = this.options;
    const extra = [
      o.stride !== undefined ? `stride=${o.stride}` : '',
      o.padding !== undefined ? `padding=${o.padding}` : '',
      o.dilation !== undefined ? `dilation=${o.dilation}` : '',
      o.groups !== undefined ? `groups=${o.groups}` : '',
      this.bias ? '' : 'bias=false',
    ].filter(Boolean);
    return `Conv1d(${this.inChannels}, ${this.outChannels}, ${this.kernelSize}${extra.length ? ', ' + extra.join(', ') : ''})`;
  }

  forward(x: Tensor): Tensor {
    if (x.rank !== 3 || x.shape[1] !== this.inChannels) {
      throw new Error(
        `${this.describe()}: expected input [N, ${this.inChannels}, L], got [${x.shape.join(', ')}]`,
      );
    }
    const [N, , L] = x.shape;
    const o = this.options;
    const w = reshape(this.weight, [
      this.outChannels,
      this.inChannels / (o.groups ?? 1),
      1,
      this.kernelSize,
    ]);
    try {
      const y = conv2d(reshape(x, [N, this.inChannels, 1, L]), w, this.bias, {
        stride: [1, o.stride ?? 1],
        padding: [0, o.padding ?? 0],
        dilation: [1, o.dilation ?? 1],
        groups: o.groups ?? 1,
      });
      return reshape(y, [N, this.outChannels, y.shape[3]]);
    } catch (e) {
      throw new Error(`${this.describe()}: ${(e as Error).message}`);
    }
  }
}

export interface ConvTranspose2dModuleOptions extends ConvTranspose2dOptions {
  bias?: boolean;
}

/**
 * Transposed 2-D convolution (PyTorch's ConvTranspose2d): weight [inChannels,
 * outChannels/groups, kh, kw], stride, padding, outputPadding, dilation, groups, bias.
 */
export class ConvTranspose2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly kernelSize: [number, number];

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: number | [number, number],
    readonly options: ConvTranspose2dModuleOptions = {},
  ) {
    super();
    positiveInt('ConvTranspose2d', 'inChannels', inChannels);
    positiveInt('ConvTranspose2d', 'outChannels', outChannels);
    const groups = options.groups ?? 1;
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new Error(
        `ConvTranspose2d: inChannels ${inChannels} and outChannels ${outChannels} must be divisible by groups ${groups}`,
      );
    }
    this.kernelSize = pair2('ConvTranspose2d', 'kernelSize', kernelSize, 1);
    this.weight = this.registerParameter(
      'weight',
      empty([inChannels, outChannels / groups, ...this.kernelSize]),
    )!;
    this.bias = this.registerParameter(
      'bias',
      options.bias === false ? null : empty([outChannels]),
    );
    defaultInit_(this.weight, this.bias);
  }

  override describe(): string {
    const o = this.options;
    const extra = [
      o.stride !== undefined ? `stride=${o.stride}` : '',
      o.padding !== undefined ? `padding=${o.padding}` : '',
      o.outputPadding !== undefined ? `outputPadding=${o.outputPadding}` : '',
      o.groups !== undefined ? `groups=${o.groups}` : '',
      this.bias ? '' : 'bias=false',
    ].filter(Boolean);
    return `ConvTranspose2d(${this.inChannels}, ${this.outChannels}, ${this.kernelSize.join('x')}${extra.length ? ', ' + extra.join(', ') : ''})`;
  }

  forward(x: Tensor): Tensor {
    try {
      return convTranspose2d(x, this.weight, this.bias, this.options);
    } catch (e) {
      throw new Error(`${this.describe()}: ${(e as Error).message}`);
    }
  }
}
