// Linear and the convolutions (Conv2d, Conv1d, ConvTranspose2d) with PyTorch's default
// initialization and weight layouts.
import { empty } from '../tensor/tensor.js';
import type { Tensor } from '../tensor/tensor.js';
import { conv2d, conv2dMaxPool, type Conv2dOptions } from '../ops/conv.js';
import { convTranspose2d, type ConvTranspose2dOptions } from '../ops/conv-transpose.js';
import { linear } from '../ops/matmul.js';
import { reshape } from '../ops/shape-ops.js';
import { pair2 } from '../ops/util.js';
import { isGradEnabled } from '../autograd/grad-mode.js';
import { tensor } from '../tensor/create.js';
import { BatchNorm2d, type BatchNormBase } from './batchnorm.js';
import { BatchRenorm2d } from './batchnorm-variants.js';
import { defaultInit_ } from './init.js';
import { type Fused, Module, runsForwardOf } from './module.js';
import { Identity, MaxPool2d, ReLU } from './simple.js';

function positiveInt(layer: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1)
    throw new Error(`${layer}: expected ${name} to be a positive integer, got ${v}`);
}

export class Linear extends Module {
  readonly weight: Tensor;
  bias: Tensor | null;

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

  /** Gives the layer a bias [outFeatures] or replaces it (folding BatchNorm needs one). */
  setBias(b: Tensor): void {
    this.bias = setBiasOf(this, b, this.outFeatures);
  }
}

/** How many times the weight's size a convolution's output must be for folding to pay. */
const FOLD_RATIO = 8;

/**
 * The weight and bias of `layer` followed by the eval-mode BatchNorm `bn`, folded as
 * foldBatchNorm folds (float64, then the weight's dtype). Only when no gradient is recorded,
 * since the folded tensors are computed outside autograd.
 */
function foldedEval(layer: Conv2d, bn: BatchNormBase): { weight: Tensor; bias: Tensor } | null {
  if (isGradEnabled()) return null;
  const scale = bn.runningScale();
  const W = layer.weight;
  const C = W.shape[0];
  if (scale === null || scale.length !== C) return null;
  const per = W.size / C; // weight [out, ...]: a contiguous block per output channel
  const w = new Float64Array(W.size);
  for (let c = 0; c < C; c++)
    for (let k = c * per; k < (c + 1) * per; k++) w[k] = W.data[k] * scale[c];
  return {
    weight: tensor(w, W.shape, { dtype: W.dtype }),
    bias: tensor(bn.foldedBias(layer.bias?.data, scale), [C], { dtype: W.dtype }),
  };
}

function setBiasOf(m: Module, b: Tensor, n: number): Tensor {
  if (b.rank !== 1 || b.shape[0] !== n)
    throw new Error(`${m.describe()}: expected bias [${n}], got [${b.shape.join(', ')}]`);
  m.setParameter('bias', b);
  return b;
}

interface ConvOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  outputPadding?: number | [number, number];
  groups?: number;
  bias?: boolean;
}

/**
 * What the convolution layers share: the channel and group checks, the weight ([out, in/groups,
 * ...kernel], or [in, out/groups, ...kernel] when transposed) and bias with PyTorch's init,
 * the description, and errors prefixed with it.
 */
abstract class ConvBase extends Module {
  readonly weight: Tensor;
  bias: Tensor | null;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    private readonly kernel: readonly number[],
    readonly options: ConvOptions,
    transposed: boolean,
    /** The options the description names, in order. */
    private readonly shown: (keyof ConvOptions)[],
  ) {
    super();
    const name = this.constructor.name;
    positiveInt(name, 'inChannels', inChannels);
    positiveInt(name, 'outChannels', outChannels);
    const groups = options.groups ?? 1;
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new Error(
        `${name}: inChannels ${inChannels} and outChannels ${outChannels} must be divisible by groups ${groups}`,
      );
    }
    const shape = transposed
      ? [inChannels, outChannels / groups, ...kernel]
      : [outChannels, inChannels / groups, ...kernel];
    this.weight = this.registerParameter('weight', empty(shape))!;
    this.bias = this.registerParameter(
      'bias',
      options.bias === false ? null : empty([outChannels]),
    );
    defaultInit_(this.weight, this.bias);
  }

  override describe(): string {
    const extra = [
      ...this.shown.flatMap((k) =>
        this.options[k] !== undefined ? [`${k}=${this.options[k]}`] : [],
      ),
      this.bias ? '' : 'bias=false',
    ].filter(Boolean);
    return `${this.constructor.name}(${this.inChannels}, ${this.outChannels}, ${this.kernel.join('x')}${extra.length ? ', ' + extra.join(', ') : ''})`;
  }

  /** Gives the layer a bias [outChannels] or replaces it (folding BatchNorm needs one). */
  setBias(b: Tensor): void {
    this.bias = setBiasOf(this, b, this.outChannels);
  }

  /** Runs fn, prefixing an error with the layer's description. */
  protected named<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw new Error(`${this.describe()}: ${(e as Error).message}`);
    }
  }
}

