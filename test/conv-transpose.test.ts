// ConvTranspose2d against PyTorch (gen_conv_transpose.py), float64 gradient checks, the
// adjoint identity with conv2d, and its place in lipschitzBound and spectralNorm.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { checkLayerRecord, fixture, gradcheck, rand64 } from './helpers.js';

const { nn } = nk;
const close = { rtol: 1e-4, atol: 1e-5 };

describe('ConvTranspose2d', () => {
  for (const [i, rec] of fixture('conv_transpose.json').entries()) {
    it(`matches PyTorch: ${JSON.stringify(rec.args)} ${JSON.stringify(rec.options)} (${i})`, () => {
      const o = rec.options;
      const m = new nn.ConvTranspose2d(rec.args[0], rec.args[1], rec.args[2], {
        stride: o.stride,
        padding: o.padding,
        outputPadding: o.output_padding,
        dilation: o.dilation,
        groups: o.groups,
        bias: o.bias,
      });
      assert.deepEqual(m.weight.shape, rec.weightShape);
      checkLayerRecord(m, rec, close);
    });
  }

  it('float64 gradient checks; <convT(x), g> = <x, conv(g)>; errors', () => {
    const opts = { stride: 2, padding: 1, outputPadding: 1 };
    gradcheck(
      (x, w) => nk.convTranspose2d(x, w, null, opts),
      [rand64([2, 3, 3, 4]), rand64([3, 2, 3, 3])],
    );
    gradcheck(
      (x, w, b) => nk.convTranspose2d(x, w, b, { groups: 2 }),
      [rand64([1, 4, 3, 3]), rand64([4, 1, 2, 2]), rand64([2])],
    );
    const x = rand64([2, 3, 3, 4]),
      w = rand64([3, 2, 3, 3]);
    const y = nk.convTranspose2d(x, w, null, opts);
    const g = rand64([...y.shape]);
    const lhs = y.mul(g).sum().item();
    const rhs = x
      .mul(nk.conv2d(g, w, null, { stride: 2, padding: 1 }))
      .sum()
      .item();
    assert.ok(Math.abs(lhs - rhs) <= 1e-9 * Math.abs(lhs), `${lhs} vs ${rhs}`);
    assert.throws(
      () => nk.convTranspose2d(nk.randn([1, 2, 3, 3]), nk.randn([3, 2, 3, 3])),
      /convTranspose2d: expected input \[N, 3, H, W\], got \[1, 2, 3, 3\]/,
    );
    assert.throws(
      () =>
        nk.convTranspose2d(nk.randn([1, 3, 3, 3]), nk.randn([3, 2, 3, 3]), null, {
          stride: 2,
          outputPadding: 2,
        }),
      /outputPadding \[2, 2\] must be smaller than the stride \[2, 2\]/,
    );
  });

  it('lipschitzBound bounds it by power iteration; spectralNorm uses dim 1, as PyTorch', () => {
    nk.manualSeed(8);
    const m = new nn.ConvTranspose2d(2, 3, 3, { stride: 2 }).eval();
    const b = nk.lipschitzBound(m, { inputShape: [2, 4, 4] });
    assert.equal(b.layers[0].method, 'power iteration');
    assert.ok(b.bound > 0);
    const sn = nn.spectralNorm(new nn.ConvTranspose2d(2, 3, 3));
    assert.deepEqual(sn.stateDict().weight_u.shape, [3]);
    assert.deepEqual(sn.stateDict().weight_v.shape, [2 * 3 * 3]);
  });
});
