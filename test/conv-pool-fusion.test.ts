// A convolution followed by max pooling (after a ReLU or not) where no gradient is recorded:
// one kernel call whose WASM passes pool each image's output from cache (im2col and Winograd
// paths), the full output never stored. It must give the bits of the ops run one by one, and
// in a Sequential (eval BatchNorm folded in, foldBatchNorm's Identity skipped) those of the
// layers run one by one.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { setGrainScale } from '../src/kernels/wasm/threads.js';
import {
  BatchNorm2d,
  Conv2d,
  Identity,
  MaxPool2d,
  type Module,
  ReLU,
  Sequential,
} from '../src/nn/index.js';
import type { Pool2dOptions } from '../src/ops/pool.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { assertClose } from './helpers.js';

after(() => {
  nk.setBackend('wasm');
  nk.setNumThreads(1);
  setGrainScale(1);
});

/** Normal values, with a NaN, a −0 and a run of equal values in the first image. */
function input(shape: number[]): Tensor {
  nk.manualSeed(9);
  const x = nk.randn(shape);
  x.data[5] = NaN;
  x.data[17] = -0;
  x.data.fill(0.25, 30, 40);
  return x;
}

/** y of the fused op and of the three ops apart: the same bits (deepEqual tells −0 from +0). */
function sameAsApart(
  x: Tensor,
  cout: number,
  kernel: number,
  conv: nk.Conv2dOptions,
  pool: [number | [number, number], Pool2dOptions],
  relu: boolean,
): void {
  nk.manualSeed(2);
  const w = nk.cast(nk.randn([cout, x.shape[1], kernel, kernel]), x.dtype);
  const b = nk.cast(nk.randn([cout]), x.dtype);
  const [kernelSize, options] = pool;
  const fused = nk.noGrad(() => nk.conv2dMaxPool(x, w, b, conv, { kernelSize, options }, relu));
  const apart = nk.noGrad(() => {
    const y = nk.maxPool2d(nk.conv2d(x, w, b, conv), kernelSize, options);
    return relu ? nk.relu(y) : y;
  });
  assert.deepEqual(fused.shape, apart.shape);
  assert.deepEqual(Array.from(fused.data), Array.from(apart.data));
  if (relu)
    assert.ok(
      fused.data.some((v) => v === 0),
      'the ReLU clipped something',
    );
  assert.ok(fused.data.some((v) => v < 0) === !relu, 'negative outputs only without the ReLU');
}

describe('conv2dMaxPool equals conv2d, maxPool2d and relu run apart, bit for bit', () => {
  const pools: [number | [number, number], Pool2dOptions][] = [
    [2, {}],
    [3, { stride: 2, padding: 1 }],
    [[2, 3], { stride: 1, ceilMode: true }],
  ];
  // [label, input shape, out channels, kernel, conv options]: Winograd takes 3x3 stride-1
  // layers of at least 16 channels; the second is an image of more tiles than a block (its
  // tile rows go by blocks); the last two take im2col.
  const layers: [string, number[], number, number, nk.Conv2dOptions][] = [
    [
      'Winograd, 5 images of 14x14 (blocks of whole images)',
      [7, 16, 14, 14],
      24,
      3,
      { padding: 1 },
    ],
    ['Winograd, image by row blocks', [2, 16, 64, 62], 16, 3, { padding: 1 }],
    [
      'Winograd, odd output 13x11 (a half tile row and column outside the windows)',
      [3, 16, 13, 11],
      16,
      3,
      { padding: 1 },
    ],
    ['im2col, one input channel', [5, 1, 13, 11], 8, 3, { padding: 1 }],
    ['im2col, stride 2', [3, 6, 15, 16], 5, 3, { stride: 2 }],
  ];
  for (const backend of ['wasm', 'js'] as const)
    for (const [label, shape, cout, kernel, conv] of layers)
      it(`${backend}: ${label}`, () => {
        nk.setBackend(backend);
        const x = input(shape);
        for (const threads of backend === 'wasm' ? [1, 2, 3] : [1]) {
          nk.setNumThreads(threads);
          setGrainScale(threads > 1 ? 0 : 1); // every thread takes part, even on small work
          for (const pool of pools)
            for (const relu of [false, true]) sameAsApart(x, cout, kernel, conv, pool, relu);
        }
      });

  it('float64 (the composed path on either backend): the bits of the ops apart', () => {
    for (const backend of ['wasm', 'js'] as const) {
      nk.setBackend(backend);
      sameAsApart(nk.cast(input([3, 16, 9, 10]), 'float64'), 8, 3, { padding: 1 }, [2, {}], true);
    }
  });

  it('records a gradient as the three ops do when one is needed', () => {
    nk.setBackend('wasm');
    const x = input([2, 3, 8, 8]);
    const w = nk.randn([4, 3, 3, 3], { requiresGrad: true });
    const y = nk.conv2dMaxPool(x, w, null, { padding: 1 }, { kernelSize: 2 }, true);
    nk.sum(nk.mul(y, y)).backward();
    const want = nk.relu(nk.maxPool2d(nk.conv2d(x, w, null, { padding: 1 }), 2));
    assert.deepEqual(Array.from(y.data), Array.from(want.data));
    assert.ok(w.grad !== null && w.grad.data.some((v) => v !== 0));
  });

  it('checks its arguments as conv2d and maxPool2d do', () => {
    const x = nk.randn([1, 2, 4, 4]);
    assert.throws(
      () => nk.conv2dMaxPool(x, nk.randn([3, 5, 3, 3]), null, {}, { kernelSize: 2 }),
      /conv2d: expected input \[N, 5, H, W\], got \[1, 2, 4, 4\]/,
    );
    assert.throws(
      () => nk.conv2dMaxPool(x, nk.randn([3, 2, 3, 3]), null, {}, { kernelSize: 3 }),
      /maxPool2d: input \[1, 3, 2, 2\] is smaller than kernel \[3, 3\]/,
    );
  });
});

