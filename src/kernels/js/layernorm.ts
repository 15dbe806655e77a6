// Fused LayerNorm on x viewed as [rows, cols]: per-row statistics from the shared helper,
// per-column (elementwise) weight and bias applied in the same pass.
import { type KernelSpec, registerKernel } from '../registry.js';
import type { TypedArray } from '../../tensor/dtype.js';
import { empty } from '../../tensor/tensor.js';
import { type NormPrimitives, rowGradCoefficients, rowLayout } from './stats.js';

/** The column-affine passes (see assembly/layernorm.ts); each backend supplies them. */
export interface ColumnPrimitives {
  /** y = (x − mu[r])·inv[r]·w[j] + b[j]. */
  colAffine(
    X: TypedArray,
    Y: TypedArray,
    rows: number,
    mu: Float64Array,
    inv: Float64Array,
    W: TypedArray,
    B: TypedArray,
  ): void;
  /** Per row: Σ g·w[j] and Σ g·w[j]·(x − mu[r]). */
  colGradSums(
    G: TypedArray,
    X: TypedArray,
    rows: number,
    mu: Float64Array,
    W: TypedArray,
  ): { sg: Float64Array; sgx: Float64Array };
  /** dx = A[r]·w[j]·g + B[r]·(x − mu[r]) + C[r]. */
  colAffine2(
    G: TypedArray,
    X: TypedArray,
    DX: TypedArray,
    rows: number,
    mu: Float64Array,
    A: Float64Array,
    B: Float64Array,
    C: Float64Array,
    W: TypedArray,
  ): void;
  /** dw[j] = Σ_r g·(x − mu[r])·inv[r], db[j] = Σ_r g. */
  colSums(
    G: TypedArray,
    X: TypedArray,
    rows: number,
    mu: Float64Array,
    inv: Float64Array,
  ): { dw: Float64Array; db: Float64Array };
}

export const jsColumnPrimitives: ColumnPrimitives = {
  colAffine(X, Y, rows, mu, inv, W, B) {
    const cols = X.length / rows;
    for (let r = 0; r < rows; r++) {
      const m = mu[r],
        s = inv[r],
        o = r * cols;
      for (let j = 0; j < cols; j++) Y[o + j] = (X[o + j] - m) * s * W[j] + B[j];
    }
  },
  colGradSums(G, X, rows, mu, W) {
    const cols = X.length / rows;
    const sg = new Float64Array(rows),
      sgx = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      const m = mu[r],
        o = r * cols;
      let a = 0,
        h = 0;
      for (let j = 0; j < cols; j++) {
        const g = G[o + j] * W[j];
        a += g;
        h += g * (X[o + j] - m);
      }
      sg[r] = a;
      sgx[r] = h;
    }
    return { sg, sgx };
  },
  colAffine2(G, X, DX, rows, mu, A, B, C, W) {
    const cols = X.length / rows;
    for (let r = 0; r < rows; r++) {
      const m = mu[r],
        a = A[r],
        b = B[r],
        c = C[r],
        o = r * cols;
      for (let j = 0; j < cols; j++) DX[o + j] = G[o + j] * W[j] * a + (X[o + j] - m) * b + c;
    }
  },
  colSums(G, X, rows, mu, inv) {
    const cols = X.length / rows;
    const dw = new Float64Array(cols),
      db = new Float64Array(cols);
    for (let r = 0; r < rows; r++) {
      const m = mu[r],
        s = inv[r],
        o = r * cols;
      for (let j = 0; j < cols; j++) {
        db[j] += G[o + j];
        dw[j] += G[o + j] * (X[o + j] - m) * s;
      }
    }
    return { dw, db };
  },
};

