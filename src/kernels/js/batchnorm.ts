// Fused BatchNorm kernels over [N, C, ...spatial], written once against the norm primitives
// (statistics helper + affine passes) that each backend supplies.
import { type KernelSpec, registerKernel } from '../registry.js';
import { empty } from '../../tensor/tensor.js';
import { type NormPrimitives, channelLayout, perStat } from './stats.js';

export function registerBatchNormKernels(
  backend: string,
  P: NormPrimitives,
  supports?: KernelSpec['supports'],
): void {
  // Inputs [x, weight?, bias?]; outputs [y, mean, invstd, biasedVar] (statistics shaped [C]).
  // attrs.relu fuses a ReLU into the output pass.
  registerKernel({
    name: 'BatchNormTrain',
    backend,
    supports,
    fn: ([x, w, b], { eps, relu }: { eps: number; relu?: boolean }) => {
      const L = channelLayout(x.shape);
      const C = L.numStats;
      const m = P.moments(x.data, L);
      const wv = perStat(w, C, 1),
        bv = perStat(b, C, 0);
      const scale = new Float64Array(C);
      const mean = empty([C], x.dtype),
        invstd = empty([C], x.dtype),
        variance = empty([C], x.dtype);
      for (let c = 0; c < C; c++) {
        const v = m.m2[c] / m.count;
        const inv = 1 / Math.sqrt(v + eps);
        scale[c] = wv[c] * inv;
        mean.data[c] = m.mean[c];
        invstd.data[c] = inv;
        variance.data[c] = v;
      }
      const y = empty(x.shape, x.dtype);
      P.affine(x.data, y.data, L, m.mean, scale, bv, relu);
      return [y, mean, invstd, variance];
    },
  });

  // Inputs [x, mean, var, weight?, bias?]: one scale-and-shift pass.
  registerKernel({
    name: 'BatchNormEval',
    backend,
    supports,
    fn: ([x, mean, variance, w, b], { eps, relu }: { eps: number; relu?: boolean }) => {
      const C = x.shape[1];
      const wv = perStat(w, C, 1),
        bv = perStat(b, C, 0);
      const M = mean.data,
        V = variance.data;
      const scale = new Float64Array(C);
      for (let c = 0; c < C; c++) {
        scale[c] = wv[c] / Math.sqrt(V[c] + eps);
      }
      const y = empty(x.shape, x.dtype);
      P.affine(x.data, y.data, channelLayout(x.shape), Float64Array.from(M), scale, bv, relu);
      return y;
    },
  });

  // Inputs [dy, x, mean, invstd, weight?]; outputs [dx, dweight, dbias].
  // dx = w·invstd/M · (M·dy − Σdy − x̂·Σ(dy·x̂)), dweight = Σ(dy·x̂), dbias = Σdy;
  // as one pass: dx = A·dy + B·(x − mean) + C per channel.
  registerKernel({
    name: 'BatchNormBackward',
    backend,
    supports,
    differentiable: false,
    fn: ([dy, x, mean, invstd, w]) => {
      const L = channelLayout(x.shape);
      const C = L.numStats;
      const mu = perStat(mean, C, 0),
        is = perStat(invstd, C, 1),
        wv = perStat(w, C, 1);
      const { sg, sgx } = P.gradSums(dy.data, x.data, L, mu);
      const count = L.outer * L.inner;
      const A = new Float64Array(C),
        B = new Float64Array(C),
        Cc = new Float64Array(C);
      const dw = empty([C], x.dtype),
        db = empty([C], x.dtype);
      for (let c = 0; c < C; c++) {
        const sxh = sgx[c] * is[c]; // Σ dy·x̂
        const k = (wv[c] * is[c]) / count;
        A[c] = k * count;
        B[c] = -k * is[c] * sxh;
        Cc[c] = -k * sg[c];
        dw.data[c] = sxh;
        db.data[c] = sg[c];
      }
      const dx = empty(x.shape, x.dtype);
      P.affine2(dy.data, x.data, dx.data, L, mu, A, B, Cc);
      return [dx, dw, db];
    },
  });
}
