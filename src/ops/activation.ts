import { apply } from '../autograd/apply.js';
import { registerGradient } from '../kernels/registry.js';
import { normDim } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { mul, sub } from './arith.js';
import { expectTensor } from './util.js';

export function relu(x: Tensor): Tensor {
  return apply('Relu', [expectTensor('relu', 'x', x)]);
}

export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  return apply('LeakyRelu', [expectTensor('leakyRelu', 'x', x)], { slope: negativeSlope });
}

export function sigmoid(x: Tensor): Tensor {
  return apply('Sigmoid', [expectTensor('sigmoid', 'x', x)]);
}

export function tanh(x: Tensor): Tensor {
  return apply('Tanh', [expectTensor('tanh', 'x', x)]);
}

/** GELU with the exact erf form (PyTorch's default approximate='none'). */
export function gelu(x: Tensor): Tensor {
  return apply('Gelu', [expectTensor('gelu', 'x', x)]);
}

export function softmax(x: Tensor, dim = -1): Tensor {
  expectTensor('softmax', 'x', x);
  return apply('Softmax', [x], { dim: normDim('softmax', dim, x.rank) });
}

export function logSoftmax(x: Tensor, dim = -1): Tensor {
  expectTensor('logSoftmax', 'x', x);
  return apply('LogSoftmax', [x], { dim: normDim('logSoftmax', dim, x.rank) });
}

// A donated dy takes dx: the pointwise gradient kernels read each element before writing it.
registerGradient('Relu', (dy, { inputs: [x] }, donated) => [
  apply('ReluGrad', [dy, x], { intoDy: donated }),
]);
registerGradient('LeakyRelu', (dy, { inputs: [x], attrs }) => [
  apply('LeakyReluGrad', [dy, x], attrs),
]);
registerGradient('Sigmoid', (dy, { outputs: [y] }) => [mul(dy, mul(y, sub(1, y)))]);
registerGradient('Tanh', (dy, { outputs: [y] }) => [mul(dy, sub(1, mul(y, y)))]);
registerGradient('Gelu', (dy, { inputs: [x] }, donated) => [
  apply('GeluGrad', [dy, x], { intoDy: donated }),
]);
// softmax: dx = y * (dy - sum(dy * y)); logSoftmax: dx = dy - exp(y) * sum(dy); one pass each.
registerGradient('Softmax', (dy, { outputs: [y], attrs: { dim } }) => [
  apply('SoftmaxGrad', [dy, y], { dim, log: false }),
]);
registerGradient('LogSoftmax', (dy, { outputs: [y], attrs: { dim } }) => [
  apply('SoftmaxGrad', [dy, y], { dim, log: true }),
]);
