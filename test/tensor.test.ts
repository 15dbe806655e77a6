import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { assertClose } from './helpers.js';

describe('tensor creation and reading', () => {
  it('tensor, nested arrays, zeros, ones, full, arange, rand, randn', () => {
    const t = nk.tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    assert.deepEqual(t.shape, [2, 3]);
    assert.ok(t.toArray() instanceof Float32Array);
    assert.deepEqual(t.toNested(), [
      [1, 2, 3],
      [4, 5, 6],
    ]);
    assert.deepEqual(Array.from(nk.zeros([2, 2]).data), [0, 0, 0, 0]);
    assert.deepEqual(Array.from(nk.full([3], 7).data), [7, 7, 7]);
    assert.deepEqual(Array.from(nk.arange(1, 2, 0.25).data), [1, 1.25, 1.5, 1.75]);
    assert.deepEqual(Array.from(nk.arange(3).data), [0, 1, 2]);
    const r = nk.rand([1000], { low: -2, high: 2 }).toArray();
    assert.ok(r.every((v) => v >= -2 && v < 2));
    nk.manualSeed(7);
    const a = nk.randn([5]).toArray();
    nk.manualSeed(7);
    assert.deepEqual(nk.randn([5]).toArray(), a);
    assert.equal(nk.scalar(3).item(), 3);
  });

  it('bad shapes are refused with the numbers', () => {
    assert.throws(
      () => nk.tensor([1, 2, 3], [2, 2]),
      /tensor: 3 values cannot fill shape \[2, 2\] \(4 elements\)/,
    );
    assert.throws(() => nk.tensor([[1, 2], [3]]), /ragged nested array/);
    assert.throws(() => nk.zeros([2, -1]), /invalid shape \[2, -1\]/);
    assert.throws(() => nk.tensor([1, 2]).item(), /one element, got shape \[2\]/);
  });
});

describe('elementwise ops broadcast like NumPy', () => {
  it('values', () => {
    const a = nk.tensor([[1], [2], [3]]);
    const b = nk.tensor([10, 20]);
    assert.deepEqual(nk.add(a, b).toNested(), [
      [11, 21],
      [12, 22],
      [13, 23],
    ]);
    assert.deepEqual(nk.sub(b, a).toNested(), [
      [9, 19],
      [8, 18],
      [7, 17],
    ]);
    assert.deepEqual(nk.mul(a, 2).toNested(), [[2], [4], [6]]);
    assert.deepEqual(nk.div(1, nk.tensor([2, 4])).toArray(), Float32Array.from([0.5, 0.25]));
    assert.deepEqual(Array.from(nk.maximum(nk.tensor([1, 5]), nk.tensor([3, 2])).data), [3, 5]);
    assert.deepEqual(Array.from(nk.clamp(nk.tensor([-2, 0.5, 3]), -1, 1).data), [-1, 0.5, 1]);
    assertClose(nk.exp(nk.tensor([0, 1])).data, [1, Math.E]);
    assertClose(nk.sigmoid(nk.tensor([-1000, 0, 1000])).data, [0, 0.5, 1]);
    assertClose(nk.leakyRelu(nk.tensor([-2, 3]), 0.1).data, [-0.2, 3]);
  });

  it('errors show both shapes', () => {
    assert.throws(
      () => nk.add(nk.zeros([2, 3]), nk.zeros([4])),
      /add: shapes \[2, 3\] and \[4\] cannot be broadcast together/,
    );
    assert.throws(
      () => nk.add(nk.zeros([2]), nk.zeros([2], { dtype: 'float64' })),
      /dtypes differ: float32 and float64/,
    );
    assert.throws(
      () => nk.add(nk.zeros([2]), 'x' as any),
      /expected b to be a Tensor, got string x/,
    );
  });
});

