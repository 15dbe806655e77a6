// Bad and edge-case inputs to tensors and layers: refused with errors that name the layer,
// the argument and the shapes, before any state changes; or, where PyTorch accepts them
// (an empty batch, padding holding NaN), handled without touching state.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';

const { nn } = nk;

function state(m: nk.nn.Module): Record<string, number[]> {
  return Object.fromEntries(Object.entries(m.stateDict()).map(([k, t]) => [k, Array.from(t.data)]));
}

describe('bad inputs to tensors and layers', () => {
  it('tensors hold float32 or float64 and refuse any other dtype', () => {
    for (const dtype of ['int32', 'foo']) {
      assert.throws(
        () => nk.tensor([1, 2, 3], undefined, { dtype: dtype as nk.DType }),
        new RegExp(`expected dtype 'float32' or 'float64', got "${dtype}"`),
      );
      assert.throws(() => nk.zeros([2], { dtype: dtype as nk.DType }), /expected dtype/);
    }
    assert.equal(nk.tensor([1.5], undefined, { dtype: 'float64' }).data[0], 1.5);
  });

  it('a norm layer refuses an input of another dtype before any statistic moves', () => {
    const x64 = nk.randn([4, 3, 5], { dtype: 'float64' });
    const layers: [nk.nn.Module, RegExp][] = [
      [
        new nn.BatchNorm1d(3),
        /^Error: BatchNorm1d\(3\): expected a float32 input \(the layer's parameters are float32\), got float64 \[4, 3, 5\]; convert with x\.to\('float32'\)$/,
      ],
      [
        new nn.BatchNorm1d(3, { affine: false }),
        /BatchNorm1d\(3, affine=false\): expected a float32 input/,
      ],
      [
        new nn.InstanceNorm1d(3, { trackRunningStats: true }),
        /InstanceNorm1d\(3, trackRunningStats=true\): expected a float32 input/,
      ],
      [new nn.GroupNorm(1, 3), /GroupNorm\(1, 3\): expected a float32 input/],
      [new nn.LayerNorm(5), /LayerNorm\(\[5\]\): expected a float32 input/],
      [new nn.RMSNorm(5), /RMSNorm\(\[5\]\): expected a float32 input/],
      [new nn.BatchRenorm1d(3), /BatchRenorm1d\(3\): expected a float32 input/],
    ];
    for (const [m, err] of layers) {
      const before = state(m);
      assert.throws(() => m.call(x64), err);
      assert.deepEqual(state(m), before);
    }
    const masked = new nn.MaskedBatchNorm1d(3);
    assert.throws(
      () => masked.call(x64, nk.ones([4, 5])),
      /MaskedBatchNorm1d\(3\): expected a float32 input/,
    );
    assert.equal(masked.numBatchesTracked, 0);
  });

  it('an empty batch gives an empty result and changes no state', () => {
    const cases: [nk.nn.Module, number[]][] = [
      [new nn.BatchNorm1d(3), [0, 3]],
      [new nn.BatchNorm2d(3, { momentum: null }), [0, 3, 4, 4]],
      [new nn.BatchNorm2d(3, { convention: 'keras' }), [0, 4, 4, 3]],
      [new nn.InstanceNorm1d(3, { trackRunningStats: true }), [0, 3, 5]],
    ];
    for (const [m, shape] of cases) {
      const before = state(m);
      const y = m.call(nk.zeros(shape));
      assert.deepEqual(y.shape, shape);
      assert.deepEqual(state(m), before, m.describe());
      m.eval();
      assert.deepEqual(m.call(nk.zeros(shape)).shape, shape);
    }
    const masked = new nn.MaskedBatchNorm1d(3);
    assert.deepEqual(masked.call(nk.zeros([0, 3, 4]), nk.zeros([0, 4])).shape, [0, 3, 4]);
    assert.equal(masked.numBatchesTracked, 0);
  });

  it('MaskedBatchNorm1d: NaN, Inf or 1e30 in padded positions influence nothing', () => {
    nk.manualSeed(5);
    const x = nk.randn([2, 3, 4], { mean: 1 });
    const mask = nk.tensor([1, 1, 1, 0, 1, 1, 0, 0], [2, 4]);
    const run = (pad: number) => {
      const xp = x.toArray();
      for (let n = 0; n < 2; n++)
        for (let c = 0; c < 3; c++)
          for (let l = 0; l < 4; l++) if (mask.data[n * 4 + l] === 0) xp[n * 12 + c * 4 + l] = pad;
      const xt = nk.tensor(xp, [2, 3, 4], { requiresGrad: true });
      const m = new nn.MaskedBatchNorm1d(3);
      const y = m.call(xt, mask);
      y.mul(nk.arange(24).reshape([2, 3, 4]))
        .sum()
        .backward();
      m.eval();
      const ye = m.call(xt, mask);
      return [
        y.toArray(),
        xt.grad!.toArray(),
        m.runningMean!.toArray(),
        m.runningVar!.toArray(),
        ye.toArray(),
        m.weight!.grad!.toArray(),
      ];
    };
    const clean = run(0);
    for (const part of clean) assert.ok(Array.from(part).every(Number.isFinite));
    for (const pad of [NaN, Infinity, -Infinity, 1e30]) {
      run(pad).forEach((part, i) =>
        assert.deepEqual(Array.from(part), Array.from(clean[i]), `pad ${pad}, part ${i}`),
      );
    }
    // Padded positions get no gradient.
    const g = clean[1];
    assert.equal(g[3], 0);
    assert.equal(g[12 + 2], 0);
  });

  it('error messages name the layer and fill in the numbers', () => {
    assert.throws(
      () => new nn.BatchNorm1d(3).call(nk.randn([2, 4])),
      /^Error: BatchNorm1d\(3\): expected input \[N, 3\] or \[N, 3, L\], got \[2, 4\]$/,
    );
    assert.throws(
      () => new nn.BatchNorm1d(3, { convention: 'keras' }).call(nk.randn([2, 5, 4])),
      /expected input \[N, 3\] or \[N, L, 3\], got \[2, 5, 4\]/,
    );
    const ghost = new nn.BatchNorm1d(3, { virtualBatchSize: 4 });
    assert.throws(
      () => ghost.call(nk.randn([9, 3])),
      /BatchNorm1d\(3\): Expected more than 1 value per channel when training: input \[9, 3\] in ghost batches of virtualBatchSize 4 leaves a last ghost batch of 1 sample/,
    );
    assert.equal(ghost.numBatchesTracked, 0);
    assert.equal(ghost.call(nk.randn([10, 3])).shape[0], 10);
    assert.equal(
      new nn.BatchNorm2d(3, { virtualBatchSize: 4 }).call(nk.randn([9, 3, 2, 2])).shape[0],
      9,
    );
    assert.throws(
      () => new nn.GroupNorm(2, -4),
      /^Error: GroupNorm: expected numGroups and numChannels of positive integers, got \[2, -4\]$/,
    );
    assert.throws(
      () => new nn.GroupNorm(0, 4),
      /GroupNorm: expected numGroups and numChannels of positive integers, got \[0, 4\]/,
    );
    assert.throws(() => new nn.GroupNorm(3, 4), /numChannels 4 to be divisible by numGroups 3/);
    assert.throws(
      () => new nn.LayerNorm([4, -1]),
      /LayerNorm: expected normalizedShape of positive integers, got \[4, -1\]/,
    );
    assert.throws(
      () => new nn.RMSNorm(2.5),
      /RMSNorm: expected normalizedShape of positive integers, got \[2.5\]/,
    );
  });

  it('manualSeed takes integers in [0, 2^53), every bit of them, and refuses anything else', () => {
    for (const bad of [NaN, Infinity, -1, 1.5, 2 ** 53]) {
      assert.throws(
        () => nk.manualSeed(bad),
        new RegExp(`manualSeed: expected an integer in \\[0, 2\\^53\\), got ${bad}`),
      );
    }
    const draw = (seed: number) => {
      nk.manualSeed(seed);
      return [nk.rng.nextU32(), nk.rng.nextU32()];
    };
    // 32-bit seeds keep the streams they always had (normkit 0.1.0 drew these for seed 42).
    assert.deepEqual(draw(42), [2837322924, 544945897]);
    assert.notDeepEqual(draw(2 ** 32 + 42), draw(42));
    assert.notDeepEqual(draw(2 ** 40), draw(0));
    assert.notDeepEqual(draw(2 ** 52 + 1), draw(1));
  });
});
