// The WASM implementations of the kernel primitives. Each checks that its arrays live in the
// shared memory as float32 and otherwise defers to the JS reference, so a caller never needs
// to know which one ran. Work is split across kernel threads over independent outputs only
// (statistics, rows, columns, channels), so results do not depend on the thread count.
import type { TypedArray } from '../../tensor/dtype.js';
import { type ConvPrimitives, type Geometry, jsConvPrimitives } from '../js/conv.js';
import { type ColumnPrimitives, jsColumnPrimitives } from '../js/layernorm.js';
import { type PoolAttrs, type WindowPrimitives, jsWindowPrimitives } from '../js/pool.js';
import {
  type CellPrimitives,
  GATES,
  KIND_CODE,
  SAVED,
  type Vec,
  jsCellPrimitives,
} from '../js/recurrent.js';
import {
  type Moments,
  type NormPrimitives,
  type StatLayout,
  type StatParams,
  jsNormPrimitives,
  rowGradCoefficients,
  rowLayout,
} from '../js/stats.js';
import { columnGradCoefficients, jsColumnPasses } from '../js/stats-columns.js';
import { gemmWorkspace, makeWasmGemm } from './gemm.js';
import { wasmKernels } from './loader.js';
import { f32Args, f64Args, f64Read, heapPtr } from './memory.js';
import { heap } from '../../memory/allocator.js';
import { parallelFor } from './threads.js';
import { workspaceBytes } from '../workspace.js';
import { winogradApplies, winogradConv, winogradWeightGrad } from './winograd.js';

/** Elements a thread should get at least before splitting pays for the hand-off. */
export const GRAIN_ELEMENTS = 1 << 15;

function ptrs(...arrays: TypedArray[]): number[] | null {
  const out: number[] = [];
  for (const a of arrays) {
    const p = heapPtr(a);
    if (p === null) return null;
    out.push(p);
  }
  return out;
}

/**
 * Splits statistics [0, numStats) across threads; args get (s0, s1) then the layout, the tail
 * and the thread's own (perThread, given its index).
 */
function overStats(
  fn: string,
  L: StatLayout,
  head: number[],
  tail: number[],
  perThread: (t: number) => number[] = () => [],
): void {
  const per = Math.max(1, L.outer * L.inner);
  parallelFor(fn, L.numStats, Math.ceil(GRAIN_ELEMENTS / per), (s0, s1, t) => [
    ...head,
    s0,
    s1,
    L.outer,
    L.outerStride,
    L.statStride,
    L.inner,
    ...tail,
    ...perThread(t),
  ]);
}

/**
 * The pooling geometry block the kernels that pool their output from cache read (pool.ts's
 * poolPlanes): max pooling by `a` of planes [H, W] into [oh, ow] planes at heap offset y, with
 * the argmax at idx (0: values only). Returns its heap offset.
 */
function poolGeometry(
  a: PoolAttrs,
  H: number,
  W: number,
  oh: number,
  ow: number,
  y: number,
  idx: number,
) {
  const geometry = [H, W, ...a.kernel, ...a.stride, ...a.padding, oh, ow, y, idx];
  const at = workspaceBytes('pool-geometry', geometry.length * 4);
  new Int32Array(heap.buffer, at, geometry.length).set(geometry);
  return at;
}

/** assembly/stats.ts's normalize over the layout (y unused when pooled: see there). */
function normalizeCall(
  x: number,
  y: number,
  L: StatLayout,
  eps: number,
  prm: StatParams,
  relu: boolean,
  pool: number,
  planes: (t: number) => number[] = () => [0],
): Moments {
  const [pw, pb] = f64Args('norm-in', prm.w, prm.b);
  const [mean, m2] = f64Args(
    'norm-out',
    new Float64Array(L.numStats),
    new Float64Array(L.numStats),
  );
  const tail = [prm.P, prm.Q, pw, pb, eps, relu ? 1 : 0, mean, m2, pool];
  overStats('normalize', L, [x, y], tail, planes);
  return {
    count: L.outer * L.inner,
    mean: f64Read(mean, L.numStats),
    m2: f64Read(m2, L.numStats),
  };
}

