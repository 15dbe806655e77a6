// Fused GroupNorm over [N, C, ...spatial] (InstanceNorm is GroupNorm with C groups): one
// statistic per (sample, group) whose runs are the group's channels, so the normalize passes
// apply each channel's weight and bias in the same pass as the normalization.
import { type KernelSpec, registerKernel } from '../registry.js';
import { type Tensor, dxOver, empty } from '../../tensor/tensor.js';
import { type NormPrimitives, type StatLayout, perStat } from './stats.js';

function dims(x: Tensor, groups: number) {
  const [N, C] = x.shape;
  const HW = x.size / (N * C);
  const Cg = C / groups;
  // Statistic s = n·G + g reduces runs o < Cg (channel g·Cg + o) of HW elements.
  const L: StatLayout = {
    numStats: N * groups,
    outer: Cg,
    outerStride: HW,
    statStride: Cg * HW,
    inner: HW,
  };
  return { N, C, G: groups, Cg, L };
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
      const { N, C, G, Cg, L } = dims(x, groups);
      const y = empty(x.shape, x.dtype);
      const m = P.normalize(x.data, y.data, L, eps, {
        P: G,
        Q: Cg,
        w: perStat(w, C, 1),
        b: perStat(b, C, 0),
      });
      const mean = empty([N, G], x.dtype),
        invstd = empty([N, G], x.dtype),
        variance = empty([N, G], x.dtype);
      for (let s = 0; s < N * G; s++) {
        const v = m.m2[s] / m.count;
        mean.data[s] = m.mean[s];
        invstd.data[s] = 1 / Math.sqrt(v + eps);
        variance.data[s] = v;
      }
      return [y, mean, invstd, variance];
    },
  });

  // Inputs [dy, x, mean, invstd, weight?]; outputs [dx, dweight, dbias]. With g' = dy·w[c]:
  // dx = invstd·(g' − mean_group(g') − x̂·mean_group(g'·x̂)).
  registerKernel({
    name: 'GroupNormBackward',
    backend,
    supports,
    differentiable: false,
    fn: ([dy, x, mean, invstd, w], { intoDy }: { intoDy?: boolean }) => {
      const G = mean.shape[1];
      const { N, C, Cg, L } = dims(x, G);
      const mu = Float64Array.from(mean.data),
        is = Float64Array.from(invstd.data);
      const dx = dxOver(x, dy, intoDy);
      // Per (n, c): Σdy and Σdy·(x − mean).
      const { sg, sgx } = P.normalizeBackward(dy.data, x.data, dx.data, L, mu, is, {
        P: G,
        Q: Cg,
        w: perStat(w, C, 1),
      });
      const dw = new Float64Array(C),
        db = new Float64Array(C);
      for (let n = 0; n < N; n++)
        for (let c = 0; c < C; c++) {
          dw[c] += sgx[n * C + c] * is[n * G + Math.floor(c / Cg)];
          db[c] += sg[n * C + c];
        }
      const dwt = empty([C], x.dtype),
        dbt = empty([C], x.dtype);
      dwt.data.set(dw);
      dbt.data.set(db);
      return [dx, dwt, dbt];
    },
  });
}
