// Fused BatchNorm kernels over [N, C, ...spatial], written once against the norm primitives
// (statistics helper + normalize passes) that each backend supplies.
import { type KernelSpec, registerKernel } from '../registry.js';
import type { DType } from '../../tensor/dtype.js';
import { type Tensor, dxOver, empty } from '../../tensor/tensor.js';
import { type PoolAttrs, poolOutShape } from './pool.js';
import { type Moments, type NormPrimitives, channelLayout, perStat } from './stats.js';

/** mean, invstd = 1/√(var + eps) and the biased variance, shaped [C], from the moments. */
function statistics(m: Moments, C: number, eps: number, dtype: DType): Tensor[] {
  const mean = empty([C], dtype),
    invstd = empty([C], dtype),
    variance = empty([C], dtype);
  for (let c = 0; c < C; c++) {
    const v = m.m2[c] / m.count;
    mean.data[c] = m.mean[c];
    invstd.data[c] = 1 / Math.sqrt(v + eps);
    variance.data[c] = v;
  }
  return [mean, invstd, variance];
}

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
      const y = empty(x.shape, x.dtype);
      const params = { P: C, Q: 1, w: perStat(w, C, 1), b: perStat(b, C, 0) };
      const m = P.normalize(x.data, y.data, L, eps, params, relu);
      return [y, ...statistics(m, C, eps, x.dtype)];
    },
  });

  // BatchNormTrain followed by max pooling, the normalized values never stored: inputs
  // [x, weight?, bias?], outputs [pooled, mean, invstd, biasedVar, argmax] (argmax [0] when
  // attrs.pool.indices is false).
  registerKernel({
    name: 'BatchNormTrainPool',
    backend,
    supports,
    fn: ([x, w, b], { eps, pool }: { eps: number; pool: PoolAttrs }) => {
      const L = channelLayout(x.shape);
      const C = L.numStats;
      const shape = poolOutShape(x.shape, pool);
      const y = empty(shape, x.dtype);
      const idx = empty(pool.indices === false ? [0] : shape, x.dtype);
      const params = { P: C, Q: 1, w: perStat(w, C, 1), b: perStat(b, C, 0) };
      const [H, W, oh, ow] = [...x.shape.slice(2), ...shape.slice(2)];
      const I = pool.indices === false ? null : idx.data;
      const m = P.normalizePooled(x.data, L, eps, params, {
        attrs: pool,
        H,
        W,
        oh,
        ow,
        Y: y.data,
        I,
      });
      return [y, ...statistics(m, C, eps, x.dtype), idx];
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

  // Inputs [dy, x, mean, invstd, weight?], then with attrs.relu the fused ReLU's output y;
  // outputs [dx, dweight, dbias]. dx = w·invstd/M · (M·g − Σg − x̂·Σ(g·x̂)), dweight =
  // Σ(g·x̂), dbias = Σg, with g = dy, or dy where y > 0 (ReLU's backward, in the same passes).
  // attrs.intoDy: dx is written over dy (backward() donated it; every pass reads an element
  // of g before it writes that element of dx).
  registerKernel({
    name: 'BatchNormBackward',
    backend,
    supports,
    differentiable: false,
    fn: (inputs, { relu, intoDy }: { relu?: boolean; intoDy?: boolean }) => {
      const y = relu ? inputs[inputs.length - 1] : undefined;
      const [dy, x, mean, invstd, w] = relu ? inputs.slice(0, -1) : inputs;
      const L = channelLayout(x.shape);
      const C = L.numStats;
      const mu = perStat(mean, C, 0),
        is = perStat(invstd, C, 1);
      const dx = dxOver(x, dy, intoDy);
      const { sg, sgx } = P.normalizeBackward(
        dy.data,
        x.data,
        dx.data,
        L,
        mu,
        is,
        { P: C, Q: 1, w: perStat(w, C, 1) },
        y?.data,
      );
      const dw = empty([C], x.dtype),
        db = empty([C], x.dtype);
      for (let c = 0; c < C; c++) {
        dw.data[c] = sgx[c] * is[c];
        db.data[c] = sg[c];
      }
      return [dx, dw, db];
    },
  });
}