export function registerLayerNormKernels(
  backend: string,
  P: NormPrimitives & ColumnPrimitives,
  supports?: KernelSpec['supports'],
): void {
  // Inputs [x, weight, bias] (weight and bias shaped like one row); outputs [y, mean, invstd].
  registerKernel({
    name: 'LayerNorm',
    backend,
    supports,
    fn: ([x, w, b], { rows, eps }: { rows: number; eps: number }) => {
      const cols = x.size / rows;
      const m = P.moments(x.data, rowLayout(rows, cols));
      const inv = new Float64Array(rows);
      for (let r = 0; r < rows; r++) inv[r] = 1 / Math.sqrt(m.m2[r] / cols + eps);
      const y = empty(x.shape, x.dtype);
      P.colAffine(x.data, y.data, rows, m.mean, inv, w.data, b.data);
      const mean = empty([rows], x.dtype),
        invstd = empty([rows], x.dtype);
      mean.data.set(m.mean);
      invstd.data.set(inv);
      return [y, mean, invstd];
    },
  });

  // Inputs [dy, x, mean, invstd, weight]; outputs [dx, dweight, dbias]. With g' = dy·w:
  // dx = invstd·(g' − mean(g') − x̂·mean(g'·x̂)) as one pass dx = A·w·dy + B·(x − mean) + C.
  registerKernel({
    name: 'LayerNormBackward',
    backend,
    supports,
    differentiable: false,
    fn: ([dy, x, mean, invstd, w]) => {
      const rows = mean.size;
      const cols = x.size / rows;
      const mu = Float64Array.from(mean.data),
        is = Float64Array.from(invstd.data);
      const { sg, sgx } = P.colGradSums(dy.data, x.data, rows, mu, w.data);
      const { A, B, C } = rowGradCoefficients(sg, sgx, is, cols);
      const dx = empty(x.shape, x.dtype);
      P.colAffine2(dy.data, x.data, dx.data, rows, mu, A, B, C, w.data);
      const { dw, db } = P.colSums(dy.data, x.data, rows, mu, is);
      const dwt = empty(w.shape, x.dtype),
        dbt = empty(w.shape, x.dtype);
      dwt.data.set(dw);
      dbt.data.set(db);
      return [dx, dwt, dbt];
    },
  });
}

export function registerRmsNormKernels(
  backend: string,
  P: NormPrimitives & ColumnPrimitives,
  supports?: KernelSpec['supports'],
): void {
  // Inputs [x, weight]; outputs [y, invrms]: y = x·w / sqrt(mean(x²) + eps) per row.
  // mean(x²) = M2/n + mean², a sum of non-negative terms, so it needs no special care.
  registerKernel({
    name: 'RMSNorm',
    backend,
    supports,
    fn: ([x, w], { rows, eps }: { rows: number; eps: number }) => {
      const cols = x.size / rows;
      const m = P.moments(x.data, rowLayout(rows, cols));
      const inv = new Float64Array(rows);
      for (let r = 0; r < rows; r++)
        inv[r] = 1 / Math.sqrt(m.m2[r] / cols + m.mean[r] * m.mean[r] + eps);
      const y = empty(x.shape, x.dtype);
      const zero = empty(w.shape, x.dtype);
      zero.data.fill(0);
      P.colAffine(x.data, y.data, rows, new Float64Array(rows), inv, w.data, zero.data);
      zero.dispose();
      const invrms = empty([rows], x.dtype);
      invrms.data.set(inv);
      return [y, invrms];
    },
  });

  // Inputs [dy, x, invrms, weight]; outputs [dx, dweight]. With g' = dy·w and r = invrms:
  // dx = r·g' − x·r³·mean(g'·x), dweight = Σ_rows dy·x·r.
  registerKernel({
    name: 'RMSNormBackward',
    backend,
    supports,
    differentiable: false,
    fn: ([dy, x, invrms, w]) => {
      const rows = invrms.size;
      const cols = x.size / rows;
      const zero = new Float64Array(rows),
        r = Float64Array.from(invrms.data);
      const { sgx } = P.colGradSums(dy.data, x.data, rows, zero, w.data);
      const B = new Float64Array(rows);
      for (let i = 0; i < rows; i++) B[i] = (-r[i] * r[i] * r[i] * sgx[i]) / cols;
      const dx = empty(x.shape, x.dtype);
      P.colAffine2(dy.data, x.data, dx.data, rows, zero, r, B, zero, w.data);
      const dwt = empty(w.shape, x.dtype);
      dwt.data.set(P.colSums(dy.data, x.data, rows, zero, r).dw);
      return [dx, dwt];
    },
  });
}