export function wasmNormPrimitives(): NormPrimitives {
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
      overStats('moments', L, [p[0]], [mean, m2]);
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
      overStats('affine', L, [p[0], p[1]], [pc, pa, pb, relu ? 1 : 0]);
    },
    normalize(X, Y, L, eps, prm, relu = false) {
      const p = ptrs(X, Y);
      if (p === null) return js.normalize(X, Y, L, eps, prm, relu);
      return normalizeCall(p[0], p[1], L, eps, prm, relu, 0);
    },
    normalizePooled(X, L, eps, prm, out) {
      const p = ptrs(X, out.Y, ...(out.I ? [out.I] : []));
      if (p === null) return js.normalizePooled(X, L, eps, prm, out);
      const { attrs: a, H, W, oh, ow } = out;
      const pool = poolGeometry(a, H, W, oh, ow, p[1], p[2] ?? 0);
      // Each thread's two planes of normalized values, pooled from there.
      const planes = (t: number) => [workspaceBytes(`pool-planes-${t}`, 2 * H * W * 4)];
      return normalizeCall(p[0], 0, L, eps, prm, false, pool, planes);
    },
    normalizeBackward(G, X, DX, L, mu, inv, prm, mask) {
      const p = ptrs(G, X, DX, ...(mask ? [mask] : []));
      if (p === null) return js.normalizeBackward(G, X, DX, L, mu, inv, prm, mask);
      const [pw, pm, pi] = f64Args('norm-in', prm.w, mu, inv);
      const n = L.numStats * prm.Q;
      const [sg, sgx] = f64Args('norm-out', new Float64Array(n), new Float64Array(n));
      const tail = [prm.P, prm.Q, pw, pm, pi, sg, sgx, mask ? p[3] : 0];
      overStats('normalizeBackward', L, [p[0], p[1], p[2]], tail);
      return { sg: f64Read(sg, n), sgx: f64Read(sgx, n) };
    },
  };
}

/**
 * Rows per group of LayerNorm/RMSNorm column partials: set by the row count alone, so the
 * sums of dweight and dbias have one order whatever the thread count; about four groups
 * (threads take whole groups), at most 64 rows (the float32 partial sums' limit).
 */
const groupRowsFor = (rows: number) => Math.min(64, Math.ceil(rows / 4));

