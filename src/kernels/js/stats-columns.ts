// BatchNorm over [N, C] (BatchNorm1d on features, the MLP case): each statistic is a column,
// so the layout's runs are single floats and the run-by-run passes spend a Chan merge per
// element (about 40 ns each on [256, 128]). Here the same primitives go row by row, each
// pass touching every element once with per-column float64 accumulators: two-pass moments
// (exact, no E[x²] − E[x]²), then the affine and backward passes. Any other layout goes to
// the backend's own primitives. The WASM twin is assembly/columns.ts (wasmColumnPasses).
import { type NormPrimitives, type StatLayout, jsNormPrimitives } from './stats.js';

/** True for a layout whose statistics are the contiguous columns of a [outer, numStats] matrix. */
const isColumns = (L: StatLayout) =>
  L.inner === 1 && L.statStride === 1 && L.outerStride === L.numStats && L.outer > 1;

/**
 * The backend's primitives P, with column layouts (and BatchNorm's parameters, Q = 1) going
 * to `columns` instead: the JS passes below, or a backend's own column kernels.
 */
export function withColumnPasses(
  P: NormPrimitives,
  columns: NormPrimitives = jsColumnPasses,
): NormPrimitives {
  const take = (L: StatLayout, Q = 1) => isColumns(L) && Q === 1;
  return {
    moments: (X, L) => (take(L) ? columns : P).moments(X, L),
    affine: (X, Y, L, c, a, b, relu) => (take(L) ? columns : P).affine(X, Y, L, c, a, b, relu),
    normalize: (X, Y, L, eps, p, relu) =>
      (take(L, p.Q) ? columns : P).normalize(X, Y, L, eps, p, relu),
    normalizeBackward: (G, X, DX, L, mu, inv, p, mask) =>
      (take(L, p.Q) ? columns : P).normalizeBackward(G, X, DX, L, mu, inv, p, mask),
    // Pooled layouts are planes, never columns.
    normalizePooled: (X, L, eps, p, out) => P.normalizePooled(X, L, eps, p, out),
  };
}

/**
 * The column passes in JS (float64 accumulators), for column layouts only: withColumnPasses
 * routes those here and everything else to the backend's primitives.
 */
export const jsColumnPasses: NormPrimitives = (() => {
  const moments: NormPrimitives['moments'] = (X, L) => {
    const C = L.numStats,
      N = L.outer;
    const mean = new Float64Array(C),
      m2 = new Float64Array(C);
    for (let o = 0, i = 0; o < N; o++) for (let s = 0; s < C; s++, i++) mean[s] += X[i];
    for (let s = 0; s < C; s++) mean[s] /= N;
    for (let o = 0, i = 0; o < N; o++) {
      for (let s = 0; s < C; s++, i++) {
        const d = X[i] - mean[s];
        m2[s] += d * d;
      }
    }
    return { count: N, mean, m2 };
  };
  const affine: NormPrimitives['affine'] = (X, Y, L, c, a, b, relu = false) => {
    const C = L.numStats;
    for (let o = 0, i = 0; o < L.outer; o++) {
      for (let s = 0; s < C; s++, i++) {
        const v = (X[i] - c[s]) * a[s] + b[s];
        Y[i] = relu && v < 0 ? 0 : v;
      }
    }
  };
  return {
    moments,
    affine,
    normalizePooled: jsNormPrimitives.normalizePooled, // columns are never pooled
    normalize(X, Y, L, eps, p, relu = false) {
      const m = moments(X, L);
      const a = m.m2.map((q, s) => p.w[s % p.P] / Math.sqrt(q / m.count + eps));
      const b = Float64Array.from({ length: L.numStats }, (_, s) => p.b[s % p.P]);
      affine(X, Y, L, m.mean, a, b, relu);
      return m;
    },
    normalizeBackward(G, X, DX, L, mu, inv, p, mask) {
      const C = L.numStats,
        N = L.outer;
      const sg = new Float64Array(C),
        sgx = new Float64Array(C);
      const g = (i: number) => (mask === undefined || mask[i] > 0 ? G[i] : 0);
      for (let o = 0, i = 0; o < N; o++) {
        for (let s = 0; s < C; s++, i++) {
          sg[s] += g(i);
          sgx[s] += g(i) * (X[i] - mu[s]);
        }
      }
      const { A, B, K } = columnGradCoefficients(inv, p, sg, sgx, N);
      for (let o = 0, i = 0; o < N; o++) {
        for (let s = 0; s < C; s++, i++) DX[i] = g(i) * A[s] + (X[i] - mu[s]) * B[s] + K[s];
      }
      return { sg, sgx };
    },
  };
})();

/**
 * BatchNorm's dx = G·A + (X − μ)·B + K per column, from Σg and Σg·(x − μ) over the N rows
 * (the reference's coefficients, stats.ts normalizeBackward, with Q = 1).
 */
export function columnGradCoefficients(
  inv: Float64Array,
  p: { P: number; w: Float64Array },
  sg: Float64Array,
  sgx: Float64Array,
  N: number,
) {
  const C = inv.length;
  const A = new Float64Array(C),
    B = new Float64Array(C),
    K = new Float64Array(C);
  for (let s = 0; s < C; s++) {
    const w = p.w[s % p.P];
    A[s] = inv[s] * w;
    B[s] = (-inv[s] * inv[s] * inv[s] * w * sgx[s]) / N;
    K[s] = (-inv[s] * w * sg[s]) / N;
  }
  return { A, B, K };
}
