// Passes for norms whose affine runs along the normalized (column) axis: LayerNorm and
// RMSNorm on x viewed as [rows, cols], with per-row statistics and per-column weight/bias.
// Row statistics are f64 pointers; weight and bias are f32 (the parameters themselves).

/** y = (x − mu[r])·inv[r]·w[j] + b[j]; mu split into f32 hi + lo parts as in stats.ts. */
export function colAffine(
  x: usize,
  y: usize,
  rows: i32,
  cols: i32,
  mu: usize,
  inv: usize,
  w: usize,
  b: usize,
): void {
  for (let r = 0; r < rows; r++) {
    const mf = load<f64>(mu + ((<usize>r) << 3));
    const hi = <f32>mf,
      lo = <f32>(mf - <f64>hi);
    const s = <f32>load<f64>(inv + ((<usize>r) << 3));
    const hv = f32x4.splat(hi),
      lv = f32x4.splat(lo),
      sv = f32x4.splat(s);
    const px = x + ((<usize>(r * cols)) << 2),
      py = y + ((<usize>(r * cols)) << 2);
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const q = (<usize>j) << 2;
      const xh = f32x4.mul(f32x4.sub(f32x4.sub(v128.load(px + q), hv), lv), sv);
      v128.store(py + q, f32x4.add(f32x4.mul(xh, v128.load(w + q)), v128.load(b + q)));
    }
    for (; j < cols; j++) {
      const q = (<usize>j) << 2;
      store<f32>(py + q, (load<f32>(px + q) - hi - lo) * s * load<f32>(w + q) + load<f32>(b + q));
    }
  }
}

/** Per row: sg[r] = Σ g·w[j], sgx[r] = Σ g·w[j]·(x − mu[r]) (float64). */
export function colGradSums(
  g: usize,
  x: usize,
  rows: i32,
  cols: i32,
  mu: usize,
  w: usize,
  sg: usize,
  sgx: usize,
): void {
  for (let r = 0; r < rows; r++) {
    const m = load<f64>(mu + ((<usize>r) << 3));
    const mv = f64x2.splat(m);
    const pg = g + ((<usize>(r * cols)) << 2),
      px = x + ((<usize>(r * cols)) << 2);
    let a0 = f64x2.splat(0),
      a1 = f64x2.splat(0),
      h0 = f64x2.splat(0),
      h1 = f64x2.splat(0);
    let ta: f64 = 0,
      th: f64 = 0;
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const q = (<usize>j) << 2;
      const gw = f32x4.mul(v128.load(pg + q), v128.load(w + q));
      const xv = v128.load(px + q);
      const gl = f64x2.promote_low_f32x4(gw),
        gh = f64x2.promote_low_f32x4(v128.shuffle<f32>(gw, gw, 2, 3, 0, 1));
      const xl = f64x2.sub(f64x2.promote_low_f32x4(xv), mv);
      const xh = f64x2.sub(f64x2.promote_low_f32x4(v128.shuffle<f32>(xv, xv, 2, 3, 0, 1)), mv);
      a0 = f64x2.add(a0, gl);
      a1 = f64x2.add(a1, gh);
      h0 = f64x2.add(h0, f64x2.mul(gl, xl));
      h1 = f64x2.add(h1, f64x2.mul(gh, xh));
    }
    for (; j < cols; j++) {
      const q = (<usize>j) << 2;
      const gi = <f64>(load<f32>(pg + q) * load<f32>(w + q));
      ta += gi;
      th += gi * (<f64>load<f32>(px + q) - m);
    }
    const av = f64x2.add(a0, a1),
      hv = f64x2.add(h0, h1);
    store<f64>(sg + ((<usize>r) << 3), ta + f64x2.extract_lane(av, 0) + f64x2.extract_lane(av, 1));
    store<f64>(sgx + ((<usize>r) << 3), th + f64x2.extract_lane(hv, 0) + f64x2.extract_lane(hv, 1));
  }
}