export function wasmColumnPrimitives(): ColumnPrimitives {
  const js = jsColumnPrimitives;
  return {
    rowNormForward(X, Y, rows, W, B, eps, center) {
      const p = ptrs(X, Y, W, ...(B ? [B] : []));
      if (p === null) return js.rowNormForward(X, Y, rows, W, B, eps, center);
      const cols = X.length / rows;
      if (cols > 4 * CHUNK_COLS) return chunkedForward(X, p, rows, cols, eps, center, !!B);
      const [mean, inv] = f64Args('norm-out', new Float64Array(rows), new Float64Array(rows));
      const grain = Math.ceil(GRAIN_ELEMENTS / Math.max(1, cols));
      parallelFor('rowNormForward', rows, grain, (r0, r1) => [
        p[0] + r0 * cols * 4,
        p[1] + r0 * cols * 4,
        r1 - r0,
        cols,
        p[2],
        B ? p[3] : 0,
        eps,
        center ? 1 : 0,
        mean + r0 * 8,
        inv + r0 * 8,
      ]);
      return { mean: f64Read(mean, rows), inv: f64Read(inv, rows) };
    },
    rowNormBackward(G, X, DX, rows, mu, inv, W, DW, DB, center) {
      const p = ptrs(G, X, DX, W, DW, ...(DB ? [DB] : []));
      if (p === null) return js.rowNormBackward(G, X, DX, rows, mu, inv, W, DW, DB, center);
      const cols = X.length / rows;
      const [pm, pi] = f64Args('norm-in', mu, inv);
      if (cols > 4 * CHUNK_COLS) return chunkedBackward(p, rows, cols, pm, pi, inv, center, !!DB);
      const G1 = groupRowsFor(rows),
        groups = Math.ceil(rows / G1);
      const partials = workspaceBytes('rownorm-partials', 2 * groups * cols * 4);
      const pb = partials + groups * cols * 4;
      const grain = Math.ceil(GRAIN_ELEMENTS / Math.max(1, G1 * cols));
      parallelFor('rowNormBackward', groups, grain, (g0, g1) => [
        p[0] + g0 * G1 * cols * 4,
        p[1] + g0 * G1 * cols * 4,
        p[2] + g0 * G1 * cols * 4,
        Math.min(rows, g1 * G1) - g0 * G1,
        cols,
        G1,
        pm + g0 * G1 * 8,
        pi + g0 * G1 * 8,
        p[3],
        center ? 1 : 0,
        partials + g0 * cols * 4,
        pb + g0 * cols * 4,
      ]);
      const sums: [number, number][] = [[partials, p[4]]];
      if (DB) sums.push([pb, p[5]]);
      for (const [src, out] of sums)
        parallelFor('groupColSums', cols, Math.ceil(GRAIN_ELEMENTS / groups), (j0, j1) => [
          src + j0 * 4,
          groups,
          cols,
          j1 - j0,
          out + j0 * 4,
        ]);
    },
  };
}

/** Columns per chunk of the long-row backward (assembly/layernorm.ts, rowNormGradChunks). */
const CHUNK_COLS = 2048;

/**
 * Rows per block of the chunked passes: a block's rows of one tensor take at most 2 MB, so
 * that what the first pass over a block reads (x; dy and x) is still in cache when the
 * second pass reads it again, on caches from a 2 MB L2 to a shared L3 of a few MB. Set by
 * the row length alone: the results do not depend on it (see rowNormGradChunks).
 */
const blockRows = (cols: number) => Math.max(1, Math.floor((2 << 20) / (cols * 4)));

/**
 * Runs a chunked row-norm pass (assembly/layernorm.ts) over the column chunks of rows
 * [ra, rb) of [rows, cols], threads taking whole chunks; args(k0, k1) are the call's
 * arguments before the row range.
 */
function overChunks(
  fn: string,
  cols: number,
  ra: number,
  rb: number,
  args: (k0: number, k1: number) => number[],
): void {
  const chunks = Math.ceil(cols / CHUNK_COLS);
  const grain = Math.max(1, Math.ceil(GRAIN_ELEMENTS / ((rb - ra) * CHUNK_COLS)));
  parallelFor(fn, chunks, grain, (k0, k1) => [...args(k0, k1), ra, rb]);
}

/**
 * LayerNorm/RMSNorm forward for rows longer than 4 chunks, block of rows by block: the
 * rows' moments (the shared helper), then the affine chunk by chunk, every row's segment
 * with the chunk's weight and bias in cache. p: pointers to X, Y, W[, B].
 */
function chunkedForward(
  X: TypedArray,
  p: number[],
  rows: number,
  cols: number,
  eps: number,
  center: boolean,
  hasBias: boolean,
): { mean: Float64Array; inv: Float64Array } {
  const mean = new Float64Array(rows),
    inv = new Float64Array(rows);
  for (let ra = 0, R = blockRows(cols); ra < rows; ra += R) {
    const rb = Math.min(rows, ra + R);
    const m = wasmNormPrimitives().moments(
      X.subarray(ra * cols, rb * cols),
      rowLayout(rb - ra, cols),
    );
    for (let r = ra; r < rb; r++) {
      const mu = m.mean[r - ra],
        v = m.m2[r - ra] / cols;
      mean[r] = mu;
      inv[r] = 1 / Math.sqrt(center ? v + eps : v + mu * mu + eps);
    }
    const [pm, pi] = f64Args('norm-in', mean, inv);
    overChunks('rowNormAffineChunks', cols, ra, rb, (k0, k1) => [
      p[0],
      p[1],
      rows,
      cols,
      k0,
      k1,
      CHUNK_COLS,
      pm,
      pi,
      center ? 1 : 0,
      p[2],
      hasBias ? p[3] : 0,
    ]);
  }
  return { mean, inv };
}

