// Parameter-free layers: activations, dropout, pooling, flatten.
import type { Tensor } from '../tensor/tensor.js';
import * as F from '../ops/index.js';
import { type Fused, Module, runsForwardOf } from './module.js';

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return F.relu(x);
  }
  /**
   * Followed by max pooling: the ReLU after the pool, on a quarter of the elements (a 2x2
   * pool). ReLU is monotone, so max(relu(a), relu(b)) = relu(max(a, b)): the same values, and
   * the same gradients (the window's maximum, or 0 where it is not positive).
   */
  override fuseWith([next]: Module[]): Fused | null {
    if (!runsForwardOf(this, ReLU) || !runsForwardOf(next, MaxPool2d)) return null;
    return { span: 2, forward: (x) => F.relu(next.forward(x)) };
  }
}

export class LeakyReLU extends Module {
  constructor(readonly negativeSlope = 0.01) {
    super();
  }
  override describe(): string {
    return `LeakyReLU(${this.negativeSlope})`;
  }
  forward(x: Tensor): Tensor {
    return F.leakyRelu(x, this.negativeSlope);
  }
}

export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return F.sigmoid(x);
  }
}

export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return F.tanh(x);
  }
}

export class GELU extends Module {
  forward(x: Tensor): Tensor {
    return F.gelu(x);
  }
}

export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw new Error(`Dropout: expected p in [0, 1], got ${p}`);
  }
  override describe(): string {
    return `Dropout(p=${this.p})`;
  }
  forward(x: Tensor): Tensor {
    return F.dropout(x, this.p, this.training);
  }
}

/** Zeroes whole channels of [N, C, H, W] (PyTorch's Dropout2d), in training mode only. */
export class Dropout2d extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw new Error(`Dropout2d: expected p in [0, 1], got ${p}`);
  }
  override describe(): string {
    return `Dropout2d(p=${this.p})`;
  }
  forward(x: Tensor): Tensor {
    if (x.rank !== 4 && x.rank !== 3) {
      throw new Error(
        `${this.describe()}: expected input [N, C, H, W] or [C, H, W], got [${x.shape.join(', ')}]`,
      );
    }
    // An unbatched [C, H, W] input drops channels as a batch of one.
    const batched = x.rank === 4 ? x : F.reshape(x, [1, ...x.shape]);
    const y = F.dropoutChannels(batched, this.p, this.training);
    return x.rank === 4 ? y : F.reshape(y, x.shape);
  }
}

/** Nearest or bilinear upsampling of [N, C, H, W] (PyTorch's nn.Upsample). */
export class Upsample extends Module {
  constructor(readonly options: F.UpsampleOptions) {
    super();
    if ((options.size === undefined) === (options.scaleFactor === undefined)) {
      throw new Error('Upsample: give exactly one of size and scaleFactor');
    }
  }
  override describe(): string {
    const o = this.options;
    return `Upsample(${o.size !== undefined ? `size=${o.size}` : `scaleFactor=${o.scaleFactor}`}, mode=${o.mode ?? 'nearest'})`;
  }
  forward(x: Tensor): Tensor {
    try {
      return F.upsample(x, this.options);
    } catch (e) {
      throw new Error(`${this.describe()}: ${(e as Error).message}`);
    }
  }
}

export class MaxPool2d extends Module {
  constructor(
    readonly kernelSize: number | [number, number],
    readonly options: F.Pool2dOptions = {},
  ) {
    super();
  }
  override describe(): string {
    return `MaxPool2d(${this.kernelSize})`;
  }
  forward(x: Tensor): Tensor {
    return F.maxPool2d(x, this.kernelSize, this.options);
  }
}

export class AvgPool2d extends Module {
  constructor(
    readonly kernelSize: number | [number, number],
    readonly options: F.Pool2dOptions = {},
  ) {
    super();
  }
  override describe(): string {
    return `AvgPool2d(${this.kernelSize})`;
  }
  forward(x: Tensor): Tensor {
    return F.avgPool2d(x, this.kernelSize, this.options);
  }
}

export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: number | [number, number]) {
    super();
  }
  override describe(): string {
    return `AdaptiveAvgPool2d(${this.outputSize})`;
  }
  forward(x: Tensor): Tensor {
    return F.adaptiveAvgPool2d(x, this.outputSize);
  }
}

export class Flatten extends Module {
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.flatten(x, this.startDim, this.endDim);
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/**
 * Runs its children in order; they are named '0', '1', ... as in PyTorch. Adjacent children
 * that can fuse (BatchNorm then ReLU) run as one pass.
 */
export class Sequential extends Module {
  readonly layers: Module[];
  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
    layers.forEach((m, i) => this.registerModule(String(i), m));
  }
  override adjacentLayers(): [Module, Module][] {
    return this.layers.slice(1).map((b, i) => [this.layers[i], b]);
  }

  forward(x: Tensor): Tensor {
    return runLayers(this.layers, x);
  }
}

/**
 * Runs layers one after the other, adjacent ones that can fuse (Module.fuseWith) as one pass:
 * Sequential's forward, and any module's chain of layers. A hooked layer runs on its own, so
 * its hooks see its own input and output.
 */
export function runLayers(layers: Module[], x: Tensor): Tensor {
  const n = layers.length;
  for (let i = 0; i < n;) {
    const layer = layers[i];
    let end = i + 1;
    while (end < n && !layers[end].hasHooks) end++;
    const fused = !layer.hasHooks && end > i + 1 ? layer.fuseWith(layers.slice(i + 1, end)) : null;
    if (fused !== null) {
      x = fused.forward(x);
      i += fused.span;
    } else {
      x = layer.call(x);
      i++;
    }
  }
  return x;
}
