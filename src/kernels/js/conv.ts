// conv2d as im2col + GEMM, one image and group at a time (bounded scratch memory).
// Backward-input is GEMM + col2im; backward-weight accumulates GEMMs over the batch.
import { type KernelSpec, registerKernel } from '../registry.js';
import type { TypedArray } from '../../tensor/dtype.js';
import { type Tensor, empty } from '../../tensor/tensor.js';
import { workspace } from '../workspace.js';
import { type GemmFn, gemm, mat } from './gemm.js';
import { reluInto } from './elementwise.js';
import { type PoolAttrs, maxPoolPlanes, poolOutShape } from './pool.js';

export interface ConvAttrs {
  stride: [number, number];
  padding: [number, number];
  dilation: [number, number];
  groups: number;
}

export interface Geometry {
  C: number;
  H: number;
  W: number;
  kh: number;
  kw: number;
  oh: number;
  ow: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  dh: number;
  dw: number;
}

export function convOutSize(size: number, k: number, s: number, p: number, d: number): number {
  return Math.floor((size + 2 * p - d * (k - 1) - 1) / s) + 1;
}

/** cols[(c*kh + i)*kw + j, oy*ow + ox] = x[c, oy*sh - ph + i*dh, ox*sw - pw + j*dw] (0 outside). */
function im2col(X: TypedArray, off: number, g: Geometry, out: TypedArray): void {
  const { C, H, W, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw } = g;
  let q = 0;
  for (let c = 0; c < C; c++) {
    const xc = off + c * H * W;
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        for (let oy = 0; oy < oh; oy++) {
          const y = oy * sh - ph + i * dh;
          if (y < 0 || y >= H) {
            for (let ox = 0; ox < ow; ox++) out[q++] = 0;
            continue;
          }
          const row = xc + y * W;
          for (let ox = 0; ox < ow; ox++) {
            const x = ox * sw - pw + j * dw;
            out[q++] = x >= 0 && x < W ? X[row + x] : 0;
          }
        }
      }
    }
  }
}

/** The adjoint of im2col: scatter-adds columns back into dx. */
function col2im(src: TypedArray, DX: TypedArray, off: number, g: Geometry): void {
  const { C, H, W, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw } = g;
  let q = 0;
  for (let c = 0; c < C; c++) {
    const xc = off + c * H * W;
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        for (let oy = 0; oy < oh; oy++) {
          const y = oy * sh - ph + i * dh;
          if (y < 0 || y >= H) {
            q += ow;
            continue;
          }
          const row = xc + y * W;
          for (let ox = 0; ox < ow; ox++) {
            const x = ox * sw - pw + j * dw;
            if (x >= 0 && x < W) DX[row + x] += src[q];
            q++;
          }
        }
      }
    }
  }
}

function geometry(
  xShape: readonly number[],
  wShape: readonly number[],
  a: ConvAttrs,
  outHW?: readonly number[],
): Geometry {
  const [, Cin, H, W] = xShape;
  const [, , kh, kw] = wShape;
  const [sh, sw] = a.stride,
    [ph, pw] = a.padding,
    [dh, dw] = a.dilation;
  const oh = outHW ? outHW[0] : convOutSize(H, kh, sh, ph, dh);
  const ow = outHW ? outHW[1] : convOutSize(W, kw, sw, pw, dw);
  return { C: Cin / a.groups, H, W, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw };
}

function isPointwise(g: Geometry): boolean {
  return g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && g.ph === 0 && g.pw === 0;
}

/** What a backend supplies for conv2d: its GEMM and the im2col pair. */
/** Max pooling by `pool` (values only), then ReLU when `relu`, of a convolution's output. */
export interface ConvPool {
  pool: PoolAttrs;
  relu: boolean;
}

export interface ConvPrimitives {
  gemm: GemmFn;
  /**
   * Optional whole-layer passes for groups = 1 (the WASM backend's, split across threads);
   * each returns false when it cannot take the call, and the per-image path runs instead.
   */
  layer?: {
    /** With pool, y is the pooled output (see ConvPool). */
    forward(
      x: Tensor,
      w: Tensor,
      bias: Tensor | undefined,
      y: Tensor,
      g: Geometry,
      pool?: ConvPool,
    ): boolean;
    backwardInput(dy: Tensor, w: Tensor, dx: Tensor, g: Geometry): boolean;
    backwardWeight(dy: Tensor, x: Tensor, dw: Tensor, g: Geometry): boolean;
  };
  im2col(X: TypedArray, off: number, g: Geometry, out: TypedArray): void;
  col2im(src: TypedArray, DX: TypedArray, off: number, g: Geometry): void;
}

export const jsConvPrimitives: ConvPrimitives = { gemm, im2col, col2im };

/**
 * Registers conv2d forward, backward-input and backward-weight for a backend, given its GEMM.
 * The WASM backend reuses this code with its SIMD GEMM; im2col scratch lives in the shared
 * memory so either GEMM can read it.
 */