/**
 * LayerNorm/RMSNorm backward for rows longer than 4 chunks, block of rows by block: per
 * chunk of columns, the block's row sums and the columns' dweight/dbias partials; the row
 * sums merged here in chunk order (so the result does not depend on the thread count); then
 * the block's dx chunk by chunk, its dy and x still in cache.
 * p: pointers to G, X, DX, W, DW[, DB]; pm, pi: the rows' mean and inv (inv) in scratch.
 */
function chunkedBackward(
  p: number[],
  rows: number,
  cols: number,
  pm: number,
  pi: number,
  inv: Float64Array,
  center: boolean,
  hasBias: boolean,
): void {
  const chunks = Math.ceil(cols / CHUNK_COLS);
  const rowSums = workspaceBytes('rownorm-rowsums', rows * chunks * 16);
  // dweight and dbias by column: float32 partials and their float64 sums, across blocks.
  const part = workspaceBytes('rownorm-part', cols * 8),
    acc = workspaceBytes('rownorm-acc', cols * 16);
  const A = new Float64Array(rows),
    B = new Float64Array(rows),
    C = new Float64Array(rows);
  for (let ra = 0, R = blockRows(cols); ra < rows; ra += R) {
    const rb = Math.min(rows, ra + R);
    overChunks('rowNormGradChunks', cols, ra, rb, (k0, k1) => [
      p[0],
      p[1],
      rows,
      cols,
      k0,
      k1,
      CHUNK_COLS,
      chunks,
      pm,
      pi,
      p[3],
      center ? 1 : 0,
      rowSums,
      p[4],
      hasBias ? p[5] : 0,
      acc,
      part,
    ]);
    const sums = f64Read(rowSums + ra * chunks * 16, (rb - ra) * chunks * 2);
    const sg = new Float64Array(rb - ra),
      sgx = new Float64Array(rb - ra);
    for (let r = 0; r < rb - ra; r++) {
      for (let k = 0; k < chunks; k++) {
        sg[r] += sums[(r * chunks + k) * 2];
        sgx[r] += sums[(r * chunks + k) * 2 + 1];
      }
    }
    const co = rowGradCoefficients(sg, sgx, inv.subarray(ra, rb), cols);
    A.set(co.A, ra);
    B.set(co.B, ra);
    if (center) C.set(co.C, ra);
    const [pa, pb, pc] = f64Args('norm-coef', A, B, C);
    overChunks('rowNormDxChunks', cols, ra, rb, (k0, k1) => [
      p[0],
      p[1],
      p[2],
      rows,
      cols,
      k0,
      k1,
      CHUNK_COLS,
      pm,
      center ? 1 : 0,
      pa,
      pb,
      pc,
      p[3],
    ]);
  }
}

const geom = (g: Geometry, C: number) => [
  C,
  g.H,
  g.W,
  g.kh,
  g.kw,
  g.oh,
  g.ow,
  g.sh,
  g.sw,
  g.ph,
  g.pw,
  g.dh,
  g.dw,
];

/**
 * Per-thread scratch for the whole-layer conv passes: im2col columns and GEMM packing, and
 * for the passes whose GEMM has the weights as A ([M, K] in packedA), room to pack A once.
 */
function convScratch(t: number, g: Geometry, channels: number, packedA?: [number, number]) {
  const cols = workspaceBytes(
    `conv-cols-${t}`,
    Math.max(4, channels * g.kh * g.kw * g.oh * g.ow * 4),
  );
  if (packedA === undefined) return [cols, gemmWorkspace(t)];
  const bytes = wasmKernels()!.gemmPackedABytes(...packedA);
  return [cols, gemmWorkspace(t), workspaceBytes(`conv-packed-a-${t}`, bytes)];
}

