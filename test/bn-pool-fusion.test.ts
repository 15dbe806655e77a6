// BatchNorm followed by max pooling (after a ReLU or not) in a Sequential: the training pass
// pools each normalized plane from cache and never stores the full-size output. It must give
// the bits the layers give run one by one: output, every gradient, the running statistics.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { setGrainScale } from '../src/kernels/wasm/threads.js';
import {
  BatchNorm2d,
  BatchRenorm2d,
  Conv2d,
  MaxPool2d,
  type Module,
  ReLU,
  Sequential,
} from '../src/nn/index.js';
import type { Tensor } from '../src/tensor/tensor.js';

/** Output, the input's and every parameter's gradient, every buffer, as arrays. */
function run(model: Sequential, x0: Tensor, oneByOne: boolean, grad = true): number[][] {
  const x = nk.clone(x0);
  x.requiresGrad = grad;
  const forward = () => {
    let y: Tensor = x;
    if (oneByOne) for (const l of model.layers) y = l.call(y);
    else y = model.call(x);
    return y;
  };
  if (!grad) return [Array.from(nk.noGrad(forward).data)];
  const y = forward();
  // A loss whose gradient differs from place to place (and is NaN where y is).
  nk.sum(nk.mul(y, y)).backward();
  return [
    Array.from(y.data),
    Array.from(x.grad!.data),
    ...model.parameters().map((p) => Array.from(p.grad!.data)),
    ...model.buffers().map((b) => Array.from(b.data)),
  ];
}

/** Two copies of the model from one seed, fused and one by one: the same bits. */
function same(build: () => Module[], x: Tensor, grad = true): void {
  nk.manualSeed(1);
  const fused = run(new Sequential(...build()), x, false, grad);
  nk.manualSeed(1);
  const plain = run(new Sequential(...build()), x, true, grad);
  assert.equal(fused.length, plain.length);
  // deepEqual treats NaN as equal to NaN, and tells -0 from +0.
  fused.forEach((v, i) => assert.deepEqual(v, plain[i], `part ${i} differs`));
}

/** Input with a NaN in the last channel (its statistics, hence all of it, NaN), a constant
 * channel and a channel far from 0; plain normal values with special = false. */
function input(shape: number[], special = true): Tensor {
  nk.manualSeed(9);
  const x = nk.randn(shape);
  const [N, C, H, W] = shape;
  const plane = H * W;
  if (!special) return x;
  x.data[(C - 1) * plane + 3] = NaN;
  for (let n = 0; n < N; n++) {
    x.data.fill(1.5, (n * C + 1) * plane, (n * C + 2) * plane);
    if (C > 2) for (let i = 0; i < plane; i++) x.data[(n * C + 2) * plane + i] += 1e4;
  }
  return x;
}

const stacks: [string, (C: number) => Module[]][] = [
  ['BatchNorm2d, ReLU, MaxPool2d(2)', (C) => [new BatchNorm2d(C), new ReLU(), new MaxPool2d(2)]],
  [
    'BatchNorm2d, MaxPool2d(3, stride 2, padding 1)',
    (C) => [new BatchNorm2d(C), new MaxPool2d(3, { stride: 2, padding: 1 })],
  ],
  [
    'BatchNorm2d without affine, ReLU, MaxPool2d(2, ceil mode)',
    (C) => [
      new BatchNorm2d(C, { affine: false }),
      new ReLU(),
      new MaxPool2d(2, { ceilMode: true }),
    ],
  ],
];

