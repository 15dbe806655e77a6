// Fused BatchNorm kernels over [N, C, ...spatial]; statistics come from the shared helper.
import { registerKernel } from '../registry.js';
import { type Tensor, empty } from '../../tensor/tensor.js';
import { channelLayout, moments } from './stats.js';

function perChannel(t: Tensor | undefined, C: number, fill: number): Float64Array {
  const out = new Float64Array(C).fill(fill);
  if (t !== undefined) out.set(t.data);
  return out;
}

/** y = x * scale[c] + shift[c] over the channel layout. */
function scaleShift(x: Tensor, scale: Float64Array, shift: Float64Array): Tensor {
  const L = channelLayout(x.shape);
  const y = empty(x.shape, x.dtype);
  const X = x.data,
    Y = y.data;
  for (let o = 0; o < L.outer; o++) {
    for (let c = 0; c < L.numStats; c++) {
      const base = o * L.outerStride + c * L.statStride;
      const a = scale[c],
        b = shift[c];
      for (let i = 0; i < L.inner; i++) Y[base + i] = X[base + i] * a + b;
    }
  }
  return y;
}

// Inputs [x, weight?, bias?]; outputs [y, mean, invstd, biasedVar] (statistics shaped [C]).
registerKernel({
  name: 'BatchNormTrain',
  backend: 'js',
  fn: ([x, w, b], { eps }: { eps: number }) => {
    const L = channelLayout(x.shape);
    const C = L.numStats;
    const m = moments(x.data, L);
    const wv = perChannel(w, C, 1),
      bv = perChannel(b, C, 0);
    const scale = new Float64Array(C),
      shift = new Float64Array(C);
    const mean = empty([C], x.dtype),
      invstd = empty([C], x.dtype),
      variance = empty([C], x.dtype);
    for (let c = 0; c < C; c++) {
      const v = m.m2[c] / m.count;
      const inv = 1 / Math.sqrt(v + eps);
      scale[c] = wv[c] * inv;
      shift[c] = bv[c] - m.mean[c] * scale[c];
      mean.data[c] = m.mean[c];
      invstd.data[c] = inv;
      variance.data[c] = v;
    }
    return [scaleShift(x, scale, shift), mean, invstd, variance];
  },
});

// Inputs [x, mean, var, weight?, bias?]: one scale-and-shift pass.
registerKernel({
  name: 'BatchNormEval',
  backend: 'js',
  fn: ([x, mean, variance, w, b], { eps }: { eps: number }) => {
    const C = x.shape[1];
    const wv = perChannel(w, C, 1),
      bv = perChannel(b, C, 0);
    const M = mean.data,
      V = variance.data;
    const scale = new Float64Array(C),
      shift = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      scale[c] = wv[c] / Math.sqrt(V[c] + eps);
      shift[c] = bv[c] - M[c] * scale[c];
    }
    return scaleShift(x, scale, shift);
  },
});

// Inputs [dy, x, mean, invstd, weight?]; outputs [dx, dweight, dbias].
// dx = w·invstd/M · (M·dy − Σdy − x̂·Σ(dy·x̂)), dweight = Σ(dy·x̂), dbias = Σdy.
registerKernel({
  name: 'BatchNormBackward',
  backend: 'js',
  differentiable: false,
  fn: ([dy, x, mean, invstd, w]) => {
    const L = channelLayout(x.shape);
    const C = L.numStats;
    const X = x.data,
      DY = dy.data,
      MU = mean.data,
      IS = invstd.data;
    const wv = perChannel(w, C, 1);
    const sumDy = new Float64Array(C),
      sumDyXhat = new Float64Array(C);
    for (let o = 0; o < L.outer; o++) {
      for (let c = 0; c < C; c++) {
        const base = o * L.outerStride + c * L.statStride;
        const mu = MU[c];
        let s1 = 0,
          s2 = 0;
        for (let i = 0; i < L.inner; i++) {
          const g = DY[base + i];
          s1 += g;
          s2 += g * (X[base + i] - mu);
        }
        sumDy[c] += s1;
        sumDyXhat[c] += s2 * IS[c];
      }
    }
    const count = L.outer * L.inner;
    const dx = empty(x.shape, x.dtype);
    const DX = dx.data;
    for (let o = 0; o < L.outer; o++) {
      for (let c = 0; c < C; c++) {
        const base = o * L.outerStride + c * L.statStride;
        const k = (wv[c] * IS[c]) / count;
        const mu = MU[c],
          is = IS[c],
          sd = sumDy[c],
          sx = sumDyXhat[c];
        for (let i = 0; i < L.inner; i++) {
          const xh = (X[base + i] - mu) * is;
          DX[base + i] = k * (count * DY[base + i] - sd - xh * sx);
        }
      }
    }
    const dw = empty([C], x.dtype),
      db = empty([C], x.dtype);
    dw.data.set(sumDyXhat);
    db.data.set(sumDy);
    return [dx, dw, db];
  },
});
