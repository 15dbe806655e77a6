// Elementwise arithmetic with broadcasting; each op's gradient stands beside it.
import { apply } from '../autograd/apply.js';
import { registerGradient } from '../kernels/registry.js';
import { broadcastShapes, fmt, sameShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { type TensorLike, expectTensor, pair } from './util.js';

const bin = (name: string) => {
  const op = name[0].toLowerCase() + name.slice(1);
  return (a: TensorLike, b: TensorLike) => {
    const [ta, tb] = pair(op, a, b);
    broadcastShapes(op, ta.shape, tb.shape); // throws naming the op and both shapes
    return apply(name, [ta, tb]);
  };
};
const un = (name: string, op: string) => (x: Tensor) => apply(name, [expectTensor(op, 'x', x)]);

export const add = bin('Add');
export const sub = bin('Sub');
export const mul = bin('Mul');
export const div = bin('Div');
export const maximum = bin('Maximum');
export const minimum = bin('Minimum');
/** 1 where a >= b, else 0 (no gradient). */
export const greaterEqual = bin('GreaterEqual');
export const greater = bin('Greater');
export const equal = bin('Equal');
export const neg = un('Neg', 'neg');
export const exp = un('Exp', 'exp');
export const log = un('Log', 'log');
export const sqrt = un('Sqrt', 'sqrt');
export const abs = un('Abs', 'abs');
export const sign = un('Sign', 'sign');

/** x ** e for a number e, or elementwise a ** b for tensors. */
export function pow(a: TensorLike, b: TensorLike): Tensor {
  if (typeof b === 'number')
    return apply('PowScalar', [expectTensor('pow', 'x', a)], { exponent: b });
  return apply('Pow', pair('pow', a, b));
}

export function clamp(x: Tensor, min = -Infinity, max = Infinity): Tensor {
  expectTensor('clamp', 'x', x);
  if (min > max) throw new Error(`clamp: min ${min} is greater than max ${max}`);
  return apply('Clamp', [x], { min, max });
}

/**
 * x with `value` wherever mask is non-zero (PyTorch's masked_fill); mask broadcasts to x.
 * Unlike x·(1 − mask) + value·mask, a NaN or Inf under the mask does not get through.
 */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  expectTensor('maskedFill', 'x', x);
  expectTensor('maskedFill', 'mask', mask);
  if (!sameShape(broadcastShapes('maskedFill', x.shape, mask.shape), x.shape)) {
    throw new Error(`maskedFill: mask ${fmt(mask.shape)} does not broadcast to x ${fmt(x.shape)}`);
  }
  return apply('MaskedFill', [x, mask], { value });
}

/** Broadcasts x to a shape (no copy semantics: a new tensor). */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  expectTensor('expand', 'x', x);
  if (sameShape(x.shape, shape)) return x;
  const off = shape.length - x.rank;
  if (off < 0 || x.shape.some((d, i) => d !== 1 && d !== shape[off + i])) {
    throw new Error(`expand: cannot broadcast ${fmt(x.shape)} to ${fmt(shape)}`);
  }
  return apply('Expand', [x], { shape: [...shape] });
}

/** Sums a broadcast gradient back down to `shape`. */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const off = g.rank - shape.length;
  const dims: number[] = [];
  for (let i = 0; i < g.rank; i++)
    if (i < off || (shape[i - off] === 1 && g.shape[i] !== 1)) dims.push(i);
  const s = apply('Sum', [g], { dims, keepDim: true });
  return apply('Reshape', [s], { shape: [...shape] });
}

registerGradient('Add', (dy, { inputs: [a, b] }) => [sumTo(dy, a.shape), sumTo(dy, b.shape)]);
registerGradient('Sub', (dy, { inputs: [a, b] }) => [sumTo(dy, a.shape), sumTo(neg(dy), b.shape)]);
registerGradient('Mul', (dy, { inputs: [a, b] }) => [
  a.requiresGrad ? sumTo(mul(dy, b), a.shape) : null,
  b.requiresGrad ? sumTo(mul(dy, a), b.shape) : null,
]);
registerGradient('Div', (dy, { inputs: [a, b], outputs: [y] }) => [
  a.requiresGrad ? sumTo(div(dy, b), a.shape) : null,
  b.requiresGrad ? sumTo(neg(div(mul(dy, y), b)), b.shape) : null,
]);
registerGradient('Pow', (dy, { inputs: [a, b], outputs: [y] }) => [
  a.requiresGrad ? sumTo(mul(dy, mul(b, pow(a, sub(b, 1)))), a.shape) : null,
  b.requiresGrad ? sumTo(mul(dy, mul(y, log(a))), b.shape) : null,
]);
// Ties split the gradient evenly between the two inputs, as PyTorch does.
function tieMask(a: Tensor, b: Tensor): Tensor {
  return add(greater(a, b), mul(equal(a, b), 0.5));
}
registerGradient('Maximum', (dy, { inputs: [a, b] }) => {
  const m = tieMask(a, b);
  return [sumTo(mul(dy, m), a.shape), sumTo(mul(dy, sub(1, m)), b.shape)];
});
registerGradient('Minimum', (dy, { inputs: [a, b] }) => {
  const m = tieMask(b, a);
  return [sumTo(mul(dy, m), a.shape), sumTo(mul(dy, sub(1, m)), b.shape)];
});
registerGradient('Neg', (dy) => [neg(dy)]);
registerGradient('Exp', (dy, { outputs: [y] }) => [mul(dy, y)]);
registerGradient('Log', (dy, { inputs: [x] }) => [div(dy, x)]);
registerGradient('Sqrt', (dy, { outputs: [y] }) => [div(dy, mul(y, 2))]);
registerGradient('Abs', (dy, { inputs: [x] }) => [mul(dy, sign(x))]);
registerGradient('PowScalar', (dy, { inputs: [x], attrs: { exponent } }) => [
  mul(dy, mul(pow(x, exponent - 1), exponent)),
]);
registerGradient('Clamp', (dy, { inputs: [x], attrs }) => [
  mul(dy, apply('ClampMask', [x], attrs)),
]);
registerGradient('MaskedFill', (dy, { inputs: [, mask] }) => [maskedFill(dy, mask, 0), null]);
registerGradient('Expand', (dy, { inputs: [x] }) => [sumTo(dy, x.shape)]);