export function registerConvKernels(
  backend: string,
  P: ConvPrimitives,
  supports?: KernelSpec['supports'],
): void {
  const { gemm, im2col, col2im } = P;
  /** The per-image path: im2col (or the input itself for 1x1) and a GEMM per group. */
  const forwardInto = (
    x: Tensor,
    w: Tensor,
    bias: Tensor | undefined,
    Y: TypedArray,
    a: ConvAttrs,
  ) => {
    const [N, Cin] = x.shape;
    const Cout = w.shape[0];
    const g = geometry(x.shape, w.shape, a);
    const Cog = Cout / a.groups;
    const Kd = g.C * g.kh * g.kw;
    const HWo = g.oh * g.ow;
    const X = x.data,
      Wt = w.data;
    const direct = isPointwise(g);
    const buf = direct ? X : workspace('im2col', x.dtype, Kd * HWo);
    for (let n = 0; n < N; n++) {
      for (let grp = 0; grp < a.groups; grp++) {
        const xOff = (n * Cin + grp * g.C) * g.H * g.W;
        const b = direct ? mat(X, xOff, HWo) : (im2col(X, xOff, g, buf), mat(buf, 0, HWo));
        gemm(
          Cog,
          HWo,
          Kd,
          mat(Wt, grp * Cog * Kd, Kd),
          b,
          mat(Y, (n * Cout + grp * Cog) * HWo, HWo),
          false,
        );
      }
    }
    if (bias !== undefined) {
      const B = bias.data;
      for (let n = 0; n < N; n++) {
        for (let c = 0; c < Cout; c++) {
          const o = (n * Cout + c) * HWo,
            bv = B[c];
          for (let i = 0; i < HWo; i++) Y[o + i] += bv;
        }
      }
    }
  };

  registerKernel({
    name: 'Conv2d',
    backend,
    supports,
    fn: ([x, w, bias], a: ConvAttrs) => {
      const g = geometry(x.shape, w.shape, a);
      const y = empty([x.shape[0], w.shape[0], g.oh, g.ow], x.dtype);
      if (a.groups === 1 && P.layer?.forward(x, w, bias, y, g)) return y;
      forwardInto(x, w, bias, y.data, a);
      return y;
    },
  });

  // Conv2d followed by max pooling (values only), then ReLU when attrs.relu, for calls that
  // record no gradient: the WASM passes pool each image's output from cache, so the full
  // output never goes to memory; otherwise the three steps one after the other.
  registerKernel({
    name: 'Conv2dPool',
    backend,
    supports,
    differentiable: false,
    fn: ([x, w, bias], a: ConvAttrs & ConvPool) => {
      const g = geometry(x.shape, w.shape, a);
      const [N, C, oh, ow] = poolOutShape([x.shape[0], w.shape[0], g.oh, g.ow], a.pool);
      const y = empty([N, C, oh, ow], x.dtype);
      if (a.groups === 1 && P.layer?.forward(x, w, bias, y, g, a)) return y;
      const full = empty([N, C, g.oh, g.ow], x.dtype); // freed here, not kept as scratch
      try {
        forwardInto(x, w, bias, full.data, a);
        maxPoolPlanes(full.data, N * C, g.oh, g.ow, a.pool, oh, ow, y.data, null);
      } finally {
        full.dispose();
      }
      if (a.relu) reluInto(y.data, y.data);
      return y;
    },
  });

  registerKernel({
    name: 'Conv2dBackwardInput',
    backend,
    supports,
    differentiable: false,
    fn: ([dy, w], a: ConvAttrs & { inputShape: number[] }) => {
      const [N, Cin] = a.inputShape;
      const Cout = w.shape[0];
      const g = geometry(a.inputShape, w.shape, a, dy.shape.slice(2));
      const Cog = Cout / a.groups;
      const Kd = g.C * g.kh * g.kw;
      const HWo = g.oh * g.ow;
      const dx = empty(a.inputShape, dy.dtype);
      if (a.groups === 1 && P.layer?.backwardInput(dy, w, dx, g)) return dx;
      const DX = dx.data,
        DY = dy.data,
        Wt = w.data;
      DX.fill(0);
      const buf = workspace('im2col', dy.dtype, Kd * HWo);
      for (let n = 0; n < N; n++) {
        for (let grp = 0; grp < a.groups; grp++) {
          // dcols [Kd, HWo] = W_g^T [Kd, Cog] · dy [Cog, HWo]
          gemm(
            Kd,
            HWo,
            Cog,
            mat(Wt, grp * Cog * Kd, Kd, true),
            mat(DY, (n * Cout + grp * Cog) * HWo, HWo),
            mat(buf, 0, HWo),
            false,
          );
          col2im(buf, DX, (n * Cin + grp * g.C) * g.H * g.W, g);
        }
      }
      return dx;
    },
  });

  registerKernel({
    name: 'Conv2dBackwardWeight',
    backend,
    supports,
    differentiable: false,
    fn: ([dy, x], a: ConvAttrs & { weightShape: number[] }) => {
      const [N, Cin] = x.shape;
      const Cout = a.weightShape[0];
      const g = geometry(x.shape, a.weightShape, a, dy.shape.slice(2));
      const Cog = Cout / a.groups;
      const Kd = g.C * g.kh * g.kw;
      const HWo = g.oh * g.ow;
      const dw = empty(a.weightShape, dy.dtype);
      if (a.groups === 1 && P.layer?.backwardWeight(dy, x, dw, g)) return dw;
      const DW = dw.data,
        DY = dy.data,
        X = x.data;
      const direct = isPointwise(g);
      const buf = direct ? X : workspace('im2col', x.dtype, Kd * HWo);
      for (let n = 0; n < N; n++) {
        for (let grp = 0; grp < a.groups; grp++) {
          const xOff = (n * Cin + grp * g.C) * g.H * g.W;
          const c = direct
            ? mat(X, xOff, HWo, true)
            : (im2col(X, xOff, g, buf), mat(buf, 0, HWo, true));
          // dW_g [Cog, Kd] += dy [Cog, HWo] · cols^T [HWo, Kd]
          gemm(
            Cog,
            Kd,
            HWo,
            mat(DY, (n * Cout + grp * Cog) * HWo, HWo),
            c,
            mat(DW, grp * Cog * Kd, Kd),
            n > 0,
          );
        }
      }
      return dw;
    },
  });
}