export interface Conv2dModuleOptions extends Conv2dOptions {
  bias?: boolean;
}

export class Conv2d extends ConvBase {
  readonly kernelSize: [number, number];
  declare readonly options: Conv2dModuleOptions;

  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: number | [number, number],
    options: Conv2dModuleOptions = {},
  ) {
    const k = pair2('Conv2d', 'kernelSize', kernelSize, 1);
    super(inChannels, outChannels, k, options, false, ['stride', 'padding', 'groups']);
    this.kernelSize = k;
  }

  forward(x: Tensor): Tensor {
    return this.named(() => conv2d(x, this.weight, this.bias, this.options));
  }

  /**
   * Under noGrad, this convolution with what follows it in one kernel call:
   * - an eval-mode BatchNorm2d right after it is folded into the weight and bias
   *   (foldBatchNorm's fold, done per call) when the output is larger than the weight by
   *   FOLD_RATIO (folding reads the weight; the norm's pass the output);
   * - then, past any Identity (foldBatchNorm leaves one where each norm was), an optional ReLU
   *   and a MaxPool2d run in the convolution's pass (conv2dMaxPool), the full output never
   *   stored. A ReLU before max pooling equals one after it (ReLU is monotone).
   */
  override fuseWith(following: Module[]): Fused | null {
    if (!runsForwardOf(this, Conv2d) || isGradEnabled()) return null;
    const next = following[0];
    const bn =
      (runsForwardOf(next, BatchNorm2d) || runsForwardOf(next, BatchRenorm2d)) &&
      !next.training &&
      next.trackRunningStats &&
      next.settings.channelAxis === 1
        ? next
        : null;
    let i = bn ? 1 : 0;
    while (runsForwardOf(following[i], Identity)) i++;
    const relu = runsForwardOf(following[i], ReLU);
    if (relu) i++;
    const pool = following[i];
    if (!runsForwardOf(pool, MaxPool2d)) {
      if (bn === null) return null;
      return { span: 2, forward: (x) => this.runFolded(x, bn, [bn]) };
    }
    const span = i + 2;
    const forward = (x: Tensor) =>
      this.runFolded(x, bn, following.slice(0, span - 1), (weight, bias) =>
        conv2dMaxPool(x, weight, bias, this.options, pool, relu),
      );
    return { span, forward };
  }

  /**
   * `run` with this layer's weight and bias, bn (if any) folded into them; when folding does
   * not pay (see fuseWith), this layer and then `layers` one by one.
   */
  private runFolded(
    x: Tensor,
    bn: BatchNormBase | null,
    layers: Module[],
    run = (weight: Tensor, bias: Tensor | null) => conv2d(x, weight, bias, this.options),
  ): Tensor {
    const [sh, sw] = pair2('Conv2d', 'stride', this.options.stride ?? 1, 1);
    const [N, , H, W] = x.shape;
    const outputs = (N * this.outChannels * H * W) / (sh * sw);
    const f =
      bn === null
        ? { weight: this.weight, bias: this.bias }
        : outputs > FOLD_RATIO * this.weight.size
          ? foldedEval(this, bn)
          : null;
    if (f === null) return layers.reduce((y, m) => m.call(y), this.call(x));
    return this.named(() => run(f.weight, f.bias));
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
export class Conv1d extends ConvBase {
  declare readonly options: Conv1dOptions;

  constructor(
    inChannels: number,
    outChannels: number,
    readonly kernelSize: number,
    options: Conv1dOptions = {},
  ) {
    positiveInt('Conv1d', 'kernelSize', kernelSize);
    super(inChannels, outChannels, [kernelSize], options, false, [
      'stride',
      'padding',
      'dilation',
      'groups',
    ]);
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
    return this.named(() => {
      const y = conv2d(reshape(x, [N, this.inChannels, 1, L]), w, this.bias, {
        stride: [1, o.stride ?? 1],
        padding: [0, o.padding ?? 0],
        dilation: [1, o.dilation ?? 1],
        groups: o.groups ?? 1,
      });
      return reshape(y, [N, this.outChannels, y.shape[3]]);
    });
  }
}

export interface ConvTranspose2dModuleOptions extends ConvTranspose2dOptions {
  bias?: boolean;
}

/**
 * Transposed 2-D convolution (PyTorch's ConvTranspose2d): weight [inChannels,
 * outChannels/groups, kh, kw], stride, padding, outputPadding, dilation, groups, bias.
 */
export class ConvTranspose2d extends ConvBase {
  readonly kernelSize: [number, number];
  declare readonly options: ConvTranspose2dModuleOptions;

  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: number | [number, number],
    options: ConvTranspose2dModuleOptions = {},
  ) {
    const k = pair2('ConvTranspose2d', 'kernelSize', kernelSize, 1);
    super(inChannels, outChannels, k, options, true, [
      'stride',
      'padding',
      'outputPadding',
      'groups',
    ]);
    this.kernelSize = k;
  }

  forward(x: Tensor): Tensor {
    return this.named(() => convTranspose2d(x, this.weight, this.bias, this.options));
  }
}
