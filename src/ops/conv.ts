import { apply } from '../autograd/apply.js';
import { registerGradient } from '../kernels/registry.js';
import { convOutSize } from '../kernels/js/conv.js';
import { fmt } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { isGradEnabled } from '../autograd/grad-mode.js';
import { relu as reluOp } from './activation.js';
import { type Pool2dOptions, maxPool2d, poolAttrsOfShape } from './pool.js';
import { sum } from './reduce.js';
import { expectRank, expectTensor, pair2 } from './util.js';

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
}

/** conv2d's arguments checked, and its attributes and output size. */
function convAttrs(x: Tensor, w: Tensor, bias: Tensor | null | undefined, opts: Conv2dOptions) {
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
  return { stride, padding, dilation, groups, oh, ow };
}

/** 2-D convolution (cross-correlation) of x [N, Cin, H, W] with w [Cout, Cin/groups, kh, kw]. */
export function conv2d(
  x: Tensor,
  w: Tensor,
  bias?: Tensor | null,
  opts: Conv2dOptions = {},
): Tensor {
  const { stride, padding, dilation, groups } = convAttrs(x, w, bias, opts);
  const inputs = bias ? [x, w, bias] : [x, w];
  return apply('Conv2d', inputs, { stride, padding, dilation, groups });
}

/**
 * maxPool2d(conv2d(x, w, bias, opts), pool.kernelSize, pool.options), then relu when `relu`:
 * where no gradient is recorded, one kernel whose WASM passes pool each image's output from
 * cache (the full output is never stored); otherwise the three ops.
 */
export function conv2dMaxPool(
  x: Tensor,
  w: Tensor,
  bias: Tensor | null | undefined,
  opts: Conv2dOptions,
  pool: { kernelSize: number | [number, number]; options?: Pool2dOptions },
  relu = false,
): Tensor {
  const { kernelSize, options = {} } = pool;
  if (isGradEnabled() && [x, w, bias].some((t) => t?.requiresGrad)) {
    const y = maxPool2d(conv2d(x, w, bias, opts), kernelSize, options);
    return relu ? reluOp(y) : y;
  }
  const { oh, ow, ...attrs } = convAttrs(x, w, bias, opts);
  const full = [x.shape[0], w.shape[0], oh, ow];
  const pa = { ...poolAttrsOfShape('maxPool2d', full, kernelSize, options), indices: false };
  const inputs = bias ? [x, w, bias] : [x, w];
  return apply('Conv2dPool', inputs, { ...attrs, pool: pa, relu });
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
