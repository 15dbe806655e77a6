import { apply } from '../autograd/apply.js';
import { registerGradient } from '../kernels/registry.js';
import { convOutSize } from '../kernels/js/conv.js';
import { fmt } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { sum } from './reduce.js';
import { expectRank, expectTensor, pair2 } from './util.js';

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
}

/** 2-D convolution (cross-correlation) of x [N, Cin, H, W] with w [Cout, Cin/groups, kh, kw]. */
export function conv2d(
  x: Tensor,
  w: Tensor,
  bias?: Tensor | null,
  opts: Conv2dOptions = {},
): Tensor {
  expectTensor('conv2d', 'input', x);
  expectTensor('conv2d', 'weight', w);
  expectRank('conv2d', 'weight', w, [4], '[Cout, Cin/groups, kh, kw]');
  const groups = opts.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1)
    throw new Error(`conv2d: expected groups >= 1, got ${groups}`);
  const [Cout, Cg, kh, kw] = w.shape;
  if (x.rank !== 4 || x.shape[1] !== Cg * groups) {
    throw new Error(`conv2d: expected input [N, ${Cg * groups}, H, W], got ${fmt(x.shape)}`);
  }
  if (Cout % groups !== 0)
    throw new Error(`conv2d: out channels ${Cout} not divisible by groups ${groups}`);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== Cout)) {
    throw new Error(`conv2d: expected bias [${Cout}], got ${fmt(bias.shape)}`);
  }
  if (x.dtype !== w.dtype)
    throw new Error(`conv2d: dtypes differ: input ${x.dtype}, weight ${w.dtype}`);
  const stride = pair2('conv2d', 'stride', opts.stride ?? 1, 1);
  const padding = pair2('conv2d', 'padding', opts.padding ?? 0, 0);
  const dilation = pair2('conv2d', 'dilation', opts.dilation ?? 1, 1);
  const oh = convOutSize(x.shape[2], kh, stride[0], padding[0], dilation[0]);
  const ow = convOutSize(x.shape[3], kw, stride[1], padding[1], dilation[1]);
  if (oh < 1 || ow < 1) {
    throw new Error(
      `conv2d: input ${fmt(x.shape)} is too small for kernel [${kh}, ${kw}] with padding ${fmt(padding)}`,
    );
  }
  const inputs = bias ? [x, w, bias] : [x, w];
  return apply('Conv2d', inputs, { stride, padding, dilation, groups });
}

registerGradient('Conv2d', (dy, { inputs: [x, w, bias], attrs }) => [
  x.requiresGrad
    ? apply('Conv2dBackwardInput', [dy, w], { ...attrs, inputShape: [...x.shape] })
    : null,
  w.requiresGrad
    ? apply('Conv2dBackwardWeight', [dy, x], { ...attrs, weightShape: [...w.shape] })
    : null,
  bias?.requiresGrad ? sum(dy, [0, 2, 3]) : null,
]);
