// BatchNorm1d/2d: train/eval sequences against PyTorch, and the error cases.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { assertClose, fixture } from './helpers.js';

const { nn } = nk;
const fx = fixture('foundation.json');

describe('BatchNorm matches PyTorch over train/eval sequences', () => {
  for (const rec of fx.batchnorm) {
    const name = `${rec.cls} ${JSON.stringify(rec.shape)} momentum=${rec.momentum} affine=${rec.affine} track=${rec.track}`;
    it(name, () => {
      const C = rec.shape[1];
      const Ctor = rec.cls === 'BatchNorm1d' ? nn.BatchNorm1d : nn.BatchNorm2d;
      const m = new Ctor(C, {
        momentum: rec.momentum,
        affine: rec.affine,
        trackRunningStats: rec.track,
      });
      if (rec.affine) {
        m.weight!.data.set(rec.weight);
        m.bias!.data.set(rec.bias);
      }
      rec.steps.forEach((s: any, i: number) => {
        m.train(s.training);
        const x = nk.tensor(s.x, rec.shape, { requiresGrad: true });
        const y = m.call(x);
        assertClose(y.data, s.y, { rtol: 1e-5, atol: 1e-5, what: `step ${i} output` });
        y.mul(nk.tensor(s.w, rec.shape)).sum().backward();
        assertClose(x.grad!.data, s.dx, { rtol: 1e-4, atol: 1e-4, what: `step ${i} dx` });
        if (rec.affine) {
          assertClose(m.weight!.grad!.data, s.dweight, {
            rtol: 1e-4,
            atol: 1e-4,
            what: `step ${i} dweight`,
          });
          assertClose(m.bias!.grad!.data, s.dbias, {
            rtol: 1e-4,
            atol: 1e-4,
            what: `step ${i} dbias`,
          });
          m.zeroGrad();
        }
        if (rec.track) {
          assertClose(m.runningMean!.data, s.running_mean, {
            rtol: 1e-5,
            atol: 1e-6,
            what: `step ${i} running_mean`,
          });
          assertClose(m.runningVar!.data, s.running_var, {
            rtol: 1e-5,
            atol: 1e-6,
            what: `step ${i} running_var`,
          });
          assert.equal(m.numBatchesTracked, s.num_batches_tracked);
        }
      });
    });
  }
});

describe('BatchNorm errors leave state untouched', () => {
  function snapshot(m: nk.nn.BatchNormBase) {
    return [Array.from(m.runningMean!.data), Array.from(m.runningVar!.data), m.numBatchesTracked];
  }

  it('a batch of one value per channel in training', () => {
    const m = new nn.BatchNorm1d(3);
    m.call(nk.randn([4, 3]));
    const before = snapshot(m);
    assert.throws(
      () => m.call(nk.randn([1, 3])),
      /BatchNorm1d\(3\): Expected more than 1 value per channel when training, got input size \[1, 3\]/,
    );
    assert.deepEqual(snapshot(m), before);
    m.eval();
    assert.equal(m.call(nk.randn([1, 3])).shape.join(), '1,3'); // eval uses running stats: fine
  });

  it('wrong rank or channel count names the layer and shapes', () => {
    const m = new nn.BatchNorm2d(3);
    const before = snapshot(m);
    assert.throws(
      () => m.call(nk.randn([8, 3, 28])),
      /BatchNorm2d\(3\): expected input \[N, 3, H, W\], got \[8, 3, 28\]/,
    );
    assert.throws(
      () => m.call(nk.randn([8, 1, 28, 28])),
      /expected input \[N, 3, H, W\], got \[8, 1, 28, 28\]/,
    );
    assert.deepEqual(snapshot(m), before);
  });

  it('bad constructor arguments', () => {
    assert.throws(() => new nn.BatchNorm2d(0), /numFeatures to be a positive integer, got 0/);
    assert.throws(() => new nn.BatchNorm2d(3, { eps: 0 }), /expected eps > 0, got 0/);
    assert.throws(
      () => new nn.BatchNorm2d(3, { momentum: 2 }),
      /momentum in \[0, 1\] or null, got 2/,
    );
  });

  it('a constant channel gives finite output equal to beta', () => {
    const m = new nn.BatchNorm2d(2);
    m.bias!.data.set([0.5, -1]);
    const x = nk.concat([nk.full([4, 1, 3, 3], 7), nk.randn([4, 1, 3, 3])], 1);
    const y = m.call(x).toArray();
    for (let n = 0; n < 4; n++) for (let i = 0; i < 9; i++) assert.equal(y[n * 18 + i], 0.5);
  });

  it('large mean, small spread (1e4 + N(0, 1)) normalizes accurately in float32', () => {
    const m = new nn.BatchNorm1d(1);
    const x64 = nk.randn([256, 1], { dtype: 'float64' }).add(1e4);
    const y = m.call(x64.to('float32')).toArray();
    const X = Array.from(x64.to('float32').to('float64').data);
    const mean = X.reduce((a, b) => a + b, 0) / X.length;
    const v = X.reduce((a, b) => a + (b - mean) ** 2, 0) / X.length;
    const ref = X.map((a) => (a - mean) / Math.sqrt(v + 1e-5));
    assertClose(y, ref, { atol: 1e-3, rtol: 0 });
  });
});
