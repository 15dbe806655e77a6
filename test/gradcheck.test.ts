// Float64 finite-difference gradient checks for every differentiable op, on fresh random
// inputs with odd sizes.
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { gradcheck, rand64 } from './helpers.js';

const { ops } = nk;
const pos = (shape: number[]) => ops.add(ops.abs(rand64(shape)), 0.5).detach();

describe('gradcheck (float64, central differences)', () => {
  it('binary arithmetic with broadcasting', () => {
    gradcheck((a, b) => ops.add(a, b), [rand64([3, 1, 5]), rand64([4, 1])]);
    gradcheck((a, b) => ops.sub(a, b), [rand64([3, 5]), rand64([5])]);
    gradcheck((a, b) => ops.mul(a, b), [rand64([2, 3, 5]), rand64([3, 1])]);
    gradcheck((a, b) => ops.div(a, b), [rand64([3, 5]), pos([1, 5])]);
    gradcheck((a, b) => ops.pow(a, b), [pos([3, 5]), rand64([3, 5])]);
    gradcheck((a, b) => ops.maximum(a, b), [rand64([3, 7]), rand64([7])]);
    gradcheck((a, b) => ops.minimum(a, b), [rand64([3, 7]), rand64([3, 1])]);
    const mask = nk.tensor([1, 0, 0, 1, 0, 1, 1], [1, 7], { dtype: 'float64' });
    gradcheck((x) => ops.maskedFill(x, mask, 2.5), [rand64([3, 7])]);
    const idx = nk.tensor(
      [
        [2, 0, 2],
        [4, 1, 2],
      ],
      undefined,
      { dtype: 'float64' },
    );
    // (paddingIdx is left out: its zero gradient is PyTorch's convention, not the derivative;
    // the PyTorch fixtures cover it.)
    gradcheck((w) => ops.embedding(w, idx), [rand64([5, 3])]);
  });
  it('unary math', () => {
    gradcheck((x) => ops.neg(x), [rand64([3, 5])]);
    gradcheck((x) => ops.exp(x), [rand64([3, 5])]);
    gradcheck((x) => ops.log(x), [pos([3, 5])]);
    gradcheck((x) => ops.sqrt(x), [pos([3, 5])]);
    gradcheck((x) => ops.abs(x), [pos([3, 5])]);
    gradcheck((x) => ops.pow(x, 3), [rand64([3, 5])]);
    gradcheck((x) => ops.clamp(x, -0.5, 0.7), [rand64([4, 9])]);
  });
  it('activations', () => {
    gradcheck((x) => ops.relu(x), [rand64([5, 7])]);
    gradcheck((x) => ops.leakyRelu(x, 0.2), [rand64([5, 7])]);
    gradcheck((x) => ops.sigmoid(x), [rand64([5, 7], 3)]);
    gradcheck((x) => ops.tanh(x), [rand64([5, 7], 2)]);
    gradcheck((x) => ops.gelu(x), [rand64([5, 7], 3)]);
    gradcheck((x) => ops.softmax(x, 1), [rand64([3, 5, 2])]);
    gradcheck((x) => ops.logSoftmax(x, -1), [rand64([3, 7])]);
  });
  it('reductions', () => {
    gradcheck((x) => ops.sum(x, [0, 2]), [rand64([3, 4, 5])]);
    gradcheck((x) => ops.sum(x, 1, true), [rand64([3, 4, 5])]);
    gradcheck((x) => ops.mean(x), [rand64([3, 5])]);
    gradcheck((x) => ops.max(x, 1), [rand64([3, 7, 2])]);
    gradcheck((x) => ops.variance(x, [0, 2]), [rand64([3, 4, 5])]);
    gradcheck((x) => ops.variance(x, 1, { correction: 0, keepDim: true }), [rand64([3, 5])]);
  });
  it('shape ops', () => {
    gradcheck((x) => ops.reshape(x, [5, 3]), [rand64([3, 5])]);
    gradcheck((x) => ops.permute(x, [2, 0, 1]), [rand64([2, 3, 5])]);
    gradcheck((x) => ops.transpose(x), [rand64([3, 5])]);
    gradcheck((x) => ops.flatten(x, 1), [rand64([2, 3, 5])]);
    gradcheck((a, b) => ops.concat([a, b], 1), [rand64([2, 3, 5]), rand64([2, 1, 5])]);
    gradcheck((a, b) => ops.stack([a, b], 2), [rand64([2, 3]), rand64([2, 3])]);
    gradcheck((x) => ops.slice(x, 1, 1, 4), [rand64([3, 5, 2])]);
    gradcheck((x) => ops.cast(x, 'float64').mul(2), [rand64([3])]);
  });
  it('matmul and linear', () => {
    gradcheck((a, b) => ops.matmul(a, b), [rand64([3, 5]), rand64([5, 7])]);
    gradcheck((a, b) => ops.matmul(a, b), [rand64([2, 1, 3, 5]), rand64([4, 5, 3])]);
    gradcheck((a, b) => ops.matmul(a, b), [rand64([5]), rand64([2, 5, 3])]);
    gradcheck((x, w, b) => ops.linear(x, w, b), [rand64([4, 5]), rand64([3, 5]), rand64([3])]);
    gradcheck((x, w) => ops.linear(x, w), [rand64([2, 3, 5]), rand64([3, 5])]);
  });
  it('conv2d (stride, padding, dilation, groups, bias)', () => {
    gradcheck(
      (x, w, b) => ops.conv2d(x, w, b, { stride: 2, padding: 1 }),
      [rand64([2, 3, 7, 6]), rand64([4, 3, 3, 3]), rand64([4])],
    );
    gradcheck(
      (x, w) => ops.conv2d(x, w, null, { padding: [2, 1], dilation: 2, groups: 2 }),
      [rand64([1, 4, 6, 5]), rand64([6, 2, 3, 2])],
    );
    gradcheck((x, w) => ops.conv2d(x, w), [rand64([2, 5, 3, 3]), rand64([3, 5, 1, 1])]);
  });
  it('pooling', () => {
    gradcheck((x) => ops.maxPool2d(x, 3, { stride: 2, padding: 1 }), [rand64([2, 3, 7, 5])]);
    gradcheck((x) => ops.maxPool2d(x, 2, { ceilMode: true }), [rand64([1, 2, 5, 5])]);
    gradcheck((x) => ops.avgPool2d(x, 3, { stride: 2, padding: 1 }), [rand64([2, 3, 7, 5])]);
    gradcheck(
      (x) => ops.avgPool2d(x, [2, 3], { countIncludePad: false, padding: 1 }),
      [rand64([1, 2, 5, 7])],
    );
    gradcheck((x) => ops.adaptiveAvgPool2d(x, [3, 2]), [rand64([2, 3, 7, 5])]);
  });
  it('losses and dropout', () => {
    gradcheck((x) => ops.crossEntropy(x, [0, 4, 2], { labelSmoothing: 0.1 }), [rand64([3, 5])]);
    gradcheck((a, b) => ops.mseLoss(a, b), [rand64([3, 5]), rand64([3, 5])]);
    nk.manualSeed(3);
    const x = rand64([4, 9]);
    // Same seed before each evaluation: the mask is fixed, so dropout is differentiable.
    gradcheck((t) => (nk.manualSeed(5), ops.dropout(t, 0.3)), [x]);
  });
  it('normalization (batch, group, layer, instance)', () => {
    gradcheck(
      (x, w, b) => ops.batchNorm(x, null, null, w, b, { training: true }),
      [rand64([4, 3, 5]), rand64([3]), rand64([3])],
    );
    gradcheck(
      (x) => ops.batchNorm(x, null, null, null, null, { training: true }),
      [rand64([5, 3])],
    );
    const rm = rand64([3]),
      rv = pos([3]);
    gradcheck(
      (x, w, b) => ops.batchNorm(x, rm, rv, w, b, { training: false }),
      [rand64([2, 3, 2, 3]), rand64([3]), rand64([3])],
    );
    gradcheck(
      (x, w, b) => ops.groupNorm(x, 3, w, b),
      [rand64([2, 6, 3, 5]), rand64([6]), rand64([6])],
    );
    gradcheck(
      (x, w, b) => ops.layerNorm(x, [3, 5], w, b),
      [rand64([2, 4, 3, 5]), rand64([3, 5]), rand64([3, 5])],
    );
    gradcheck((x) => ops.instanceNorm(x), [rand64([2, 3, 5, 3])]);
    gradcheck((x, w) => ops.rmsNorm(x, [3, 5], w, 1e-6), [rand64([2, 4, 3, 5]), rand64([3, 5])]);
    gradcheck((x) => ops.rmsNorm(x, [7]), [rand64([3, 7])]);
  });
});
