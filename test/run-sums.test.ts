// BatchNorm's moments from the convolution before it (src/kernels/run-sums.ts): in a
// Sequential, a Conv2d followed by a training BatchNorm hands the norm the sums of each output
// plane, and the norm must give the very bits it gives when it reads them itself.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { runSumsTaken } from '../src/kernels/run-sums.js';
import { setGrainScale } from '../src/kernels/wasm/threads.js';
import { BatchNorm2d, Conv2d, MaxPool2d, ReLU, Sequential } from '../src/nn/index.js';
import type { Tensor } from '../src/tensor/tensor.js';

/** Output, every parameter's gradient, the input's gradient and every buffer, as arrays. */
function trainStep(model: Sequential, x0: Tensor, layerByLayer: boolean): number[][] {
  const x = nk.clone(x0);
  x.requiresGrad = true;
  let y: Tensor = x;
  if (layerByLayer) for (const l of model.layers) y = l.call(y);
  else y = model.call(x);
  // A loss whose gradient differs from place to place, so every backward pass is exercised.
  nk.sum(nk.mul(y, y)).backward();
  return [
    Array.from(y.data),
    Array.from(x.grad!.data),
    ...model.parameters().map((p) => Array.from(p.grad!.data)),
    ...model.buffers().map((b) => Array.from(b.data)),
  ];
}

/** Two fresh copies of a model built from seed 1, run once each way. */
function compare(build: () => Sequential, x: Tensor): { taken: number } {
  nk.manualSeed(1);
  const a = build();
  nk.manualSeed(1);
  const b = build();
  const before = runSumsTaken();
  const fused = trainStep(a, x, false);
  const taken = runSumsTaken() - before;
  const plain = trainStep(b, x, true);
  assert.equal(runSumsTaken() - before, taken, 'the layer-by-layer run took run sums');
  assert.equal(fused.length, plain.length);
  fused.forEach((v, i) => assert.deepEqual(v, plain[i], `part ${i} differs`));
  return { taken };
}

/** The README CNN's feature layers: conv 1→32 goes by im2col, conv 32→64 by Winograd. */
const cnn = () =>
  new Sequential(
    new Conv2d(1, 32, 3, { padding: 1, bias: false }),
    new BatchNorm2d(32),
    new ReLU(),
    new MaxPool2d(2),
    new Conv2d(32, 64, 3, { padding: 1 }),
    new BatchNorm2d(64),
    new ReLU(),
    new MaxPool2d(2),
    new Conv2d(64, 16, 3, { stride: 2, padding: 1 }),
    new BatchNorm2d(16),
  );

/** A 1x1 convolution by the identity: its output is its input, bit for bit. */
function identity(C: number): Conv2d {
  const conv = new Conv2d(C, C, 1, { bias: false });
  conv.weight.data.fill(0);
  for (let c = 0; c < C; c++) conv.weight.data[c * C + c] = 1;
  return conv;
}

describe('BatchNorm statistics handed over by the convolution before it', () => {
  after(() => {
    nk.setBackend('wasm');
    nk.setNumThreads(2);
    setGrainScale(1);
  });

  it('gives the same outputs, gradients and running statistics, at 1, 2 and 3 threads', () => {
    nk.setBackend('wasm');
    setGrainScale(0);
    nk.manualSeed(3);
    const x = nk.add(nk.mul(nk.randn([6, 1, 28, 28]), 3), 1);
    for (const threads of [1, 2, 3]) {
      nk.setNumThreads(threads);
      assert.equal(compare(cnn, x).taken, 3, `${threads} threads: not every pair handed over`);
    }
  });

  it('gives the same bits on runs that need the two-pass redo, constant and far from 0', () => {
    nk.setBackend('wasm');
    nk.setNumThreads(2);
    setGrainScale(0);
    // Planes of 35 floats (tails past the SIMD blocks) and 81 (a whole 64-float block).
    for (const [H, W] of [
      [5, 7],
      [9, 9],
    ]) {
      nk.manualSeed(5);
      const x = nk.randn([3, 5, H, W]);
      const X = x.data,
        plane = H * W;
      X[0 * plane] = 100; // image 0, channel 0: its pivot 4σ and more from the mean
      X.fill(2.5, 1 * plane, 2 * plane); // channel 1 of image 0: constant
      for (let n = 0; n < 3; n++) X.fill(-7, (n * 5 + 2) * plane, (n * 5 + 3) * plane);
      for (let i = 3 * plane; i < 4 * plane; i++) X[i] += 1e4; // channel 3: mean far from 0
      const build = () => new Sequential(identity(5), new BatchNorm2d(5));
      assert.equal(compare(build, x).taken, 1, `${H}x${W}: not handed over`);
    }
  });

  it('is not handed over when something could come between, or nothing would take it', () => {
    nk.setBackend('wasm');
    nk.setNumThreads(2);
    nk.manualSeed(4);
    const x = nk.randn([4, 3, 6, 6]);
    const cases: [string, () => Sequential][] = [
      [
        'a forward hook on the convolution',
        () => {
          const conv = new Conv2d(3, 8, 3);
          conv.registerForwardHook((_m, _i, y) => nk.mul(y, 2));
          return new Sequential(conv, new BatchNorm2d(8));
        },
      ],
      [
        'ghost batches',
        () => new Sequential(new Conv2d(3, 8, 3), new BatchNorm2d(8, { virtualBatchSize: 2 })),
      ],
      ['eval mode', () => new Sequential(new Conv2d(3, 8, 3), new BatchNorm2d(8)).eval()],
      [
        'a layer between',
        () => new Sequential(new Conv2d(3, 8, 3), new ReLU(), new BatchNorm2d(8)),
      ],
    ];
    for (const [name, build] of cases) {
      const before = runSumsTaken();
      nk.noGrad(() => build().call(x));
      assert.equal(runSumsTaken(), before, name);
    }
    // The JS backend's convolution takes no sums; its BatchNorm computes its own.
    nk.setBackend('js');
    const before = runSumsTaken();
    compare(() => new Sequential(new Conv2d(3, 8, 3), new BatchNorm2d(8)), x);
    assert.equal(runSumsTaken(), before, 'js backend');
  });
});