describe('reductions, shapes and linear algebra', () => {
  it('sum, mean, max, var over dims with keepDim', () => {
    const x = nk.tensor([
      [1, 2, 3],
      [4, 5, 9],
    ]);
    assert.deepEqual(Array.from(nk.sum(x, 1).data), [6, 18]);
    assert.deepEqual(nk.sum(x, 0, true).shape, [1, 3]);
    assert.equal(nk.mean(x).item(), 4);
    assert.deepEqual(Array.from(nk.max(x, 0).data), [4, 5, 9]);
    assertClose(nk.variance(x, 1).data, [1, 7]);
    assertClose(nk.variance(x, 1, { correction: 0 }).data, [2 / 3, 14 / 3]);
    assert.throws(() => nk.sum(x, 2), /sum: dim 2 out of range for a tensor of rank 2/);
  });

  it('variance is stable for a large mean (two-pass, float64 accumulation)', () => {
    const x = nk.tensor([1e6 + 1, 1e6 + 2, 1e6 + 3, 1e6 + 4]);
    assertClose(nk.variance(x, 0, { correction: 0 }).data, [1.25], { rtol: 1e-6 });
  });

  it('reshape, permute, transpose, flatten, concat, stack, slice', () => {
    const x = nk.arange(24).reshape([2, 3, 4]);
    assert.deepEqual(nk.reshape(x, [4, -1]).shape, [4, 6]);
    const p = nk.permute(x, [2, 0, 1]);
    assert.deepEqual(p.shape, [4, 2, 3]);
    assert.equal(p.toArray()[1], 4); // p[0, 0, 1] = x[0, 1, 0]
    assert.deepEqual(
      nk
        .transpose(
          nk.tensor([
            [1, 2],
            [3, 4],
          ]),
        )
        .toNested(),
      [
        [1, 3],
        [2, 4],
      ],
    );
    assert.deepEqual(nk.flatten(x, 1).shape, [2, 12]);
    assert.deepEqual(
      nk
        .concat(
          [
            nk.tensor([[1], [2]]),
            nk.tensor([
              [3, 4],
              [5, 6],
            ]),
          ],
          1,
        )
        .toNested(),
      [
        [1, 3, 4],
        [2, 5, 6],
      ],
    );
    assert.deepEqual(nk.stack([nk.tensor([1, 2]), nk.tensor([3, 4])], 1).toNested(), [
      [1, 3],
      [2, 4],
    ]);
    assert.deepEqual(nk.slice(nk.arange(6).reshape([2, 3]), 1, 1).toNested(), [
      [1, 2],
      [4, 5],
    ]);
    assert.deepEqual(nk.slice(nk.arange(5), 0, -2).toNested(), [3, 4]);
    assert.throws(
      () => nk.reshape(x, [5, 5]),
      /cannot reshape \[2, 3, 4\] \(24 elements\) into \[5, 5\]/,
    );
    assert.throws(() => nk.concat([nk.zeros([2, 3]), nk.zeros([3, 3])], 1), /differ outside dim 1/);
  });

  it('matmul agrees with a naive product on odd sizes', () => {
    for (const [M, K, N] of [
      [1, 1, 1],
      [5, 7, 3],
      [17, 9, 13],
      [33, 65, 31],
    ]) {
      const a = nk.randn([M, K]),
        b = nk.randn([K, N]);
      const A = a.data,
        B = b.data;
      const ref = new Float64Array(M * N);
      for (let i = 0; i < M; i++)
        for (let j = 0; j < N; j++)
          for (let k = 0; k < K; k++) ref[i * N + j] += A[i * K + k] * B[k * N + j];
      assertClose(nk.matmul(a, b).data, ref, { rtol: 1e-5, atol: 1e-5 });
    }
    assert.throws(
      () => nk.matmul(nk.zeros([2, 3]), nk.zeros([4, 2])),
      /matmul: inner dimensions differ: \[2, 3\] @ \[4, 2\]/,
    );
    // matmulTransposed reads the transposes by strides; it equals matmul of the copies.
    const a = nk.randn([2, 3, 4]),
      b = nk.randn([5, 3]);
    assertClose(
      nk.matmulTransposed(a, b, true, true).data,
      nk.matmul(nk.transpose(a, 1, 2), nk.transpose(b, 0, 1)).data,
      { rtol: 1e-6, atol: 1e-6 },
    );
    assert.throws(
      () => nk.matmulTransposed(a, b, false, true),
      /matmulTransposed: inner dimensions differ: \[2, 3, 4\] @ \[5, 3\]ᵀ/,
    );
    assert.throws(
      () => nk.matmulTransposed(nk.zeros([3]), b),
      /matmulTransposed: expected tensors of rank >= 2, got \[3\] and \[5, 3\]/,
    );
  });

  it('conv2d and pooling validate their arguments', () => {
    assert.throws(
      () => nk.conv2d(nk.zeros([8, 1, 28, 28]), nk.zeros([4, 3, 3, 3])),
      /conv2d: expected input \[N, 3, H, W\], got \[8, 1, 28, 28\]/,
    );
    assert.throws(
      () => nk.conv2d(nk.zeros([1, 3, 2, 2]), nk.zeros([4, 3, 3, 3])),
      /too small for kernel \[3, 3\]/,
    );
    assert.throws(
      () => nk.maxPool2d(nk.zeros([1, 3, 8]), 2),
      /maxPool2d: expected input of rank 4 \[N, C, H, W\], got \[1, 3, 8\]/,
    );
    assert.throws(
      () => nk.maxPool2d(nk.zeros([1, 1, 4, 4]), 2, { padding: 2 }),
      /padding \[2, 2\] should be at most half of kernel/,
    );
  });

  it('crossEntropy validates targets', () => {
    assert.throws(
      () => nk.crossEntropy(nk.zeros([2, 3]), [0]),
      /expected target of 2 class indices for input \[2, 3\], got 1 labels/,
    );
    assert.throws(
      () => nk.crossEntropy(nk.zeros([2, 3]), [0, 3]),
      /target 1 is 3, expected a class index in \[0, 3\)/,
    );
  });

  it('float64 tensors run every op in float64', () => {
    const x = nk.tensor([1e-10, 1], [2], { dtype: 'float64' });
    assert.equal(x.add(1).sub(1).data[0], 1e-10 + 1 - 1);
    assert.ok(x.toArray() instanceof Float64Array);
  });
});

describe('package', () => {
  it("is importable by name: import { nn, optim, tensor } from 'normkit'", async () => {
    const pkg = await import('normkit');
    assert.equal(typeof pkg.tensor, 'function');
    assert.equal(typeof pkg.nn.BatchNorm2d, 'function');
    assert.equal(typeof pkg.optim.SGD, 'function');
    assert.equal(pkg.tensor([1, 2]).add(1).toArray()[1], 3);
  });
});
