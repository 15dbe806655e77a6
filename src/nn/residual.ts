// The ResNet basic block: conv3x3-norm-relu-conv3x3-norm plus a (projected) shortcut.
import type { Tensor } from '../tensor/tensor.js';
import { add } from '../ops/arith.js';
import { relu } from '../ops/activation.js';
import { Conv2d } from './layers.js';
import { Module } from './module.js';
import { Identity, ReLU, Sequential, runLayers } from './simple.js';

/** The block's first ReLU in its chain (stateless and never hooked: one for all blocks). */
const RELU = new ReLU();

/** Makes a normalization layer for `channels` channels (or Identity for none). */
export type NormFactory = (channels: number) => Module;

export class BasicBlock extends Module {
  readonly conv1: Conv2d;
  readonly bn1: Module;
  readonly conv2: Conv2d;
  readonly bn2: Module;
  readonly downsample: Module;

  constructor(
    readonly inPlanes: number,
    readonly planes: number,
    readonly stride = 1,
    norm: NormFactory,
  ) {
    super();
    this.conv1 = this.registerModule(
      'conv1',
      new Conv2d(inPlanes, planes, 3, { stride, padding: 1, bias: false }),
    );
    this.bn1 = this.registerModule('bn1', norm(planes));
    this.conv2 = this.registerModule(
      'conv2',
      new Conv2d(planes, planes, 3, { padding: 1, bias: false }),
    );
    this.bn2 = this.registerModule('bn2', norm(planes));
    const project = stride !== 1 || inPlanes !== planes;
    this.downsample = this.registerModule(
      'downsample',
      project
        ? new Sequential(new Conv2d(inPlanes, planes, 1, { stride, bias: false }), norm(planes))
        : new Identity(),
    );
  }

  override describe(): string {
    return `BasicBlock(${this.inPlanes}, ${this.planes}, stride=${this.stride})`;
  }

  override adjacentLayers(): [Module, Module][] {
    return [
      [this.conv1, this.bn1],
      [this.conv2, this.bn2],
    ];
  }

  forward(x: Tensor): Tensor {
    // As a chain, so that the norm and its ReLU run fused (and, in eval mode under noGrad,
    // each BatchNorm folds into its convolution), as they do in a Sequential.
    const out = runLayers([this.conv1, this.bn1, RELU, this.conv2, this.bn2], x);
    return relu(add(out, this.downsample.call(x)));
  }
}