/** im2col's geometry followed by the output channels: the whole-layer passes' arguments. */
const convGeom = (g: Geometry, Cout: number) => [...geom(g, g.C), Cout];

export function wasmConvPrimitives(): ConvPrimitives {
  const js = jsConvPrimitives;
  /**
   * Runs a whole-layer pass split over images (forward, backward-input) or input channels
   * (backward-weight): `lead` pointers, then (lo, hi) of the split, then the rest.
   */
  const run = (
    fn: string,
    lead: number[],
    total: number,
    g: Geometry,
    Cout: number,
    rest: number[],
    channels: (lo: number, hi: number) => number,
    packedA?: [number, number],
    tail: (t: number) => number[] = () => [],
  ) =>
    parallelFor(fn, total, 1, (lo, hi, t) => [
      ...lead,
      lo,
      hi,
      ...rest,
      ...convGeom(g, Cout),
      ...convScratch(t, g, channels(lo, hi), packedA),
      ...tail(t),
    ]);
  const layer: ConvPrimitives['layer'] = {
    forward(x, w, bias, y, g, pooled) {
      const p = ptrs(x.data, w.data, y.data);
      const pb = bias ? heapPtr(bias.data) : 0;
      if (p === null || pb === null) return false;
      const [N, Cout, Kd] = [x.shape[0], w.shape[0], g.C * g.kh * g.kw];
      // Pooled: y is the pooled output, which the geometry block points at.
      const [, , oh, ow] = y.shape;
      const pool = pooled ? poolGeometry(pooled.pool, g.oh, g.ow, oh, ow, p[2], 0) : 0;
      const relu = pooled?.relu ? 1 : 0;
      if (winogradApplies(g, Cout)) {
        winogradConv(p[0], p[1], pb, p[2], N, g.C, g.H, g.W, Cout, g.ph, g.pw, 0, pool, relu);
        return true;
      }
      // Each thread's output image, pooled from there.
      const out = (t: number) => [
        workspaceBytes(`conv-out-${t}`, pool ? Cout * g.oh * g.ow * 4 : 4),
      ];
      const lead = [p[0], p[1], pb, p[2]];
      run(
        'convForward',
        lead,
        N,
        g,
        Cout,
        [],
        () => g.C,
        [Cout, Kd],
        (t) => [pool, relu, ...out(t)],
      );
      return true;
    },
    backwardInput(dy, w, dx, g) {
      const p = ptrs(dy.data, w.data, dx.data);
      if (p === null) return false;
      const [Cout, Kd] = [w.shape[0], g.C * g.kh * g.kw];
      if (winogradApplies(g, Cout)) {
        // dx = conv3x3(dy, w rotated and transposed) with padding 2 − p: H = oh + 2(2 − ph) − 2.
        const [N] = dx.shape;
        winogradConv(p[0], p[1], 0, p[2], N, Cout, g.oh, g.ow, g.C, 2 - g.ph, 2 - g.pw, 1);
        return true;
      }
      run('convBackwardInput', p, dx.shape[0], g, Cout, [], () => g.C, [Kd, Cout]);
      return true;
    },
    backwardWeight(dy, x, dw, g) {
      const p = ptrs(dy.data, x.data, dw.data);
      if (p === null) return false;
      const [N, Cout] = [x.shape[0], dw.shape[0]];
      if (winogradApplies(g, Cout, 'weight')) {
        winogradWeightGrad(p[1], p[0], p[2], N, g.C, g.H, g.W, Cout, g.ph, g.pw);
        return true;
      }
      // Split over input channels, each thread building only its channels' im2col rows; a
      // layer with few input channels (a network's first) splits over output channels.
      // Either split gives the same bits: each weight sums the same images in one order.
      if (g.C >= 4) {
        run('convBackwardWeight', p, g.C, g, Cout, [0, Cout, N], (c0, c1) => c1 - c0);
      } else {
        parallelFor('convBackwardWeight', Cout, 1, (o0, o1, t) => [
          ...p,
          0,
          g.C,
          o0,
          o1,
          N,
          ...convGeom(g, Cout),
          ...convScratch(t, g, g.C),
        ]);
      }
      return true;
    },
  };
  return {
    layer,
    gemm: makeWasmGemm(),
    // Both split over input channels: each channel owns distinct rows of cols and planes of dx.
    im2col(X, off, g, out) {
      const p = ptrs(X, out);
      if (p === null) return js.im2col(X, off, g, out);
      const plane = g.H * g.W,
        rowsPer = g.kh * g.kw * g.oh * g.ow;
      parallelFor('im2col', g.C, Math.ceil(GRAIN_ELEMENTS / rowsPer), (c0, c1) => [
        p[0] + (off + c0 * plane) * 4,
        ...geom(g, c1 - c0),
        p[1] + c0 * rowsPer * 4,
      ]);
    },
    col2im(src, DX, off, g) {
      const p = ptrs(src, DX);
      if (p === null) return js.col2im(src, DX, off, g);
      const plane = g.H * g.W,
        rowsPer = g.kh * g.kw * g.oh * g.ow;
      parallelFor('col2im', g.C, Math.ceil(GRAIN_ELEMENTS / rowsPer), (c0, c1) => [
        p[0] + c0 * rowsPer * 4,
        p[1] + (off + c0 * plane) * 4,
        ...geom(g, c1 - c0),
      ]);
    },
  };
}

