// Fused LayerNorm on x viewed as [rows, cols]: per-row statistics from the shared helper,
// per-column (elementwise) weight and bias applied in the same pass.
import { type KernelSpec, registerKernel } from '../registry.js';
import type { TypedArray } from '../../tensor/dtype.js';
import { dxOver, empty } from '../../tensor/tensor.js';
import { jsNormPrimitives, rowGradCoefficients, rowLayout } from './stats.js';

/**
 * The row-norm passes (see assembly/layernorm.ts); each backend supplies them. `center` is
 * true for LayerNorm and false for RMSNorm (no mean subtracted, no bias, no C term).
 */
export interface ColumnPrimitives {
  /** Per row: mean and inv = 1/√(var + eps) (RMSNorm: 1/√(mean(x²) + eps)), then
   * y = (x − mean)·inv·w[j] + b[j] (b null: none). */
  rowNormForward(
    X: TypedArray,
    Y: TypedArray,
    rows: number,
    W: TypedArray,
    B: TypedArray | null,
    eps: number,
    center: boolean,
  ): { mean: Float64Array; inv: Float64Array };
  /** dx into DX; dweight[j] = Σ_r g·(x − mu[r])·inv[r] into DW and, when DB is given,
   * dbias[j] = Σ_r g into DB. mu is not read when center is false. */
  rowNormBackward(
    G: TypedArray,
    X: TypedArray,
    DX: TypedArray,
    rows: number,
    mu: Float64Array,
    inv: Float64Array,
    W: TypedArray,
    DW: TypedArray,
    DB: TypedArray | null,
    center: boolean,
  ): void;
}

/** The reference: statistics, row sums, input gradient and column sums as separate loops. */
export const jsColumnPrimitives: ColumnPrimitives = {
  rowNormForward(X, Y, rows, W, B, eps, center) {
    const cols = X.length / rows;
    const { mean, m2 } = jsNormPrimitives.moments(X, rowLayout(rows, cols));
    const inv = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      const q = m2[r] / cols;
      inv[r] = 1 / Math.sqrt(center ? q + eps : q + mean[r] * mean[r] + eps);
      const m = center ? mean[r] : 0,
        s = inv[r],
        o = r * cols;
      for (let j = 0; j < cols; j++) Y[o + j] = (X[o + j] - m) * s * W[j] + (B ? B[j] : 0);
    }
    return { mean, inv };
  },
  rowNormBackward(G, X, DX, rows, mu, inv, W, DW, DB, center) {
    const cols = X.length / rows;
    const sg = new Float64Array(rows),
      sgx = new Float64Array(rows);
    const dw = new Float64Array(cols),
      db = new Float64Array(cols);
    for (let r = 0; r < rows; r++) {
      const m = center ? mu[r] : 0,
        o = r * cols;
      for (let j = 0; j < cols; j++) {
        const g = G[o + j] * W[j];
        sg[r] += g;
        sgx[r] += g * (X[o + j] - m);
        db[j] += G[o + j];
        dw[j] += G[o + j] * (X[o + j] - m) * inv[r];
      }
    }
    const { A, B, C } = rowGradCoefficients(sg, sgx, inv, cols);
    for (let r = 0; r < rows; r++) {
      const m = center ? mu[r] : 0,
        c = center ? C[r] : 0,
        o = r * cols;
      for (let j = 0; j < cols; j++) DX[o + j] = G[o + j] * W[j] * A[r] + (X[o + j] - m) * B[r] + c;
    }
    DW.set(dw);
    DB?.set(db);
  },
};

export function registerLayerNormKernels(
  backend: string,
  P: ColumnPrimitives,
  supports?: KernelSpec['supports'],
): void {
  // Inputs [x, weight, bias] (weight and bias shaped like one row); outputs [y, mean, invstd].
  registerKernel({
    name: 'LayerNorm',
    backend,
    supports,
    fn: ([x, w, b], { rows, eps }: { rows: number; eps: number }) => {
      const y = empty(x.shape, x.dtype);
      const { mean: m, inv } = P.rowNormForward(x.data, y.data, rows, w.data, b.data, eps, true);
      const mean = empty([rows], x.dtype),
        invstd = empty([rows], x.dtype);
      mean.data.set(m);
      invstd.data.set(inv);
      return [y, mean, invstd];
    },
  });

  // Inputs [dy, x, mean, invstd, weight]; outputs [dx, dweight, dbias]. With g' = dy·w:
  // dx = invstd·(g' − mean(g') − x̂·mean(g'·x̂)), one pass dx = A·w·dy + B·(x − mean) + C.
  registerKernel({
    name: 'LayerNormBackward',
    backend,
    supports,
    differentiable: false,
    fn: ([dy, x, mean, invstd, w], { intoDy }: { intoDy?: boolean }) => {
      const rows = mean.size;
      const dx = dxOver(x, dy, intoDy),
        dw = empty(w.shape, x.dtype),
        db = empty(w.shape, x.dtype);
      const mu = Float64Array.from(mean.data),
        is = Float64Array.from(invstd.data);
      P.rowNormBackward(dy.data, x.data, dx.data, rows, mu, is, w.data, dw.data, db.data, true);
      return [dx, dw, db];
    },
  });
}

export function registerRmsNormKernels(
  backend: string,
  P: ColumnPrimitives,
  supports?: KernelSpec['supports'],
): void {
  // Inputs [x, weight]; outputs [y, invrms]: y = x·w / sqrt(mean(x²) + eps) per row.
  // mean(x²) = M2/n + mean², a sum of non-negative terms, so it needs no special care.
  registerKernel({
    name: 'RMSNorm',
    backend,
    supports,
    fn: ([x, w], { rows, eps }: { rows: number; eps: number }) => {
      const y = empty(x.shape, x.dtype);
      const { inv } = P.rowNormForward(x.data, y.data, rows, w.data, null, eps, false);
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
    fn: ([dy, x, invrms, w], { intoDy }: { intoDy?: boolean }) => {
      const rows = invrms.size;
      const dx = dxOver(x, dy, intoDy),
        dw = empty(w.shape, x.dtype);
      const r = Float64Array.from(invrms.data);
      // No centring: the mean argument is not read.
      P.rowNormBackward(dy.data, x.data, dx.data, rows, r, r, w.data, dw.data, null, false);
      return [dx, dw];
    },
  });
}
