// backward() frees each gradient once nothing needs it, and lets a node write its input's
// gradient over a dy that only it holds (the norms' and pointwise gradients' intoDy).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import * as nk from '../src/index.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { assertClose } from './helpers.js';

const backends = ['wasm', 'js'] as const;

/** Ops whose gradient takes a donated dy, with inputs of odd and long shapes. */
const cases: [string, number[], (x: Tensor) => Tensor][] = [
  [
    'BatchNorm2d + fused ReLU',
    [5, 3, 7, 9],
    (x) =>
      nk.batchNorm(x, null, null, nk.randn([3]), nk.randn([3]), { training: true, relu: true }),
  ],
  [
    'BatchNorm2d',
    [4, 6, 5, 3],
    (x) => nk.batchNorm(x, null, null, nk.randn([6]), nk.randn([6]), { training: true }),
  ],
  [
    'BatchNorm1d on columns + fused ReLU',
    [37, 10],
    (x) => nk.batchNorm(x, null, null, null, null, { training: true, relu: true }),
  ],
  ['GroupNorm', [3, 6, 5, 7], (x) => nk.groupNorm(x, 3, nk.randn([6]), nk.randn([6]))],
  ['LayerNorm (short rows)', [9, 13], (x) => nk.layerNorm(x, [13], nk.randn([13]), nk.randn([13]))],
  [
    'LayerNorm (rows longer than the chunked path needs)',
    [3, 8200],
    (x) => nk.layerNorm(x, [8200], nk.randn([8200]), nk.randn([8200])),
  ],
  ['RMSNorm', [7, 11], (x) => nk.rmsNorm(x, [11], nk.randn([11]))],
  ['ReLU', [6, 17], (x) => nk.relu(x)],
  ['GELU', [6, 17], (x) => nk.gelu(x)],
];

describe('gradient donation (intoDy)', () => {
  after(() => nk.setBackend('wasm'));
  for (const backend of backends) {
    for (const [name, shape, f] of cases) {
      it(`${name} (${backend}): dx written over a donated dy equals dx in a fresh tensor`, () => {
        nk.setBackend(backend);
        nk.manualSeed(7);
        nk.tidy(() => {
          const x = nk.randn(shape);
          x.requiresGrad = true;
          const y = f(x);
          const dy = nk.randn(y.shape);
          const fresh = y.gradFn!.backward(nk.clone(dy), false);
          const given = nk.clone(dy);
          const donated = y.gradFn!.backward(given, true);
          assert.equal(donated[0]!.sharedStorage, given.sharedStorage, 'dx is not over dy');
          assert.notEqual(fresh[0]!.sharedStorage, donated[0]!.sharedStorage);
          fresh.forEach((g, i) => {
            if (g === null) return assert.equal(donated[i], null);
            assert.deepEqual(Array.from(donated[i]!.data), Array.from(g.data), `input ${i}`);
          });
        });
      });
    }
  }

  /** A conv / BN+ReLU / pool / GroupNorm / GELU / LayerNorm / linear network's gradients. */
  function grads(hookEverything: boolean): Float32Array[] {
    nk.manualSeed(3);
    const model = new nk.nn.Sequential(
      new nk.nn.Conv2d(2, 4, 3, { padding: 1 }),
      new nk.nn.BatchNorm2d(4),
      new nk.nn.ReLU(),
      new nk.nn.MaxPool2d(2),
      new nk.nn.GroupNorm(2, 4),
      new nk.nn.GELU(),
      new nk.nn.Flatten(),
      new nk.nn.LayerNorm([36]),
      new nk.nn.Linear(36, 5),
    );
    const x = nk.randn([6, 2, 6, 6]);
    x.requiresGrad = true;
    nk.tidy(() => {
      let h = x;
      for (const [, m] of model.namedChildren()) {
        h = m.call(h);
        // A hook sees the gradient, so backward() neither frees nor donates it.
        if (hookEverything) h.registerHook(() => undefined);
      }
      nk.crossEntropy(h, [0, 1, 2, 3, 4, 0]).backward();
    });
    return [x, ...model.parameters()].map((p) => p.grad!.toArray() as Float32Array);
  }

  it('gives the same gradients, bit for bit, as a backward that donates and frees nothing', () => {
    const plain = grads(false),
      hooked = grads(true);
    assert.equal(plain.length, hooked.length);
    plain.forEach((g, i) => assert.deepEqual(Array.from(g), Array.from(hooked[i])));
  });

  it('fan-out and retainGraph: two backward passes give the gradients of an undonated one', () => {
    const run = (hooked: boolean, passes: number) => {
      nk.manualSeed(11);
      const bn = new nk.nn.BatchNorm2d(3);
      const gn = new nk.nn.GroupNorm(1, 3);
      const x = nk.randn([4, 3, 5, 5]);
      x.requiresGrad = true;
      return nk.tidy(() => {
        const y = nk.relu(bn.call(x));
        if (hooked) y.registerHook(() => undefined);
        // y feeds two branches: its gradient is a sum, then donated to BatchNorm's backward.
        const loss = nk.sum(nk.mul(y, y)).add(nk.sum(nk.gelu(gn.call(y))));
        for (let i = 0; i < passes; i++) loss.backward(undefined, { retainGraph: true });
        return [x, ...bn.parameters(), ...gn.parameters()].map((p) => Array.from(p.grad!.data));
      });
    };
    const reference = run(true, 1);
    // Gradients accumulate over passes: the second pass adds the same values again.
    const twice = run(false, 2);
    run(false, 1).forEach((g, i) => assert.deepEqual(g, reference[i]));
    twice.forEach((g, i) =>
      assertClose(
        g,
        reference[i].map((v) => 2 * v),
        { rtol: 1e-6, atol: 1e-6, what: `grad ${i}` },
      ),
    );
  });

  it('frees each gradient once used: a deep chain backs up in a few gradients of memory', () => {
    const width = 4096,
      depth = 24,
      bytes = 64 * width * 4;
    const ws = Array.from({ length: depth }, () =>
      nk.keep(nk.randn([width], { dtype: 'float32' })),
    );
    const x = nk.keep(nk.randn([64, width]));
    x.requiresGrad = true;
    let peak = 0;
    nk.tidy(() => {
      let h = x;
      for (const w of ws) h = nk.relu(nk.mul(h, w));
      // Hooks on x run last, when every layer's gradient has been computed.
      x.registerHook(() => void (peak = nk.memoryStats().bytesInUse));
      const before = nk.memoryStats().bytesInUse;
      nk.sum(h).backward();
      peak -= before;
    });
    // Every layer's gradient kept would be about 2 · depth · bytes; freed as used, a few.
    assert.ok(peak < 6 * bytes, `backward held ${(peak / bytes).toFixed(1)} gradients`);
    assert.ok(peak > 0);
    x.grad = null;
    for (const w of ws) w.dispose();
    x.dispose();
  });
});