/** Copies the window tables into a scratch area (rows, then columns); returns their pointers. */
function windowTables(rows: Int32Array, cols: Int32Array): [number, number] {
  const base = workspaceBytes('windows', (rows.length + cols.length) * 4);
  new Int32Array(heap.buffer, base, rows.length).set(rows);
  new Int32Array(heap.buffer, base + rows.length * 4, cols.length).set(cols);
  return [base, base + rows.length * 4];
}

export function wasmWindowPrimitives(): WindowPrimitives {
  const js = jsWindowPrimitives;
  return {
    windowAvg(src, dst, planes, H, W, rows, cols, grad) {
      const p = ptrs(src, dst);
      if (p === null) return js.windowAvg(src, dst, planes, H, W, rows, cols, grad);
      const [oh, ow] = [rows.length / 3, cols.length / 3];
      const [srcPer, dstPer] = grad ? [oh * ow, H * W] : [H * W, oh * ow];
      const tables = windowTables(rows, cols);
      // Threads take whole planes.
      const grain = Math.ceil(GRAIN_ELEMENTS / Math.max(1, srcPer + dstPer));
      parallelFor('windowAvg', planes, grain, (p0, p1) => [
        p[0] + p0 * srcPer * 4,
        p[1] + p0 * dstPer * 4,
        p1 - p0,
        H,
        W,
        oh,
        ow,
        ...tables,
        grad ? 1 : 0,
      ]);
    },
  };
}

/**
 * Transcendentals a thread should get at least: a step's gates are split by rows only when
 * each thread gets this many (the hand-off costs about as much as a few thousand exp calls).
 */
const GRAIN_CELLS = 1 << 13;

