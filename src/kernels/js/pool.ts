// 2-D pooling over [N, C, H, W], each (n, c) plane independently. Max pooling here; average
// pooling as a family over window primitives (registerAvgPoolKernels) each backend supplies.
import { type KernelSpec, registerKernel } from '../registry.js';
import type { TypedArray } from '../../tensor/dtype.js';
import { empty } from '../../tensor/tensor.js';

export interface PoolAttrs {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  ceilMode?: boolean;
  countIncludePad?: boolean;
  /** MaxPool2d: false when no gradient will need the argmax (a kernel may then skip it). */
  indices?: boolean;
}

export function poolOutSize(size: number, k: number, s: number, p: number, ceil = false): number {
  const span = size + 2 * p - k;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  // PyTorch: with ceil_mode the last window must start inside the (left-padded) input.
  if (ceil && (out - 1) * s >= size + p) out--;
  return out;
}

/**
 * Max pooling of `planes` planes [H, W] of X into Y [planes, oh, ow] and, unless I is null,
 * each window's flat index within its plane (exact in float32 for planes below 2^24
 * elements), which the backward scatters through. A value wins if greater or NaN, in window
 * order (PyTorch's rule).
 */
export function maxPoolPlanes(
  X: TypedArray,
  planes: number,
  H: number,
  W: number,
  a: PoolAttrs,
  oh: number,
  ow: number,
  Y: TypedArray,
  I: TypedArray | null,
): void {
  const [kh, kw] = a.kernel,
    [sh, sw] = a.stride,
    [ph, pw] = a.padding;
  let q = 0;
  for (let p = 0; p < planes; p++) {
    const base = p * H * W;
    for (let oy = 0; oy < oh; oy++) {
      const y0 = oy * sh - ph;
      const ya = Math.max(y0, 0),
        yb = Math.min(y0 + kh, H);
      for (let ox = 0; ox < ow; ox++) {
        const x0 = ox * sw - pw;
        const xa = Math.max(x0, 0),
          xb = Math.min(x0 + kw, W);
        let best = -Infinity,
          bi = ya * W + xa;
        for (let yy = ya; yy < yb; yy++) {
          for (let xx = xa; xx < xb; xx++) {
            const v = X[base + yy * W + xx];
            if (v > best || Number.isNaN(v)) {
              best = v;
              bi = yy * W + xx;
            }
          }
        }
        Y[q] = best;
        if (I !== null) I[q] = bi;
        q++;
      }
    }
  }
}

/** The output size of max pooling attrs a over [N, C, H, W]. */
export function poolOutShape(shape: readonly number[], a: PoolAttrs): number[] {
  const [N, C, H, W] = shape;
  return [
    N,
    C,
    poolOutSize(H, a.kernel[0], a.stride[0], a.padding[0], a.ceilMode),
    poolOutSize(W, a.kernel[1], a.stride[1], a.padding[1], a.ceilMode),
  ];
}

// MaxPool2d returns [y, argmax] (maxPoolPlanes).
registerKernel({
  name: 'MaxPool2d',
  backend: 'js',
  fn: ([x], a: PoolAttrs) => {
    const [N, C, H, W] = x.shape;
    const out = poolOutShape(x.shape, a);
    const y = empty(out, x.dtype);
    const idx = empty(out, x.dtype);
    maxPoolPlanes(x.data, N * C, H, W, a, out[2], out[3], y.data, idx.data);
    return [y, idx];
  },
});

registerKernel({
  name: 'MaxPool2dGrad',
  backend: 'js',
  differentiable: false,
  fn: ([dy, idx], { inputShape }: { inputShape: number[] }) => {
    const [N, C, H, W] = inputShape;
    const dx = empty(inputShape, dy.dtype);
    const DX = dx.data,
      DY = dy.data,
      I = idx.data;
    DX.fill(0);
    const per = dy.size / (N * C);
    for (let p = 0; p < N * C; p++) {
      const base = p * H * W;
      for (let j = 0; j < per; j++) DX[base + I[p * per + j]] += DY[p * per + j];
    }
    return dx;
  },
});

/**
 * Average pooling is separable: output (oy, ox) averages input rows rows[3oy]..rows[3oy+1]
 * (exclusive) × columns cols[3ox]..cols[3ox+1] and divides by rows[3oy+2]·cols[3ox+2].
 * AvgPool2d (PyTorch's padding and ceil-mode divisors) and AdaptiveAvgPool2d only differ in
 * these per-axis tables; each backend supplies the pass over them.
 */
