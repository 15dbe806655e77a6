// Normalizes each row of x viewed as [rows, cols] with the norm primitives (no affine): the
// functional core some ops compose with their own scale and shift.
import { type KernelSpec, registerKernel } from '../registry.js';
import { empty } from '../../tensor/tensor.js';
import { type NormPrimitives, rowLayout } from './stats.js';

const NONE = { P: 1, Q: 1, w: new Float64Array([1]), b: new Float64Array([0]) };

export function registerRowNormKernels(
  backend: string,
  P: NormPrimitives,
  supports?: KernelSpec['supports'],
): void {
  // Inputs [x]; outputs [xhat, mean, invstd] (statistics shaped [rows]).
  registerKernel({
    name: 'NormalizeRows',
    backend,
    supports,
    fn: ([x], { rows, eps }: { rows: number; eps: number }) => {
      const y = empty(x.shape, x.dtype);
      const m = P.normalize(x.data, y.data, rowLayout(rows, x.size / rows), eps, NONE);
      const mean = empty([rows], x.dtype),
        invstd = empty([rows], x.dtype);
      for (let r = 0; r < rows; r++) {
        mean.data[r] = m.mean[r];
        invstd.data[r] = 1 / Math.sqrt(m.m2[r] / m.count + eps);
      }
      return [y, mean, invstd];
    },
  });

  // Inputs [g, x, mean, invstd]: dx = invstd·(g − mean(g) − x̂·mean(g·x̂)) per row.
  registerKernel({
    name: 'NormalizeRowsBackward',
    backend,
    supports,
    differentiable: false,
    fn: ([g, x, mean, invstd]) => {
      const rows = mean.size;
      const L = rowLayout(rows, x.size / rows);
      const dx = empty(x.shape, x.dtype);
      const mu = Float64Array.from(mean.data),
        is = Float64Array.from(invstd.data);
      P.normalizeBackward(g.data, x.data, dx.data, L, mu, is, NONE);
      return dx;
    },
  });
}
