// C = A·B (+ C when accumulating) for strided A [M, K] and B [K, N]: any transposition is a
// choice of strides. A is packed into 4-row panels and B into 4-column panels (k-major,
// float64), so the 4x4 micro-kernel reads both contiguously and keeps 16 sums in registers.
import type { TypedArray } from '../../tensor/dtype.js';

let aPack: Float64Array = new Float64Array(0);
let bPack: Float64Array = new Float64Array(0);

function ensure(buf: Float64Array, n: number): Float64Array {
  return buf.length >= n ? buf : new Float64Array(Math.max(n, buf.length * 2));
}

export interface Strided {
  data: TypedArray;
  offset: number;
  rowStride: number;
  colStride: number;
}

/** C = A·B (+ C when accumulating) on strided matrices; every backend provides one. */
export type GemmFn = (
  M: number,
  N: number,
  K: number,
  a: Strided,
  b: Strided,
  c: Strided,
  accumulate: boolean,
) => void;

/**
 * `count` products C_q = A_q·B_q whose operands lie at fixed element strides (bA, bB, bC)
 * from one to the next, as a batched matmul's are.
 */
export type BatchedGemmFn = (
  count: number,
  M: number,
  N: number,
  K: number,
  a: Strided,
  bA: number,
  b: Strided,
  bB: number,
  c: Strided,
  bC: number,
) => void;

/**
 * Products that share one B [K, N] (a recurrent layer's weights at every step): run(M, a, c,
 * accumulate) is gemm(M, N, K, a, b, c, accumulate), with B packed once where the backend
 * packs; dispose() frees what prepare took.
 */
export interface SharedB {
  run(M: number, a: Strided, c: Strided, accumulate: boolean): void;
  dispose(): void;
}
export type PrepareBFn = (M: number, N: number, K: number, b: Strided) => SharedB;

/** A PrepareBFn that packs nothing ahead: each run is one gemm call. */
export function sharedBFrom(g: GemmFn): PrepareBFn {
  return (_M, N, K, b) => ({
    run: (M, a, c, accumulate) => g(M, N, K, a, b, c, accumulate),
    dispose() {},
  });
}

/** A BatchedGemmFn from a GemmFn: one product after another. */
export function batchedFrom(g: GemmFn): BatchedGemmFn {
  return (count, M, N, K, a, bA, b, bB, c, bC) => {
    for (let q = 0; q < count; q++) {
      g(
        M,
        N,
        K,
        { ...a, offset: a.offset + q * bA },
        { ...b, offset: b.offset + q * bB },
        { ...c, offset: c.offset + q * bC },
        false,
      );
    }
  };
}

export const gemm: GemmFn = (M, N, K, a, b, c, accumulate) => {
  if (M === 0 || N === 0) return;
  const C = c.data;
  if (K === 0) {
    if (!accumulate)
      for (let i = 0; i < M; i++)
        for (let j = 0; j < N; j++) C[c.offset + i * c.rowStride + j * c.colStride] = 0;
    return;
  }
  const mp = Math.ceil(M / 4);
  aPack = ensure(aPack, mp * 4 * K);
  bPack = ensure(bPack, 4 * K);
  const Ap = aPack,
    Bp = bPack;
  const A = a.data,
    B = b.data;
  // Pack A: panel p holds rows 4p..4p+3, element (r, k) at p*4K + 4k + r; rows past M are 0.
  for (let p = 0; p < mp; p++) {
    const base = p * 4 * K;
    for (let r = 0; r < 4; r++) {
      const i = p * 4 + r;
      if (i < M) {
        const ai = a.offset + i * a.rowStride;
        for (let k = 0; k < K; k++) Ap[base + 4 * k + r] = A[ai + k * a.colStride];
      } else {
        for (let k = 0; k < K; k++) Ap[base + 4 * k + r] = 0;
      }
    }
  }
  const cr = c.rowStride,
    cc = c.colStride;
  for (let j0 = 0; j0 < N; j0 += 4) {
    const nj = Math.min(4, N - j0);
    for (let s = 0; s < 4; s++) {
      if (s < nj) {
        const bj = b.offset + (j0 + s) * b.colStride;
        for (let k = 0; k < K; k++) Bp[4 * k + s] = B[bj + k * b.rowStride];
      } else {
        for (let k = 0; k < K; k++) Bp[4 * k + s] = 0;
      }
    }
    for (let p = 0; p < mp; p++) {
      let c00 = 0,
        c01 = 0,
        c02 = 0,
        c03 = 0;
      let c10 = 0,
        c11 = 0,
        c12 = 0,
        c13 = 0;
      let c20 = 0,
        c21 = 0,
        c22 = 0,
        c23 = 0;
      let c30 = 0,
        c31 = 0,
        c32 = 0,
        c33 = 0;
      let ia = p * 4 * K;
      let ib = 0;
      for (let k = 0; k < K; k++) {
        const a0 = Ap[ia],
          a1 = Ap[ia + 1],
          a2 = Ap[ia + 2],
          a3 = Ap[ia + 3];
        const b0 = Bp[ib],
          b1 = Bp[ib + 1],
          b2 = Bp[ib + 2],
          b3 = Bp[ib + 3];
        c00 += a0 * b0;
        c01 += a0 * b1;
        c02 += a0 * b2;
        c03 += a0 * b3;
        c10 += a1 * b0;
        c11 += a1 * b1;
        c12 += a1 * b2;
        c13 += a1 * b3;
        c20 += a2 * b0;
        c21 += a2 * b1;
        c22 += a2 * b2;
        c23 += a2 * b3;
        c30 += a3 * b0;
        c31 += a3 * b1;
        c32 += a3 * b2;
        c33 += a3 * b3;
        ia += 4;
        ib += 4;
      }
      const i0 = p * 4;
      const mi = Math.min(4, M - i0);
      const acc = [c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33];
      for (let r = 0; r < mi; r++) {
        const row = c.offset + (i0 + r) * cr + j0 * cc;
        for (let s = 0; s < nj; s++) {
          const q = row + s * cc;
          C[q] = accumulate ? C[q] + acc[r * 4 + s] : acc[r * 4 + s];
        }
      }
    }
  }
};

/** Row-major view helper: a [rows, cols] matrix at offset, optionally transposed. */
export function mat(data: TypedArray, offset: number, cols: number, transposed = false): Strided {
  return transposed
    ? { data, offset, rowStride: 1, colStride: cols }
    : { data, offset, rowStride: cols, colStride: 1 };
}
