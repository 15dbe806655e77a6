// Fused GroupNorm over [N, C, ...spatial] (InstanceNorm is GroupNorm with C groups):
// statistics per (sample, group) from the shared helper, then one per-(sample, channel)
// affine pass that applies normalization and the channel's weight and bias together.
import { type KernelSpec, registerKernel } from '../registry.js';
import { type Tensor, empty } from '../../tensor/tensor.js';
import { type NormPrimitives, rowLayout, perStat } from './stats.js';

function dims(x: Tensor, groups: number) {
  const [N, C] = x.shape;
  const HW = x.size / (N * C);
  return { N, C, G: groups, Cg: C / groups, HW, M: (C / groups) * HW };
}

export function registerGroupNormKernels(
  backend: string,
  P: NormPrimitives,
  supports?: KernelSpec['supports'],
): void {
  // Inputs [x, weight?, bias?]; outputs [y, mean, invstd, biasedVar], statistics shaped [N, G].
  registerKernel({
    name: 'GroupNorm',
    backend,
    supports,
    fn: ([x, w, b], { groups, eps }: { groups: number; eps: number }) => {
      const { N, C, G, Cg, HW, M } = dims(x, groups);
      const m = P.moments(x.data, rowLayout(N * G, M));
      const wv = perStat(w, C, 1),
        bv = perStat(b, C, 0);
      const mean = empty([N, G], x.dtype),
        invstd = empty([N, G], x.dtype),
        variance = empty([N, G], x.dtype);
      const c = new Float64Array(N * C),
        a = new Float64Array(N * C),
        sh = new Float64Array(N * C);
      for (let n = 0; n < N; n++) {
        for (let g = 0; g < G; g++) {
          const s = n * G + g;
          const inv = 1 / Math.sqrt(m.m2[s] / M + eps);
          variance.data[s] = m.m2[s] / M;
          mean.data[s] = m.mean[s];
          invstd.data[s] = inv;
          for (let ch = g * Cg; ch < (g + 1) * Cg; ch++) {
            c[n * C + ch] = m.mean[s];
            a[n * C + ch] = inv * wv[ch];
            sh[n * C + ch] = bv[ch];
          }
        }
      }
      const y = empty(x.shape, x.dtype);
      P.affine(x.data, y.data, rowLayout(N * C, HW), c, a, sh);
      return [y, mean, invstd, variance];
    },
  });

  // Inputs [dy, x, mean, invstd, weight?]; outputs [dx, dweight, dbias]. With g' = dy·w[c]:
  // dx = invstd·(g' − mean_group(g') − x̂·mean_group(g'·x̂)), one pass dx = A·dy + B·(x − mean) + C.
  registerKernel({
    name: 'GroupNormBackward',
    backend,
    supports,
    differentiable: false,
    fn: ([dy, x, mean, invstd, w]) => {
      const G = mean.shape[1];
      const { N, C, Cg, HW, M } = dims(x, G);
      const wv = perStat(w, C, 1);
      const mu = new Float64Array(N * C);
      for (let n = 0; n < N; n++)
        for (let ch = 0; ch < C; ch++) mu[n * C + ch] = mean.data[n * G + Math.floor(ch / Cg)];
      const L = rowLayout(N * C, HW);
      const { sg, sgx } = P.gradSums(dy.data, x.data, L, mu); // per (n, c): Σdy, Σdy·(x − mu)
      const dw = new Float64Array(C),
        db = new Float64Array(C);
      const A = new Float64Array(N * C),
        B = new Float64Array(N * C),
        Cc = new Float64Array(N * C);
      for (let n = 0; n < N; n++) {
        for (let g = 0; g < G; g++) {
          const s = n * G + g,
            is = invstd.data[s];
          let g1 = 0,
            g2 = 0; // Σ g' and Σ g'·x̂ over the group
          for (let ch = g * Cg; ch < (g + 1) * Cg; ch++) {
            const q = n * C + ch;
            g1 += wv[ch] * sg[q];
            g2 += wv[ch] * sgx[q] * is;
            dw[ch] += sgx[q] * is;
            db[ch] += sg[q];
          }
          for (let ch = g * Cg; ch < (g + 1) * Cg; ch++) {
            const q = n * C + ch;
            A[q] = is * wv[ch];
            B[q] = (-is * is * g2) / M;
            Cc[q] = (-is * g1) / M;
          }
        }
      }
      const dx = empty(x.shape, x.dtype);
      P.affine2(dy.data, x.data, dx.data, L, mu, A, B, Cc);
      const dwt = empty([C], x.dtype),
        dbt = empty([C], x.dtype);
      dwt.data.set(dw);
      dbt.data.set(db);
      return [dx, dwt, dbt];
    },
  });
}
