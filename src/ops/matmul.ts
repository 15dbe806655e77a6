import { apply } from '../autograd/apply.js';
import { registerGradient } from '../kernels/registry.js';
import { fmt } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { add, sumTo } from './arith.js';
import { reshape } from './shape-ops.js';
import { expectRank, expectTensor } from './util.js';

function mm(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  return apply('MatMul', [a, b], { transA, transB });
}

/**
 * op(a)·op(b), where op transposes the last two dims when asked, for matrices or batches
 * (batch dims broadcast); the transposes are read by strides, never copied.
 */
export function matmulTransposed(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  expectTensor('matmulTransposed', 'a', a);
  expectTensor('matmulTransposed', 'b', b);
  if (a.rank < 2 || b.rank < 2)
    throw new Error(
      `matmulTransposed: expected tensors of rank >= 2, got ${fmt(a.shape)} and ${fmt(b.shape)}`,
    );
  if (a.dtype !== b.dtype)
    throw new Error(`matmulTransposed: dtypes differ: ${a.dtype} and ${b.dtype}`);
  const ka = a.shape[a.rank - (transA ? 2 : 1)],
    kb = b.shape[b.rank - (transB ? 1 : 2)];
  if (ka !== kb) {
    throw new Error(
      `matmulTransposed: inner dimensions differ: ${fmt(a.shape)}${transA ? 'ᵀ' : ''} @ ${fmt(b.shape)}${transB ? 'ᵀ' : ''}`,
    );
  }
  return mm(a, b, transA, transB);
}

/** Matrix product with PyTorch's rules: 1-D operands are promoted, batch dims broadcast. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  expectTensor('matmul', 'a', a);
  expectTensor('matmul', 'b', b);
  if (a.rank === 0 || b.rank === 0)
    throw new Error(
      `matmul: expected tensors of rank >= 1, got ${fmt(a.shape)} and ${fmt(b.shape)}`,
    );
  if (a.dtype !== b.dtype) throw new Error(`matmul: dtypes differ: ${a.dtype} and ${b.dtype}`);
  const a2 = a.rank === 1 ? reshape(a, [1, a.shape[0]]) : a;
  const b2 = b.rank === 1 ? reshape(b, [b.shape[0], 1]) : b;
  const K = a2.shape[a2.rank - 1];
  if (b2.shape[b2.rank - 2] !== K) {
    throw new Error(`matmul: inner dimensions differ: ${fmt(a.shape)} @ ${fmt(b.shape)}`);
  }
  let y = mm(a2, b2, false, false);
  if (a.rank === 1) y = reshape(y, [...y.shape.slice(0, -2), y.shape[y.rank - 1]]);
  if (b.rank === 1) y = reshape(y, y.shape.slice(0, -1));
  return y;
}

/** y = x · wᵀ + b with w [out, in] (PyTorch's F.linear). */
export function linear(x: Tensor, w: Tensor, b?: Tensor | null): Tensor {
  expectTensor('linear', 'input', x);
  expectTensor('linear', 'weight', w);
  expectRank('linear', 'weight', w, [2], '[outFeatures, inFeatures]');
  if (x.rank < 1 || x.shape[x.rank - 1] !== w.shape[1]) {
    throw new Error(`linear: expected input [..., ${w.shape[1]}], got ${fmt(x.shape)}`);
  }
  if (b && (b.rank !== 1 || b.shape[0] !== w.shape[0])) {
    throw new Error(`linear: expected bias [${w.shape[0]}], got ${fmt(b.shape)}`);
  }
  const x2 = x.rank === 2 ? x : reshape(x, [-1, w.shape[1]]);
  let y = mm(x2, w, false, true);
  if (b) y = add(y, b);
  return x.rank === 2 ? y : reshape(y, [...x.shape.slice(0, -1), w.shape[0]]);
}

// For C = op(A)·op(B): dA = dC·op(B)ᵀ (stored transposed if A was), dB = op(A)ᵀ·dC likewise.
registerGradient('MatMul', (dy, { inputs: [a, b], attrs: { transA, transB } }) => [
  a.requiresGrad
    ? sumTo(transA ? mm(b, dy, transB, true) : mm(dy, b, false, !transB), a.shape)
    : null,
  b.requiresGrad
    ? sumTo(transB ? mm(dy, a, true, transA) : mm(a, dy, !transA, false), b.shape)
    : null,
]);