/** Counts the calls of m's own call() (runLayers calls it for a layer it does not fuse). */
function countCalls(m: Module): () => number {
  let calls = 0;
  const call = m.call.bind(m);
  m.call = (x: Tensor) => (calls++, call(x));
  return () => calls;
}

describe('Conv2d, eval BatchNorm2d, ReLU and MaxPool2d in a Sequential under noGrad', () => {
  /** The model after a few training steps, so that its running statistics are not 0 and 1. */
  function model(build: () => Module[]): Sequential {
    nk.manualSeed(4);
    const m = new Sequential(...build());
    nk.tidy(() => {
      for (let i = 0; i < 3; i++) m.call(nk.add(nk.mul(nk.randn([6, 16, 14, 14]), 3), 1));
    });
    return m.eval();
  }
  const chains: [string, () => Module[]][] = [
    [
      'conv, BN, ReLU, pool',
      () => [
        new Conv2d(16, 32, 3, { padding: 1 }),
        new BatchNorm2d(32),
        new ReLU(),
        new MaxPool2d(2),
      ],
    ],
    [
      'conv, BN, pool',
      () => [new Conv2d(16, 8, 3, { padding: 1 }), new BatchNorm2d(8), new MaxPool2d(2)],
    ],
    ['conv, ReLU, pool (no norm)', () => [new Conv2d(16, 8, 3), new ReLU(), new MaxPool2d(2)]],
  ];
  for (const backend of ['wasm', 'js'] as const)
    for (const [label, build] of chains)
      it(`${backend}, ${label}: the bits of the convolution with the norm folded, then the rest one by one`, () => {
        nk.setBackend(backend);
        const m = model(build);
        // Large enough that folding pays (Conv2d.fuseWith's FOLD_RATIO).
        const x = input([8, 16, 14, 14]);
        const pool = m.layers[m.layers.length - 1];
        const poolCalls = countCalls(pool);
        const fused = nk.noGrad(() => m.call(x));
        assert.equal(poolCalls(), 0, 'the pool ran in the convolution');
        // The pool hooked runs on its own: what the chain gives without this fusion (the
        // convolution still folds the norm in, as it did before it).
        const handle = pool.registerForwardHook(() => undefined);
        const apart = nk.noGrad(() => m.call(x));
        handle.remove();
        assert.deepEqual(Array.from(fused.data), Array.from(apart.data));
        // And close to the layers one by one, the norm unfolded.
        let y: Tensor = x;
        nk.noGrad(() => m.layers.forEach((l) => (y = l.call(y))));
        assertClose(fused.data, y.data, { rtol: 1e-4, atol: 1e-4, what: 'fused vs one by one' });
      });

  it("foldBatchNorm's model (an Identity where each norm was): the bits of its layers one by one", () => {
    nk.setBackend('wasm');
    const m = model(() => [
      new Conv2d(16, 16, 3, { padding: 1 }),
      new BatchNorm2d(16),
      new ReLU(),
      new MaxPool2d(2),
    ]);
    const folded = nk.foldBatchNorm(m).model as Sequential;
    assert.ok(folded.layers[1] instanceof Identity);
    const x = input([3, 16, 14, 14]);
    const identityCalls = countCalls(folded.layers[1]);
    const fused = nk.noGrad(() => folded.call(x));
    assert.equal(identityCalls(), 0, 'the Identity, ReLU and pool ran in the convolution');
    let y: Tensor = x;
    nk.noGrad(() => folded.layers.forEach((l) => (y = l.call(y))));
    assert.deepEqual(Array.from(fused.data), Array.from(y.data));
  });

  it('with gradients recorded, nothing fuses: the output has a graph', () => {
    nk.setBackend('wasm');
    const m = model(() => [new Conv2d(16, 8, 3), new ReLU(), new MaxPool2d(2)]);
    const y = m.call(input([2, 16, 14, 14]));
    assert.ok(y.requiresGrad);
  });
});
