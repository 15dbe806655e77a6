// BatchNorm under the PyTorch, Keras and ONNX conventions, and moving state between them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { assertClose } from './helpers.js';

const { nn } = nk;

/** Eval-mode batch norm in float64, channel axis given: every framework's formula. */
function evalRef(
  x: nk.Tensor,
  axis: 1 | -1,
  mean: number[],
  variance: number[],
  w: number[],
  b: number[],
  eps: number,
): number[] {
  const X = Array.from(x.data);
  const C = mean.length;
  const inner = axis === 1 ? x.shape.slice(2).reduce((p, d) => p * d, 1) : 1;
  return X.map((v, i) => {
    const c = axis === 1 ? Math.floor(i / inner) % C : i % C;
    return ((v - mean[c]) / Math.sqrt(variance[c] + eps)) * w[c] + b[c];
  });
}

describe('conventions', () => {
  it('defaults: PyTorch, Keras and ONNX presets', () => {
    const p = new nn.BatchNorm2d(3),
      k = new nn.BatchNorm2d(3, { convention: 'keras' }),
      o = new nn.BatchNorm2d(3, { convention: 'onnx' });
    assert.deepEqual(
      [p.eps, p.momentum, p.settings.runningVariance, p.settings.channelAxis],
      [1e-5, 0.1, 'unbiased', 1],
    );
    assert.deepEqual(
      [k.eps, k.momentum, k.settings.runningVariance, k.settings.channelAxis],
      [1e-3, 0.99, 'biased', -1],
    );
    assert.deepEqual(
      [o.eps, o.momentum, o.settings.runningVariance, o.settings.channelAxis],
      [1e-5, 0.9, 'biased', 1],
    );
    assert.throws(
      () => new nn.BatchNorm2d(3, { convention: 'caffe' as any }),
      /expected convention 'pytorch', 'keras' or 'onnx', got caffe/,
    );
    assert.throws(
      () => new nn.BatchNorm2d(3, { convention: 'keras', momentum: null }),
      /momentum null .* needs momentumWeighs 'new'/,
    );
  });

  it('Keras: channels last, r = m·r + (1 − m)·batch with the biased variance, no batch-of-one check', () => {
    const bn = new nn.BatchNorm2d(2, { convention: 'keras' });
    const x = nk.randn([3, 4, 5, 2], { mean: 2 });
    const y = bn.call(x);
    assert.deepEqual(y.shape, [3, 4, 5, 2]);
    const X = Array.from(x.data);
    for (let c = 0; c < 2; c++) {
      const v = X.filter((_, i) => i % 2 === c);
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      const biased = v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length;
      assertClose(
        [bn.runningMean!.data[c], bn.runningVar!.data[c]],
        [0.01 * mean, 0.99 + 0.01 * biased],
        { rtol: 1e-5 },
      );
      // channel c of the output is normalized with the batch statistics
      const yc = Array.from(y.data).filter((_, i) => i % 2 === c);
      assertClose(
        yc,
        v.map((a) => (a - mean) / Math.sqrt(biased + 1e-3)),
        { rtol: 1e-4, atol: 1e-5 },
      );
    }
    assert.doesNotThrow(() => bn.call(nk.randn([1, 1, 1, 2])));
    assert.throws(
      () => bn.call(nk.randn([3, 2, 4, 5])),
      /BatchNorm2d\(2, convention=keras\): expected input \[N, H, W, 2\], got \[3, 2, 4, 5\]/,
    );
  });

  it('ONNX: channels first, momentum 0.9 weighs the old value, biased variance', () => {
    const bn = new nn.BatchNorm1d(3, { convention: 'onnx' });
    const x = nk.randn([6, 3]);
    bn.call(x);
    const X = Array.from(x.data);
    const v = X.filter((_, i) => i % 3 === 0);
    const mean = v.reduce((a, b) => a + b, 0) / 6;
    const biased = v.reduce((a, b) => a + (b - mean) ** 2, 0) / 6;
    assertClose(
      [bn.runningMean!.data[0], bn.runningVar!.data[0]],
      [0.1 * mean, 0.9 + 0.1 * biased],
      { rtol: 1e-5 },
    );
  });

  it('Keras state gives Keras eval outputs, and round-trips', () => {
    const k = {
      weights: {
        gamma: [1.5, -0.5],
        beta: [0.1, 0.2],
        moving_mean: [3, -1],
        moving_variance: [4, 0.25],
      },
      config: { epsilon: 1e-3, momentum: 0.99, axis: -1 },
    };
    const bn = nn.batchNormFromKeras(2, k).eval();
    const x = nk.randn([2, 3, 3, 2]);
    const ref = evalRef(x, -1, [3, -1], [4, 0.25], [1.5, -0.5], [0.1, 0.2], 1e-3);
    assertClose(bn.call(x).data, ref, { rtol: 1e-5, atol: 1e-6 });
    const back = nn.batchNormToKeras(bn);
    assertClose(back.weights.moving_variance, k.weights.moving_variance, { rtol: 0, atol: 0 });
    assert.equal(back.config.epsilon, 1e-3);
    assertClose([back.config.momentum!], [0.99], { rtol: 1e-12 });
  });

  it('PyTorch statistics moved into a Keras-convention layer give the same eval outputs', () => {
    const pt = new nn.BatchNorm2d(3);
    for (let i = 0; i < 3; i++) pt.call(nk.randn([4, 3, 5, 5], { mean: i }));
    pt.eval();
    const x = nk.randn([2, 3, 5, 5]);
    const want = pt.call(x).toArray();
    // Export as PyTorch would see it, import as Keras: same statistics, the source's eps.
    const sd = nn.batchNormToPyTorch(pt).stateDict;
    const keras = nn
      .batchNormFromKeras(2, {
        weights: {
          gamma: sd.weight,
          beta: sd.bias,
          moving_mean: sd.running_mean,
          moving_variance: sd.running_var,
        },
        config: { epsilon: pt.eps, axis: 1 },
      })
      .eval();
    assertClose(keras.call(x).data, want, { rtol: 1e-6, atol: 1e-6 });
    const onnx = nn.batchNormFromOnnx(2, nn.batchNormToOnnx(pt)).eval();
    assertClose(onnx.call(x).data, want, { rtol: 1e-6, atol: 1e-6 });
    const again = nn.batchNormFromPyTorch(2, nn.batchNormToPyTorch(pt)).eval();
    assertClose(again.call(x).data, want, { rtol: 0, atol: 0 });
    assert.equal(again.numBatchesTracked, 3);
  });

  it('rescales the running variance between estimators for continued training', () => {
    assertClose(nn.rescaleRunningVar([3, 6], 'biased', 'unbiased', 4), [4, 8]);
    assertClose(nn.rescaleRunningVar([4, 8], 'unbiased', 'biased', 4), [3, 6]);
    assert.throws(() => nn.rescaleRunningVar([1], 'biased', 'unbiased', 1), /expected n > 1/);
    assert.throws(
      () =>
        nn.batchNormFromOnnx(2, {
          initializers: { scale: [1], B: [0, 0], input_mean: [0, 0], input_var: [1, 1] },
          attributes: {},
        }),
      /expected weight of 2 values, got 1/,
    );
  });

  it('checkFinite names the layer; by default NaN propagates as in PyTorch', () => {
    const x = nk.tensor([1, NaN, 3, 4], [2, 2]);
    assert.throws(
      () => new nn.BatchNorm1d(2, { checkFinite: true }).call(x),
      /BatchNorm1d\(2\): input \[2, 2\] holds NaN at flat index 1 \(checkFinite\)/,
    );
    const y = new nn.BatchNorm1d(2).call(x).toArray();
    assert.ok(Number.isNaN(y[1]) && Number.isNaN(y[3]) && Number.isFinite(y[0]));
  });
});
