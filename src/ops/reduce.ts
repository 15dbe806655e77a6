import { apply } from '../autograd/apply.js';
import { registerGradient } from '../kernels/registry.js';
import { normDims } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { div, equal, expand, mul, sub } from './arith.js';
import { expectTensor } from './util.js';

type Dims = number | readonly number[] | undefined;

function reduceArgs(op: string, x: Tensor, dims: Dims, keepDim: boolean) {
  expectTensor(op, 'x', x);
  return { dims: normDims(op, dims, x.rank), keepDim };
}

function countOf(x: Tensor, dims: number[]): number {
  return dims.reduce((n, d) => n * x.shape[d], 1);
}

/** Sum over dims (all when omitted). */
export function sum(x: Tensor, dims?: Dims, keepDim = false): Tensor {
  return apply('Sum', [x], reduceArgs('sum', x, dims, keepDim));
}

export function mean(x: Tensor, dims?: Dims, keepDim = false): Tensor {
  const a = reduceArgs('mean', x, dims, keepDim);
  return div(apply('Sum', [x], a), countOf(x, a.dims));
}

/** Maximum over dims; the gradient is shared evenly among tied maxima (PyTorch's amax). */
export function max(x: Tensor, dims?: Dims, keepDim = false): Tensor {
  return apply('Max', [x], reduceArgs('max', x, dims, keepDim));
}

/** Variance over dims with Bessel's correction by default (correction = 1), two-pass. */
export function variance(
  x: Tensor,
  dims?: Dims,
  opts: { correction?: number; keepDim?: boolean } = {},
): Tensor {
  const a = reduceArgs('var', x, dims, opts.keepDim ?? false);
  return apply('Var', [x], { ...a, correction: opts.correction ?? 1 });
}

/** dy of a reduction, reshaped with kept dims and broadcast back to x's shape. */
function spread(dy: Tensor, x: Tensor, dims: number[]): Tensor {
  const kept = x.shape.map((d, i) => (dims.includes(i) ? 1 : d));
  return expand(apply('Reshape', [dy], { shape: kept }), x.shape);
}

registerGradient('Sum', (dy, { inputs: [x], attrs: { dims } }) => [spread(dy, x, dims)]);
registerGradient('Max', (dy, { inputs: [x], outputs: [y], attrs: { dims } }) => {
  const mask = equal(x, spread(y, x, dims));
  const ties = spread(apply('Sum', [mask], { dims, keepDim: false }), x, dims);
  return [div(mul(spread(dy, x, dims), mask), ties)];
});
registerGradient('Var', (dy, { inputs: [x], attrs: { dims, correction } }) => {
  const n = countOf(x, dims);
  const m = spread(div(apply('Sum', [x], { dims, keepDim: false }), n), x, dims);
  return [mul(spread(dy, x, dims), mul(sub(x, m), 2 / Math.max(0, n - correction)))];
});
