// The one statistics helper every norm uses. A norm only describes which elements each
// statistic reduces (StatLayout); the helper returns mean and M2 (sum of squared deviations)
// accumulated in float64. Each contiguous run is reduced two-pass while it is in cache, and
// runs are merged with Chan's formula, so the result is stable (no E[x^2] - E[x]^2) and
// partials from threads or workers merge the same way.
import type { TypedArray } from '../../tensor/dtype.js';
import type { Tensor } from '../../tensor/tensor.js';
import { type PoolAttrs, maxPoolPlanes } from './pool.js';

/** Statistic s reduces x[o*outerStride + s*statStride + i] for o < outer, i < inner. */
export interface StatLayout {
  numStats: number;
  outer: number;
  outerStride: number;
  statStride: number;
  inner: number;
}

/** Mergeable partial statistics: count, mean and M2 per statistic. */
export interface Moments {
  count: number;
  mean: Float64Array;
  m2: Float64Array;
}

/** [N, C, ...spatial] reduced over everything but C (BatchNorm). */
export function channelLayout(shape: readonly number[]): StatLayout {
  const [N, C] = shape;
  let inner = 1;
  for (let i = 2; i < shape.length; i++) inner *= shape[i];
  return { numStats: C, outer: N, outerStride: C * inner, statStride: inner, inner };
}

/** [rows, cols] with one statistic per row (LayerNorm, GroupNorm, InstanceNorm). */
export function rowLayout(rows: number, cols: number): StatLayout {
  return { numStats: rows, outer: 1, outerStride: 0, statStride: cols, inner: cols };
}

export function moments(X: TypedArray, L: StatLayout): Moments {
  const mean = new Float64Array(L.numStats);
  const m2 = new Float64Array(L.numStats);
  const nb = L.inner;
  for (let s = 0; s < L.numStats; s++) {
    let n = 0,
      mu = 0,
      q = 0;
    for (let o = 0; o < L.outer; o++) {
      const base = o * L.outerStride + s * L.statStride;
      let sum = 0;
      for (let i = 0; i < nb; i++) sum += X[base + i];
      const bm = sum / nb;
      let bq = 0;
      for (let i = 0; i < nb; i++) {
        const d = X[base + i] - bm;
        bq += d * d;
      }
      // Chan et al.: merge (n, mu, q) with the run (nb, bm, bq).
      const tot = n + nb;
      const delta = bm - mu;
      mu += (delta * nb) / tot;
      q += bq + ((delta * delta * n) / tot) * nb;
      n = tot;
    }
    mean[s] = mu;
    m2[s] = q;
  }
  return { count: L.outer * L.inner, mean, m2 };
}

/** Merges two partials over disjoint elements (threads, ghost batches, cross-worker sync). */
export function mergeMoments(a: Moments, b: Moments): Moments {
  const count = a.count + b.count;
  const mean = new Float64Array(a.mean.length);
  const m2 = new Float64Array(a.mean.length);
  for (let s = 0; s < mean.length; s++) {
    const delta = b.mean[s] - a.mean[s];
    mean[s] = count === 0 ? 0 : a.mean[s] + (delta * b.count) / count;
    m2[s] = a.m2[s] + b.m2[s] + (count === 0 ? 0 : (delta * delta * a.count * b.count) / count);
  }
  return { count, mean, m2 };
}

/**
 * Per-statistic weight and bias for the normalize passes: run o of statistic s takes
 * w[k], b[k] with k = (s mod P)·Q + (o mod Q). BatchNorm (s = channel): P = C, Q = 1;
 * GroupNorm (s = (n, g), runs = the group's channels): P = G, Q = C/G; no affine: P = Q = 1.
 */
export interface StatParams {
  P: number;
  Q: number;
  w: Float64Array;
  b: Float64Array;
}

/** Where normalizePooled puts its output: max pooling by attrs of planes [H, W] into Y
 * [planes, oh, ow] and, unless I is null, the argmax (pool.ts's maxPoolPlanes). */
export interface PooledOutput {
  attrs: PoolAttrs;
  H: number;
  W: number;
  oh: number;
  ow: number;
  Y: TypedArray;
  I: TypedArray | null;
}

/** The per-statistic passes every norm is built from; each backend supplies them. */
export interface NormPrimitives {
  moments(X: TypedArray, L: StatLayout): Moments;
  /**
   * Y = (X − c[s])·a[s] + b[s] (then max(·, 0) when relu). Centring first keeps a constant
   * channel exact (its output is b) and avoids cancellation when the mean is large.
   */
  affine(
    X: TypedArray,
    Y: TypedArray,
    L: StatLayout,
    c: Float64Array,
    a: Float64Array,
    b: Float64Array,
    relu?: boolean,
  ): void;
  /**
   * Training-mode normalization: per statistic the moments, inv = 1/√(M2/count + eps), then
   * Y = (X − mean)·inv·w[k] + b[k] (then max(·, 0) when relu). Returns the moments. The
   * WASM kernel finishes each statistic while its elements are in cache.
   */
  normalize(
    X: TypedArray,
    Y: TypedArray,
    L: StatLayout,
    eps: number,
    p: StatParams,
    relu?: boolean,
  ): Moments;
  /**
   * normalize (without ReLU) followed by max pooling, over runs that are whole [H, W] planes
   * (BatchNorm's layout): the pooled output and its argmax go to `out`, the normalized values
   * nowhere (the WASM kernel pools each plane from cache, so they never reach memory).
   */
  normalizePooled(
    X: TypedArray,
    L: StatLayout,
    eps: number,
    p: StatParams,
    out: PooledOutput,
  ): Moments;
  /**
   * Its backward given mu and inv per statistic: with g' = g·w[k] and x̂ = (x − mu)·inv,
   * DX = inv·(g' − mean(g') − x̂·mean(g'·x̂)) per statistic. Returns Σg and Σg·(x − mu)
   * per (s, o mod Q), shaped [numStats, Q], for dweight and dbias. With `mask` (the output
   * of a fused ReLU) g counts as 0 wherever the mask is not positive: the ReLU's backward
   * inside this one, with no tensor of its own.
   */
  normalizeBackward(
    G: TypedArray,
    X: TypedArray,
    DX: TypedArray,
    L: StatLayout,
    mu: Float64Array,
    inv: Float64Array,
    p: Omit<StatParams, 'b'>,
    mask?: TypedArray,
  ): { sg: Float64Array; sgx: Float64Array };
}