/** dx = A[r]·w[j]·g + B[r]·(x − mu[r]) + C[r]. */
export function colAffine2(
  g: usize,
  x: usize,
  dx: usize,
  rows: i32,
  cols: i32,
  mu: usize,
  A: usize,
  B: usize,
  C: usize,
  w: usize,
): void {
  for (let r = 0; r < rows; r++) {
    const mf = load<f64>(mu + ((<usize>r) << 3));
    const hi = <f32>mf,
      lo = <f32>(mf - <f64>hi);
    const a = <f32>load<f64>(A + ((<usize>r) << 3));
    const b = <f32>load<f64>(B + ((<usize>r) << 3));
    const c = <f32>load<f64>(C + ((<usize>r) << 3));
    const hv = f32x4.splat(hi),
      lv = f32x4.splat(lo);
    const av = f32x4.splat(a),
      bv = f32x4.splat(b),
      cv = f32x4.splat(c);
    const off = (<usize>(r * cols)) << 2;
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const q = (<usize>j) << 2;
      const t = f32x4.mul(f32x4.mul(v128.load(g + off + q), v128.load(w + q)), av);
      const d = f32x4.sub(f32x4.sub(v128.load(x + off + q), hv), lv);
      v128.store(dx + off + q, f32x4.add(f32x4.add(t, f32x4.mul(d, bv)), cv));
    }
    for (; j < cols; j++) {
      const q = (<usize>j) << 2;
      const d = load<f32>(x + off + q) - hi - lo;
      store<f32>(dx + off + q, load<f32>(g + off + q) * load<f32>(w + q) * a + d * b + c);
    }
  }
}

/** Columns per tile and rows per float32 partial in colSums. */
const COL_TILE = 1024;
const ROW_BLOCK = 64;

/**
 * Column sums over rows for ncols columns starting at g/x/dw/db (rows rowStride apart):
 * dw[j] = Σ g·(x − mu[r])·inv[r], db[j] = Σ g (float64 out). Tiles of COL_TILE columns keep
 * their float32 partial sums in `scratch` (2·COL_TILE floats, the caller's) while all rows
 * stream through; every ROW_BLOCK rows the partials are added into the float64 sums. Each
 * column's sum has one order whatever the thread split (threads take whole columns).
 */
export function colSums(
  g: usize,
  x: usize,
  rows: i32,
  ncols: i32,
  rowStride: i32,
  mu: usize,
  inv: usize,
  dw: usize,
  db: usize,
  scratch: usize,
): void {
  memory.fill(dw, 0, (<usize>ncols) << 3);
  memory.fill(db, 0, (<usize>ncols) << 3);
  const aw = scratch,
    ab = scratch + ((<usize>COL_TILE) << 2);
  for (let j0 = 0; j0 < ncols; j0 += COL_TILE) {
    const nb = min(COL_TILE, ncols - j0);
    const vecEnd = nb & ~3;
    for (let r0 = 0; r0 < rows; r0 += ROW_BLOCK) {
      memory.fill(scratch, 0, (<usize>(2 * COL_TILE)) << 2);
      const r1 = min(rows, r0 + ROW_BLOCK);
      for (let r = r0; r < r1; r++) {
        const mf = load<f64>(mu + ((<usize>r) << 3));
        const hi = <f32>mf,
          lo = <f32>(mf - <f64>hi);
        const s = <f32>load<f64>(inv + ((<usize>r) << 3));
        const hv = f32x4.splat(hi),
          lv = f32x4.splat(lo),
          sv = f32x4.splat(s);
        const off = (<usize>(r * rowStride + j0)) << 2;
        let j = 0;
        for (; j < vecEnd; j += 4) {
          const q = (<usize>j) << 2;
          const gv = v128.load(g + off + q);
          const xh = f32x4.mul(f32x4.sub(f32x4.sub(v128.load(x + off + q), hv), lv), sv);
          v128.store(aw + q, f32x4.add(v128.load(aw + q), f32x4.mul(gv, xh)));
          v128.store(ab + q, f32x4.add(v128.load(ab + q), gv));
        }
        for (; j < nb; j++) {
          const q = (<usize>j) << 2;
          const gi = load<f32>(g + off + q);
          const xh = (load<f32>(x + off + q) - hi - lo) * s;
          store<f32>(aw + q, load<f32>(aw + q) + gi * xh);
          store<f32>(ab + q, load<f32>(ab + q) + gi);
        }
      }
      for (let j = 0; j < nb; j++) {
        const d = (<usize>(j0 + j)) << 3,
          q = (<usize>j) << 2;
        store<f64>(dw + d, load<f64>(dw + d) + <f64>load<f32>(aw + q));
        store<f64>(db + d, load<f64>(db + d) + <f64>load<f32>(ab + q));
      }
    }
  }
}