describe('BatchNorm + max pooling in one pass', () => {
  after(() => {
    nk.setBackend('wasm');
    nk.setNumThreads(2);
    setGrainScale(1);
  });

  for (const backend of ['wasm', 'js'] as const) {
    for (const [name, build] of stacks) {
      it(`${name} (${backend}): the bits of the layers run one by one`, () => {
        nk.setBackend(backend);
        for (const shape of [
          [5, 3, 7, 9],
          [4, 4, 8, 8],
          [2, 3, 28, 28],
        ]) {
          for (const special of [true, false]) {
            same(() => build(shape[1]), input(shape, special));
            same(() => build(shape[1]), input(shape, special), false);
          }
        }
      });
    }
  }

  it('float64 (a norm without parameters or running statistics) takes the JS kernel: the same bits', () => {
    nk.setBackend('wasm');
    const x = nk.randn([4, 3, 6, 6], { dtype: 'float64' });
    const build = () => [
      new BatchNorm2d(3, { affine: false, trackRunningStats: false }),
      new ReLU(),
      new MaxPool2d(2),
    ];
    same(build, x);
  });

  it('gives the same bits at 1, 2 and 3 threads', () => {
    nk.setBackend('wasm');
    setGrainScale(0);
    const x = input([6, 7, 12, 10]);
    for (const threads of [1, 2, 3]) {
      nk.setNumThreads(threads);
      same(() => [new BatchNorm2d(7), new ReLU(), new MaxPool2d(2)], x);
    }
  });

  it('falls back to the layers one by one where the pass does not apply', () => {
    nk.setBackend('wasm');
    nk.setNumThreads(2);
    const x = input([5, 3, 6, 6]);
    const cases: [string, () => Module[]][] = [
      ['eval mode', () => [new BatchNorm2d(3).eval(), new ReLU(), new MaxPool2d(2)]],
      [
        'ghost batches',
        () => [new BatchNorm2d(3, { virtualBatchSize: 2 }), new ReLU(), new MaxPool2d(2)],
      ],
      [
        // x [5, 3, 6, 6] read as [N, H, W, C]: the pool then runs over its last two dims.
        'channels last (Keras convention)',
        () => [new BatchNorm2d(6, { convention: 'keras' }), new ReLU(), new MaxPool2d(2)],
      ],
      [
        'Batch Renormalization (r and d not 1 and 0)',
        () => [new BatchRenorm2d(3, { rMax: 3, dMax: 5 }), new ReLU(), new MaxPool2d(2)],
      ],
    ];
    for (const [name, build] of cases) {
      try {
        same(build, x);
      } catch (e) {
        throw new Error(`${name}: ${(e as Error).message}`);
      }
    }
  });

  it('never stores the full-size output: a forward makes a full tensor less', () => {
    nk.setBackend('wasm');
    const x = input([16, 8, 32, 32]);
    // Bytes the forward made (tidy frees them after): what a training step holds until its
    // backward.
    const made = (oneByOne: boolean) => {
      nk.manualSeed(1);
      const m = new Sequential(new BatchNorm2d(8), new ReLU(), new MaxPool2d(2));
      return nk.tidy(() => {
        const before = nk.memoryStats().bytesInUse;
        let y: Tensor = x;
        if (oneByOne) for (const l of m.layers) y = l.call(y);
        else y = m.call(x);
        return nk.memoryStats().bytesInUse - before;
      });
    };
    const full = 16 * 8 * 32 * 32 * 4;
    const [plain, fused] = [made(true), made(false)];
    assert.ok(plain - fused >= full, `one by one ${plain} bytes, fused ${fused}`);
  });
});

describe('Layers whose forward is overridden are never fused', () => {
  it('a subclass of ReLU, MaxPool2d or Conv2d that overrides forward runs as written', () => {
    nk.setBackend('wasm');
    class HalfPool extends MaxPool2d {
      override forward(x: Tensor): Tensor {
        return nk.mul(super.forward(x), 0.5);
      }
    }
    class LeakyOne extends ReLU {
      override forward(x: Tensor): Tensor {
        return nk.leakyRelu(x, 0.1);
      }
    }
    const x = input([4, 3, 6, 6], false);
    same(() => [new BatchNorm2d(3), new ReLU(), new HalfPool(2)], x);
    same(() => [new BatchNorm2d(3), new LeakyOne(), new MaxPool2d(2)], x);
    same(() => [new BatchNorm2d(3), new LeakyOne()], x);
    // Conv2d + eval BatchNorm fold under noGrad, unless the convolution is not Conv2d's own.
    class Doubled extends Conv2d {
      override forward(x: Tensor): Tensor {
        return nk.mul(super.forward(x), 2);
      }
    }
    // (An output this much larger than the weight would be folded.)
    same(
      () => [new Doubled(3, 4, 3), new BatchNorm2d(4).eval()],
      input([8, 3, 16, 16], false),
      false,
    );
  });
});
