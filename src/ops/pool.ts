import { isGradEnabled } from '../autograd/grad-mode.js';
import { apply, applyMulti } from '../autograd/apply.js';
import { registerGradient } from '../kernels/registry.js';
import { type PoolAttrs, poolOutSize } from '../kernels/js/pool.js';
import { fmt } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { expectRank, expectTensor, pair2 } from './util.js';

export interface Pool2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  ceilMode?: boolean;
  /** avgPool2d only: count padded zeros in the divisor (PyTorch default true). */
  countIncludePad?: boolean;
}

function poolAttrs(op: string, x: Tensor, kernelSize: number | [number, number], o: Pool2dOptions) {
  expectTensor(op, 'input', x);
  expectRank(op, 'input', x, [4], '[N, C, H, W]');
  return poolAttrsOfShape(op, x.shape, kernelSize, o);
}

/** A pool's attributes for an input of `shape` [N, C, H, W], checked. */
export function poolAttrsOfShape(
  op: string,
  shape: readonly number[],
  kernelSize: number | [number, number],
  o: Pool2dOptions,
): Required<Omit<PoolAttrs, 'indices'>> {
  const kernel = pair2(op, 'kernelSize', kernelSize, 1);
  const stride = pair2(op, 'stride', o.stride ?? kernel, 1);
  const padding = pair2(op, 'padding', o.padding ?? 0, 0);
  if (padding[0] * 2 > kernel[0] || padding[1] * 2 > kernel[1]) {
    throw new Error(
      `${op}: padding ${fmt(padding)} should be at most half of kernel ${fmt(kernel)}`,
    );
  }
  const oh = poolOutSize(shape[2], kernel[0], stride[0], padding[0], o.ceilMode);
  const ow = poolOutSize(shape[3], kernel[1], stride[1], padding[1], o.ceilMode);
  if (oh < 1 || ow < 1)
    throw new Error(`${op}: input ${fmt(shape)} is smaller than kernel ${fmt(kernel)}`);
  return {
    kernel,
    stride,
    padding,
    ceilMode: o.ceilMode ?? false,
    countIncludePad: o.countIncludePad ?? true,
  };
}

/**
 * maxPool2d's attributes for x (checked as maxPool2d checks them); `needGrad`: whether a
 * gradient will route through the argmax (without one the kernels may skip writing it).
 */
export function maxPoolAttrs(
  x: Tensor,
  kernelSize: number | [number, number],
  opts: Pool2dOptions,
  needGrad: boolean,
): PoolAttrs {
  return { ...poolAttrs('maxPool2d', x, kernelSize, opts), indices: isGradEnabled() && needGrad };
}

export function maxPool2d(
  x: Tensor,
  kernelSize: number | [number, number],
  opts: Pool2dOptions = {},
): Tensor {
  return applyMulti('MaxPool2d', [x], { ...maxPoolAttrs(x, kernelSize, opts, x.requiresGrad) })[0];
}

export function avgPool2d(
  x: Tensor,
  kernelSize: number | [number, number],
  opts: Pool2dOptions = {},
): Tensor {
  return apply('AvgPool2d', [x], poolAttrs('avgPool2d', x, kernelSize, opts));
}

export function adaptiveAvgPool2d(x: Tensor, outputSize: number | [number, number]): Tensor {
  expectTensor('adaptiveAvgPool2d', 'input', x);
  expectRank('adaptiveAvgPool2d', 'input', x, [4], '[N, C, H, W]');
  return apply('AdaptiveAvgPool2d', [x], {
    outputSize: pair2('adaptiveAvgPool2d', 'outputSize', outputSize, 1),
  });
}

registerGradient('MaxPool2d', (dy, { inputs: [x], outputs: [, idx], attrs }) => [
  apply('MaxPool2dGrad', [dy, idx], { ...attrs, inputShape: [...x.shape] }),
]);
registerGradient('AvgPool2d', (dy, { inputs: [x], attrs }) => [
  apply('AvgPool2dGrad', [dy], { ...attrs, inputShape: [...x.shape] }),
]);
registerGradient('AdaptiveAvgPool2d', (dy, { inputs: [x] }) => [
  apply('AdaptiveAvgPool2dGrad', [dy], { inputShape: [...x.shape] }),
]);
