// Transposed 2-D convolution (PyTorch's conv_transpose2d): the adjoint of conv2d, computed by
// the convolution's backward-input kernels (WASM when loaded). Its input gradient is a
// conv2d, its weight gradient the convolution's weight-gradient kernel with the roles of the
// two tensors swapped: ∂⟨g, Cᵀ_W x⟩/∂W = ∂⟨C_W g, x⟩/∂W.
import { apply } from '../autograd/apply.js';
import { findKernel, registerGradient, registerKernel } from '../kernels/registry.js';
import { fmt } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { add } from './arith.js';
import { reshape } from './shape-ops.js';
import { expectRank, expectTensor, pair2 } from './util.js';

export interface ConvTranspose2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  /** Extra size on one side of the output (less than the stride or the dilation). */
  outputPadding?: number | [number, number];
  dilation?: number | [number, number];
  groups?: number;
}

/** x [N, Cin, H, W] with w [Cin, Cout/groups, kh, kw] (PyTorch's layout) to [N, Cout, H', W']. */
export function convTranspose2d(
  x: Tensor,
  w: Tensor,
  bias?: Tensor | null,
  opts: ConvTranspose2dOptions = {},
): Tensor {
  const op = 'convTranspose2d';
  expectTensor(op, 'input', x);
  expectTensor(op, 'weight', w);
  expectRank(op, 'weight', w, [4], '[Cin, Cout/groups, kh, kw]');
  const groups = opts.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1 || w.shape[0] % groups !== 0) {
    throw new Error(`${op}: expected groups >= 1 dividing ${w.shape[0]}, got ${groups}`);
  }
  const [Cin, Cog, kh, kw] = w.shape;
  if (x.rank !== 4 || x.shape[1] !== Cin) {
    throw new Error(`${op}: expected input [N, ${Cin}, H, W], got ${fmt(x.shape)}`);
  }
  if (x.dtype !== w.dtype)
    throw new Error(`${op}: dtypes differ: input ${x.dtype}, weight ${w.dtype}`);
  const stride = pair2(op, 'stride', opts.stride ?? 1, 1);
  const padding = pair2(op, 'padding', opts.padding ?? 0, 0);
  const dilation = pair2(op, 'dilation', opts.dilation ?? 1, 1);
  const outPad = pair2(op, 'outputPadding', opts.outputPadding ?? 0, 0);
  if (outPad.some((p, i) => p >= Math.max(stride[i], dilation[i]))) {
    throw new Error(
      `${op}: outputPadding ${fmt(outPad)} must be smaller than the stride ${fmt(stride)} or the dilation ${fmt(dilation)}`,
    );
  }
  const size = (i: number, k: number) =>
    (x.shape[2 + i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (k - 1) + outPad[i] + 1;
  const outShape = [x.shape[0], Cog * groups, size(0, kh), size(1, kw)];
  if (outShape[2] < 1 || outShape[3] < 1) {
    throw new Error(`${op}: input ${fmt(x.shape)} gives an empty output ${fmt(outShape)}`);
  }
  const y = apply('ConvTranspose2d', [x, w], {
    stride,
    padding,
    dilation,
    groups,
    inputShape: outShape,
  });
  if (!bias) return y;
  if (bias.rank !== 1 || bias.shape[0] !== outShape[1]) {
    throw new Error(`${op}: expected bias [${outShape[1]}], got ${fmt(bias.shape)}`);
  }
  return add(y, reshape(bias, [1, outShape[1], 1, 1]));
}

registerKernel({
  name: 'ConvTranspose2d',
  backend: 'js',
  // The convolution's backward-input pass on whichever backend serves it.
  fn: (inputs, attrs) => findKernel('Conv2dBackwardInput', inputs, attrs).fn(inputs, attrs),
});

registerGradient('ConvTranspose2d', (dy, { inputs: [x, w], attrs }) => {
  const { inputShape: _out, ...conv } = attrs as Record<string, unknown>;
  return [
    x.requiresGrad ? apply('Conv2d', [dy, w], conv) : null,
    w.requiresGrad
      ? apply('Conv2dBackwardWeight', [x, dy], { ...conv, weightShape: [...w.shape] })
      : null,
  ];
});