export function wasmCellPrimitives(): CellPrimitives {
  const js = jsCellPrimitives;
  const off = (x: Vec) => heapPtr(x.data)! + x.offset * 4;
  const inHeap = (...xs: Vec[]) => xs.every((x) => heapPtr(x.data) !== null);
  return {
    forward(kind, N, H, gi, gh, bhh, hp, cp, hn, cn, saved) {
      if (!inHeap(gi, gh, bhh, hp, cp, hn, cn, saved))
        return js.forward(kind, N, H, gi, gh, bhh, hp, cp, hn, cn, saved);
      const G = GATES[kind] * H,
        S = SAVED[kind] * H;
      const [pgi, pgh, pb, php, pcp, phn, pcn, psv] = [gi, gh, bhh, hp, cp, hn, cn, saved].map(off);
      parallelFor('cellForward', N, Math.ceil(GRAIN_CELLS / G), (r0, r1) => [
        KIND_CODE[kind],
        r1 - r0,
        H,
        pgi + r0 * G * 4,
        pgh + r0 * G * 4,
        pb,
        php + r0 * H * 4,
        pcp + r0 * H * 4,
        phn + r0 * H * 4,
        pcn + r0 * H * 4,
        psv + r0 * S * 4,
      ]);
    },
    backward(kind, N, H, dh, dc, saved, hp, cp, dgi, dgh, dhp, dcp) {
      if (!inHeap(dh, dc, saved, hp, cp, dgi, dgh, dhp, dcp))
        return js.backward(kind, N, H, dh, dc, saved, hp, cp, dgi, dgh, dhp, dcp);
      const G = GATES[kind] * H,
        S = SAVED[kind] * H;
      const [pdh, pdc, psv, php, pcp, pgi, pgh, pdhp, pdcp] = [
        dh,
        dc,
        saved,
        hp,
        cp,
        dgi,
        dgh,
        dhp,
        dcp,
      ].map(off);
      parallelFor('cellBackward', N, Math.ceil(GRAIN_CELLS / G), (r0, r1) => [
        KIND_CODE[kind],
        r1 - r0,
        H,
        pdh + r0 * H * 4,
        pdc + r0 * H * 4,
        psv + r0 * S * 4,
        php + r0 * H * 4,
        pcp + r0 * H * 4,
        pgi + r0 * G * 4,
        pgh + r0 * G * 4,
        pdhp + r0 * H * 4,
        pdcp + r0 * H * 4,
      ]);
    },
  };
}

/**
 * BatchNorm's passes over [N, C] in WASM (assembly/columns.ts): the sums split across threads
 * by blocks of rows, the elementwise passes by rows. Moments are sums shifted by the
 * first row, taken again shifted by the mean when that row is far from it.
 */
