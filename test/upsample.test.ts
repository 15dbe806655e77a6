// Upsampling against PyTorch's F.interpolate (gen_upsample.py): nearest and bilinear, sizes
// and scale factors, alignCorners; gradients; errors.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { assertClose, fixture, gradcheck, rand64 } from './helpers.js';

describe('upsample', () => {
  for (const rec of fixture('upsample.json')) {
    it(`matches F.interpolate ${JSON.stringify(rec.options)}`, () => {
      const o = rec.options;
      const x = nk.tensor(rec.x, rec.xShape, { requiresGrad: true });
      const y = new nk.nn.Upsample({
        size: o.size,
        scaleFactor: o.scale_factor,
        mode: o.mode,
        alignCorners: o.align_corners,
      }).call(x);
      assert.deepEqual(y.shape, rec.yShape);
      y.mul(nk.tensor(rec.w, y.shape)).sum().backward();
      assertClose(y.toArray(), rec.y, { rtol: 1e-5, atol: 1e-5, what: 'y' });
      assertClose(x.grad!.toArray(), rec.dx, { rtol: 1e-5, atol: 1e-5, what: 'dx' });
    });
  }

  it('float64 gradient check and errors', () => {
    gradcheck((x) => nk.upsample(x, { size: [5, 7], mode: 'bilinear' }), [rand64([1, 2, 3, 4])]);
    assert.throws(
      () => new nk.nn.Upsample({}),
      /Upsample: give exactly one of size and scaleFactor/,
    );
    assert.throws(
      () => nk.upsample(nk.randn([2, 3, 4]), { scaleFactor: 2 }),
      /expected input \[N, C, H, W\], got \[2, 3, 4\]/,
    );
    assert.throws(
      () =>
        nk.upsample(nk.randn([1, 1, 2, 2]), {
          scaleFactor: 2,
          mode: 'nearest',
          alignCorners: true,
        }),
      /alignCorners applies to bilinear mode only/,
    );
    assert.throws(
      () =>
        new nk.nn.Upsample({ scaleFactor: 2, mode: 'bicubic' as never }).call(
          nk.randn([1, 1, 2, 2]),
        ),
      /Upsample\(scaleFactor=2, mode=bicubic\): upsample: expected mode 'nearest' or 'bilinear', got bicubic/,
    );
  });
});