/** Calls fn(base, s, o) for each contiguous run of the layout. */
function eachRun(L: StatLayout, fn: (base: number, s: number, o: number) => void): void {
  for (let o = 0; o < L.outer; o++)
    for (let s = 0; s < L.numStats; s++) fn(o * L.outerStride + s * L.statStride, s, o);
}

const paramIndex = (p: { P: number; Q: number }, s: number, o: number) =>
  (s % p.P) * p.Q + (o % p.Q);

/** The reference: the moments, the coefficients and each pass as separate loops. */
export const jsNormPrimitives: NormPrimitives = {
  moments,
  affine(X, Y, L, c, a, b, relu = false) {
    eachRun(L, (base, s) => {
      const cs = c[s],
        as = a[s],
        bs = b[s];
      for (let i = base; i < base + L.inner; i++) {
        const v = (X[i] - cs) * as + bs;
        Y[i] = relu && v < 0 ? 0 : v;
      }
    });
  },
  normalize(X, Y, L, eps, p, relu = false) {
    const m = moments(X, L);
    const inv = m.m2.map((q) => 1 / Math.sqrt(q / m.count + eps));
    eachRun(L, (base, s, o) => {
      const k = paramIndex(p, s, o);
      const c = m.mean[s],
        a = inv[s] * p.w[k],
        b = p.b[k];
      for (let i = base; i < base + L.inner; i++) {
        const v = (X[i] - c) * a + b;
        Y[i] = relu && v < 0 ? 0 : v;
      }
    });
    return m;
  },
  normalizePooled(X, L, eps, p, out) {
    const Y = new (X.constructor as Float32ArrayConstructor)(X.length);
    const m = jsNormPrimitives.normalize(X, Y, L, eps, p, false);
    const { attrs, H, W, oh, ow } = out;
    maxPoolPlanes(Y, X.length / (H * W), H, W, attrs, oh, ow, out.Y, out.I);
    return m;
  },
  normalizeBackward(G, X, DX, L, mu, inv, p, mask) {
    const n = L.outer * L.inner;
    const sg = new Float64Array(L.numStats * p.Q),
      sgx = new Float64Array(L.numStats * p.Q);
    const g = (i: number) => (mask === undefined || mask[i] > 0 ? G[i] : 0);
    eachRun(L, (base, s, o) => {
      const q = s * p.Q + (o % p.Q);
      for (let i = base; i < base + L.inner; i++) {
        sg[q] += g(i);
        sgx[q] += g(i) * (X[i] - mu[s]);
      }
    });
    const B = new Float64Array(L.numStats),
      C = new Float64Array(L.numStats);
    for (let s = 0; s < L.numStats; s++) {
      let g1 = 0,
        g2 = 0; // Σ g' and Σ g'·x̂ over the statistic
      for (let o = 0; o < p.Q; o++) {
        g1 += p.w[paramIndex(p, s, o)] * sg[s * p.Q + o];
        g2 += p.w[paramIndex(p, s, o)] * sgx[s * p.Q + o] * inv[s];
      }
      B[s] = (-inv[s] * inv[s] * g2) / n;
      C[s] = (-inv[s] * g1) / n;
    }
    eachRun(L, (base, s, o) => {
      const a = inv[s] * p.w[paramIndex(p, s, o)];
      for (let i = base; i < base + L.inner; i++) DX[i] = g(i) * a + (X[i] - mu[s]) * B[s] + C[s];
    });
    return { sg, sgx };
  },
};

/** A per-statistic parameter (weight, bias, mean, ...) as float64, or `fill` when absent. */
export function perStat(t: Tensor | undefined, n: number, fill: number): Float64Array {
  const out = new Float64Array(n).fill(fill);
  if (t !== undefined) out.set(t.data);
  return out;
}

/**
 * Input-gradient coefficients of a row normalization x̂ = (x − mean)·invstd, given per row
 * sg = Σ g and sgx = Σ g·(x − mean) over n values: dx = A·g + B·(x − mean) + C with
 * A = invstd, B = −invstd²·mean(g·x̂), C = −invstd·mean(g).
 */
export function rowGradCoefficients(
  sg: Float64Array,
  sgx: Float64Array,
  invstd: Float64Array,
  n: number,
): { A: Float64Array; B: Float64Array; C: Float64Array } {
  const rows = sg.length;
  const A = new Float64Array(rows),
    B = new Float64Array(rows),
    C = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const is = invstd[r],
      mgx = (sgx[r] * is) / n;
    A[r] = is;
    B[r] = -is * is * mgx;
    C[r] = -is * (sg[r] / n);
  }
  return { A, B, C };
}