export interface WindowPrimitives {
  /**
   * Forward: src = x [planes, H, W] → dst = y [planes, oh, ow]. With grad: src = dy
   * [planes, oh, ow] → dst = dx [planes, H, W], each dy / divisor added over its window.
   */
  windowAvg(
    src: TypedArray,
    dst: TypedArray,
    planes: number,
    H: number,
    W: number,
    rows: Int32Array,
    cols: Int32Array,
    grad: boolean,
  ): void;
}

/** AvgPool2d's windows along one axis. */
export function avgPoolAxis(
  size: number,
  k: number,
  s: number,
  p: number,
  ceil = false,
  includePad = true,
): Int32Array {
  const out = poolOutSize(size, k, s, p, ceil);
  const t = new Int32Array(3 * out);
  for (let i = 0; i < out; i++) {
    const start = i * s - p;
    const a = Math.max(start, 0),
      b = Math.min(start + k, size);
    t.set([a, b, includePad ? Math.min(start + k, size + p) - start : b - a], 3 * i);
  }
  return t;
}

/** AdaptiveAvgPool2d's windows along one axis (PyTorch: [floor(i·in/out), ceil((i+1)·in/out))). */
export function adaptiveAxis(inSize: number, outSize: number): Int32Array {
  const t = new Int32Array(3 * outSize);
  for (let i = 0; i < outSize; i++) {
    const a = Math.floor((i * inSize) / outSize),
      b = Math.ceil(((i + 1) * inSize) / outSize);
    t.set([a, b, b - a], 3 * i);
  }
  return t;
}

export const jsWindowPrimitives: WindowPrimitives = {
  windowAvg(src, dst, planes, H, W, rows, cols, grad) {
    const oh = rows.length / 3,
      ow = cols.length / 3;
    if (grad) dst.fill(0);
    let o = 0;
    for (let p = 0; p < planes; p++)
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++, o++) {
          const div = rows[3 * oy + 2] * cols[3 * ox + 2];
          let s = 0;
          const g = grad ? src[o] / div : 0;
          for (let yy = rows[3 * oy]; yy < rows[3 * oy + 1]; yy++)
            for (let xx = cols[3 * ox]; xx < cols[3 * ox + 1]; xx++) {
              const i = (p * H + yy) * W + xx;
              if (grad) dst[i] += g;
              else s += src[i];
            }
          if (!grad) dst[o] = s / div;
        }
  },
};

/** Registers `name` and `name`Grad over the window tables that `tables` builds. */
function registerWindowPair(
  name: string,
  backend: string,
  P: WindowPrimitives,
  supports: KernelSpec['supports'] | undefined,
  // The input shape, the attributes, and for the gradient the output's [oh, ow].
  tables: (shape: readonly number[], a: any, out?: number[]) => Int32Array[],
): void {
  registerKernel({
    name,
    backend,
    supports,
    fn: ([x], a) => {
      const [N, C, H, W] = x.shape;
      const [rows, cols] = tables(x.shape, a);
      const y = empty([N, C, rows.length / 3, cols.length / 3], x.dtype);
      P.windowAvg(x.data, y.data, N * C, H, W, rows, cols, false);
      return y;
    },
  });
  registerKernel({
    name: `${name}Grad`,
    backend,
    supports,
    differentiable: false,
    fn: ([dy], a: { inputShape: number[] }) => {
      const [N, C, H, W] = a.inputShape;
      const [rows, cols] = tables(a.inputShape, a, dy.shape.slice(2));
      const dx = empty(a.inputShape, dy.dtype);
      P.windowAvg(dy.data, dx.data, N * C, H, W, rows, cols, true);
      return dx;
    },
  });
}

export function registerAvgPoolKernels(
  backend: string,
  P: WindowPrimitives,
  supports?: KernelSpec['supports'],
): void {
  registerWindowPair('AvgPool2d', backend, P, supports, (shape, a: PoolAttrs) =>
    [0, 1].map((i) =>
      avgPoolAxis(
        shape[2 + i],
        a.kernel[i],
        a.stride[i],
        a.padding[i],
        a.ceilMode,
        a.countIncludePad !== false,
      ),
    ),
  );
  registerWindowPair(
    'AdaptiveAvgPool2d',
    backend,
    P,
    supports,
    (shape, a: { outputSize: number[] }, out = a.outputSize) =>
      [0, 1].map((i) => adaptiveAxis(shape[2 + i], out[i])),
  );
}
