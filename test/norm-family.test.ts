// The normalization family against PyTorch train/eval sequences (test/fixtures/gen_norms.py):
// outputs, input/weight/bias gradients, running statistics and numBatchesTracked per step.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { assertClose, fixture } from './helpers.js';

const { nn } = nk;
const fx = fixture('norms.json');

function build(cls: string, a: any): nk.nn.Module {
  switch (cls) {
    case 'BatchNorm3d':
      return new nn.BatchNorm3d(a.numFeatures, a);
    case 'InstanceNorm1d':
      return new nn.InstanceNorm1d(a.numFeatures, a);
    case 'InstanceNorm2d':
      return new nn.InstanceNorm2d(a.numFeatures, a);
    case 'InstanceNorm3d':
      return new nn.InstanceNorm3d(a.numFeatures, a);
    case 'GroupNorm':
      return new nn.GroupNorm(a.numGroups, a.numChannels, a);
    case 'LayerNorm':
      return new nn.LayerNorm(a.normalizedShape, a);
    default:
      throw new Error(cls);
  }
}

describe('the normalization family matches PyTorch', () => {
  for (const rec of fx.cases) {
    it(`${rec.cls} ${JSON.stringify(rec.shape)} ${JSON.stringify(rec.args)}`, () => {
      const m = build(rec.cls, rec.args) as any;
      if (rec.weight) {
        m.weight.data.set(rec.weight);
        if (rec.bias) m.bias.data.set(rec.bias);
      }
      rec.steps.forEach((s: any, i: number) => {
        m.train(s.training);
        const x = nk.tensor(s.x, rec.shape, { requiresGrad: true });
        const y = m.call(x);
        assertClose(y.data, s.y, { rtol: 1e-5, atol: 1e-5, what: `step ${i} output` });
        y.mul(nk.tensor(s.w, y.shape)).sum().backward();
        assertClose(x.grad!.data, s.dx, { rtol: 1e-4, atol: 1e-4, what: `step ${i} dx` });
        if (s.dweight)
          assertClose(m.weight.grad.data, s.dweight, {
            rtol: 1e-4,
            atol: 1e-4,
            what: `step ${i} dweight`,
          });
        if (s.dbias)
          assertClose(m.bias.grad.data, s.dbias, {
            rtol: 1e-4,
            atol: 1e-4,
            what: `step ${i} dbias`,
          });
        m.zeroGrad();
        if (s.running_mean) {
          assertClose(m.runningMean.data, s.running_mean, {
            rtol: 1e-5,
            atol: 1e-6,
            what: `step ${i} running_mean`,
          });
          assertClose(m.runningVar.data, s.running_var, {
            rtol: 1e-5,
            atol: 1e-6,
            what: `step ${i} running_var`,
          });
          assert.equal(m.numBatchesTracked, s.num_batches_tracked, `step ${i} num_batches_tracked`);
        }
      });
    });
  }
});

describe('family semantics beyond the fixtures', () => {
  it('InstanceNorm with momentum null never moves its running statistics', () => {
    const m = new nn.InstanceNorm2d(3, { momentum: null, trackRunningStats: true });
    m.call(nk.randn([2, 3, 4, 4], { mean: 5 }));
    assert.deepEqual(Array.from(m.runningMean!.data), [0, 0, 0]);
    assert.deepEqual(Array.from(m.runningVar!.data), [1, 1, 1]);
  });

  it('InstanceNorm refuses a single spatial element in training and names the layer', () => {
    const m = new nn.InstanceNorm1d(3, { trackRunningStats: true });
    assert.throws(
      () => m.call(nk.randn([4, 3, 1])),
      /InstanceNorm1d\(3, trackRunningStats=true\): Expected more than 1 spatial element when training, got input size \[4, 3, 1\]/,
    );
    assert.deepEqual(Array.from(m.runningMean!.data), [0, 0, 0]);
    assert.throws(
      () => m.call(nk.randn([4, 3, 5, 5])),
      /expected input \[N, 3, L\], got \[4, 3, 5, 5\]/,
    );
  });

  it('BatchNorm3d refuses other ranks', () => {
    assert.throws(
      () => new nn.BatchNorm3d(2).call(nk.randn([2, 2, 3, 3])),
      /BatchNorm3d\(2\): expected input \[N, 2, D, H, W\], got \[2, 2, 3, 3\]/,
    );
  });

  for (const offset of [1e4, 1e6]) {
    it(`every norm normalizes ${offset} + N(0, 1) in float32 to within 1e-3 of float64`, () => {
      nk.manualSeed(2);
      const x64 = nk.randn([4, 6, 5, 5], { dtype: 'float64' }).add(offset);
      const x32 = x64.to('float32');
      const exact = x32.to('float64'); // the float32 input, exactly, in float64
      // Each layer in float32, against the same norm as a float64 op (the layers refuse an
      // input of another dtype than their parameters).
      const layers: [string, () => nk.nn.Module, (x: nk.Tensor) => nk.Tensor][] = [
        [
          'BatchNorm2d',
          () => new nn.BatchNorm2d(6),
          (x) => nk.batchNorm(x, null, null, null, null, { training: true }),
        ],
        ['GroupNorm', () => new nn.GroupNorm(3, 6), (x) => nk.groupNorm(x, 3)],
        ['LayerNorm', () => new nn.LayerNorm([6, 5, 5]), (x) => nk.layerNorm(x, [6, 5, 5])],
        ['InstanceNorm2d', () => new nn.InstanceNorm2d(6), (x) => nk.instanceNorm(x)],
      ];
      for (const [name, make, reference] of layers) {
        for (const backend of ['wasm', 'js'] as const) {
          nk.setBackend(backend);
          const y32 = make().call(x32).toArray();
          nk.setBackend('js');
          const y64 = reference(exact).toArray();
          nk.setBackend('wasm');
          assertClose(y32, y64, { rtol: 0, atol: 1e-3, what: `${name} (${backend})` });
          assert.ok(y32.every(Number.isFinite), `${name} (${backend}) finite`);
        }
      }
    });
  }
});
