// Normalizes each row of x viewed as [rows, cols] with the norm primitives: the core of
// LayerNorm, GroupNorm and InstanceNorm (they differ only in how rows are formed).
import { type KernelSpec, registerKernel } from '../registry.js';
import { empty } from '../../tensor/tensor.js';
import { type NormPrimitives, rowGradCoefficients, rowLayout } from './stats.js';

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
      const cols = x.size / rows;
      const L = rowLayout(rows, cols);
      const m = P.moments(x.data, L);
      const inv = new Float64Array(rows);
      const mean = empty([rows], x.dtype),
        invstd = empty([rows], x.dtype);
      for (let r = 0; r < rows; r++) {
        inv[r] = 1 / Math.sqrt(m.m2[r] / cols + eps);
        mean.data[r] = m.mean[r];
        invstd.data[r] = inv[r];
      }
      const y = empty(x.shape, x.dtype);
      P.affine(x.data, y.data, L, m.mean, inv, new Float64Array(rows));
      return [y, mean, invstd];
    },
  });

  // Inputs [g, x, mean, invstd]: dx = invstd·(g − mean(g) − x̂·mean(g·x̂)) per row,
  // as one pass dx = A·g + B·(x − mean) + C.
  registerKernel({
    name: 'NormalizeRowsBackward',
    backend,
    supports,
    differentiable: false,
    fn: ([g, x, mean, invstd]) => {
      const rows = mean.size;
      const cols = x.size / rows;
      const L = rowLayout(rows, cols);
      const mu = Float64Array.from(mean.data),
        is = Float64Array.from(invstd.data);
      const { sg, sgx } = P.gradSums(g.data, x.data, L, mu);
      const { A, B, C } = rowGradCoefficients(sg, sgx, is, cols);
      const dx = empty(x.shape, x.dtype);
      P.affine2(g.data, x.data, dx.data, L, mu, A, B, C);
      return dx;
    },
  });
}