export function wasmColumnPasses(): NormPrimitives {
  const js = jsColumnPasses;
  // Column sums (assembly/columns.ts colSums): moments shifted by centre when g is 0, else
  // the backward's Σg and Σg·(x − centre); threads take blocks of rows, whose partial sums
  // colMerge adds in block order.
  const sums = (x: number, g: number, N: number, C: number, centre: number) => {
    const [s1, s2] = f64Args('col-out', new Float64Array(C), new Float64Array(C));
    const k = wasmKernels()!;
    const rows = k.colBlockRows();
    const blocks = Math.ceil(N / rows);
    // Freed here, not kept as scratch: it grows with N.
    const bytes = blocks * 16 * C,
      partials = heap.alloc(bytes);
    const grain = Math.ceil(GRAIN_ELEMENTS / (rows * C));
    try {
      parallelFor('colSums', blocks, grain, (b0, b1, t) => [
        x,
        g,
        N,
        C,
        b0,
        b1,
        centre,
        partials,
        workspaceBytes(`col-acc-${t}`, Math.max(16, 8 * C)),
      ]);
      k.colMerge(partials, blocks, C, s1, s2);
    } finally {
      heap.release(partials, bytes);
    }
    return [f64Read(s1, C), f64Read(s2, C)];
  };
  const rows = (
    x: number,
    g: number,
    out: number,
    N: number,
    C: number,
    consts: ArrayLike<number>[],
    relu: boolean,
  ) => {
    const [centre, k, a, b] = f32Args('col-in', ...consts);
    parallelFor('colAffine', N, Math.ceil(GRAIN_ELEMENTS / C), (r0, r1) => [
      x,
      g,
      out,
      r0,
      r1,
      C,
      centre,
      k,
      a,
      b,
      relu ? 1 : 0,
    ]);
  };
  const moments: NormPrimitives['moments'] = (X, L) => {
    const p = ptrs(X);
    if (p === null) return js.moments(X, L);
    const N = L.outer,
      C = L.numStats;
    // Sums shifted by the first row; M2 = Σd² − (Σd)²/N loses accuracy as (mean − x₀)²/σ²
    // grows, so when a column's first value lies more than ~4σ from its mean (or the column
    // is constant) the sums are taken again, shifted by the mean.
    let [d1, d2] = sums(p[0], 0, N, C, p[0]);
    let centre: ArrayLike<number> = X.subarray(0, C);
    const far = d1.some((s, c) => {
      const md = s / N;
      return !(16 * (d2[c] - s * md) > N * md * md);
    });
    if (far) {
      centre = Float32Array.from({ length: C }, (_, c) => X[c] + d1[c] / N);
      const [pc] = f32Args('col-centre', centre);
      [d1, d2] = sums(p[0], 0, N, C, pc);
    }
    const mean = Float64Array.from({ length: C }, (_, c) => centre[c] + d1[c] / N);
    return { count: N, mean, m2: d2.map((q, c) => Math.max(0, q - (d1[c] * d1[c]) / N)) };
  };
  // y = (x − c)·a + b as (x − hi)·a + (b − (c − hi)·a): hi = c in float32, the rest in the shift.
  const affine: NormPrimitives['affine'] = (X, Y, L, c, a, b, relu = false) => {
    const p = ptrs(X, Y);
    if (p === null) return js.affine(X, Y, L, c, a, b, relu);
    const hi = Float32Array.from(c);
    const shift = b.map((v, s) => v - (c[s] - hi[s]) * a[s]);
    rows(p[0], 0, p[1], L.outer, L.numStats, [hi, [0], a, shift], relu);
  };
  return {
    moments,
    affine,
    normalize(X, Y, L, eps, prm, relu = false) {
      if (ptrs(X, Y) === null) return js.normalize(X, Y, L, eps, prm, relu);
      const m = moments(X, L);
      const a = m.m2.map((q, s) => prm.w[s % prm.P] / Math.sqrt(q / m.count + eps));
      affine(
        X,
        Y,
        L,
        m.mean,
        a,
        Float64Array.from(m.mean, (_, s) => prm.b[s % prm.P]),
        relu,
      );
      return m;
    },
    normalizeBackward(G, X, DX, L, mu, inv, prm, mask) {
      const p = ptrs(G, X, DX, ...(mask ? [mask] : []));
      if (p === null) return js.normalizeBackward(G, X, DX, L, mu, inv, prm, mask);
      const N = L.outer,
        C = L.numStats;
      if (mask) {
        // The column passes take g as it is: mask it first (ReLU's backward) into scratch.
        const masked = workspaceBytes('col-masked-g', N * C * 4);
        parallelFor('reluGrad', N * C, GRAIN_ELEMENTS, (lo, hi) => [
          p[0] + lo * 4,
          p[3] + lo * 4,
          masked + lo * 4,
          hi - lo,
        ]);
        p[0] = masked;
      }
      const hi = Float32Array.from(mu);
      const [pc] = f32Args('col-centre', hi);
      const [sg, sgxHi] = sums(p[1], p[0], N, C, pc);
      const sgx = sgxHi.map((v, s) => v + (hi[s] - mu[s]) * sg[s]); // Σg(x − μ) from Σg(x − hi)
      // DX = G·A + (X − μ)·B + K, centred on hi: K absorbs (hi − μ)·B.
      const { A, B, K } = columnGradCoefficients(inv, prm, sg, sgx, N);
      for (let s = 0; s < C; s++) K[s] += (hi[s] - mu[s]) * B[s];
      rows(p[1], p[0], p[2], N, C, [hi, A, B, K], false);
      return { sg, sgx };
    },
    normalizePooled: jsNormPrimitives.normalizePooled, // columns are never pooled
  };
}
