// The WASM implementations of the kernel primitives. Each checks that its arrays live in the
// shared memory as float32 and otherwise defers to the JS reference, so a caller never needs
// to know which one ran.
import type { TypedArray } from '../../tensor/dtype.js';
import { type ConvPrimitives, type Geometry, jsConvPrimitives } from '../js/conv.js';
import { type ColumnPrimitives, jsColumnPrimitives } from '../js/layernorm.js';
import { type NormPrimitives, type StatLayout, jsNormPrimitives } from '../js/stats.js';
import { makeWasmGemm } from './gemm.js';
import type { WasmKernels } from './loader.js';
import { f64Args, f64Read, heapPtr } from './memory.js';

function ptrs(...arrays: TypedArray[]): number[] | null {
  const out: number[] = [];
  for (const a of arrays) {
    const p = heapPtr(a);
    if (p === null) return null;
    out.push(p);
  }
  return out;
}

const layoutArgs = (L: StatLayout) =>
  [0, L.numStats, L.outer, L.outerStride, L.statStride, L.inner] as const;

export function wasmNormPrimitives(k: WasmKernels): NormPrimitives {
  const js = jsNormPrimitives;
  return {
    moments(X, L) {
      const p = ptrs(X);
      if (p === null) return js.moments(X, L);
      const [mean, m2] = f64Args(
        'norm-out',
        new Float64Array(L.numStats),
        new Float64Array(L.numStats),
      );
      k.moments(p[0], ...layoutArgs(L), mean, m2);
      return {
        count: L.outer * L.inner,
        mean: f64Read(mean, L.numStats),
        m2: f64Read(m2, L.numStats),
      };
    },
    affine(X, Y, L, c, a, b, relu = false) {
      const p = ptrs(X, Y);
      if (p === null) return js.affine(X, Y, L, c, a, b, relu);
      const [pc, pa, pb] = f64Args('norm-in', c, a, b);
      k.affine(p[0], p[1], ...layoutArgs(L), pc, pa, pb, relu ? 1 : 0);
    },
    gradSums(G, X, L, mu) {
      const p = ptrs(G, X);
      if (p === null) return js.gradSums(G, X, L, mu);
      const [pmu] = f64Args('norm-in', mu);
      const [sg, sgx] = f64Args(
        'norm-out',
        new Float64Array(L.numStats),
        new Float64Array(L.numStats),
      );
      k.gradSums(p[0], p[1], ...layoutArgs(L), pmu, sg, sgx);
      return { sg: f64Read(sg, L.numStats), sgx: f64Read(sgx, L.numStats) };
    },
    affine2(G, X, DX, L, A, B, C) {
      const p = ptrs(G, X, DX);
      if (p === null) return js.affine2(G, X, DX, L, A, B, C);
      const [pa, pb, pc] = f64Args('norm-in', A, B, C);
      k.affine2(p[0], p[1], p[2], ...layoutArgs(L), pa, pb, pc);
    },
  };
}

const geom = (g: Geometry) =>
  [g.C, g.H, g.W, g.kh, g.kw, g.oh, g.ow, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw] as const;

export function wasmConvPrimitives(k: WasmKernels): ConvPrimitives {
  const js = jsConvPrimitives;
  return {
    gemm: makeWasmGemm(k),
    im2col(X, off, g, out) {
      const p = ptrs(X, out);
      if (p === null) return js.im2col(X, off, g, out);
      k.im2col(p[0] + off * 4, ...geom(g), p[1]);
    },
    col2im(src, DX, off, g) {
      const p = ptrs(src, DX);
      if (p === null) return js.col2im(src, DX, off, g);
      k.col2im(p[0], p[1] + off * 4, ...geom(g));
    },
  };
}

export function wasmColumnPrimitives(k: WasmKernels): ColumnPrimitives {
  const js = jsColumnPrimitives;
  return {
    colAffine(X, Y, rows, mu, inv, W, B) {
      const p = ptrs(X, Y, W, B);
      if (p === null) return js.colAffine(X, Y, rows, mu, inv, W, B);
      const [pm, pi] = f64Args('norm-in', mu, inv);
      k.colAffine(p[0], p[1], rows, X.length / rows, pm, pi, p[2], p[3]);
    },
    colGradSums(G, X, rows, mu, W) {
      const p = ptrs(G, X, W);
      if (p === null) return js.colGradSums(G, X, rows, mu, W);
      const [pm] = f64Args('norm-in', mu);
      const [sg, sgx] = f64Args('norm-out', new Float64Array(rows), new Float64Array(rows));
      k.colGradSums(p[0], p[1], rows, X.length / rows, pm, p[2], sg, sgx);
      return { sg: f64Read(sg, rows), sgx: f64Read(sgx, rows) };
    },
    colAffine2(G, X, DX, rows, A, B, C, W) {
      const p = ptrs(G, X, DX, W);
      if (p === null) return js.colAffine2(G, X, DX, rows, A, B, C, W);
      const [pa, pb, pc] = f64Args('norm-in', A, B, C);
      k.colAffine2(p[0], p[1], p[2], rows, X.length / rows, pa, pb, pc, p[3]);
    },
    colSums(G, X, rows, mu, inv) {
      const p = ptrs(G, X);
      if (p === null) return js.colSums(G, X, rows, mu, inv);
      const cols = X.length / rows;
      const [pm, pi] = f64Args('norm-in', mu, inv);
      const [dw, db] = f64Args('norm-out', new Float64Array(cols), new Float64Array(cols));
      k.colSums(p[0], p[1], rows, cols, pm, pi, dw, db);
      return { dw: f64Read(dw, cols), db: f64Read(db, cols) };
    },
  };
}
