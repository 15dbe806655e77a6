// Passes for norms whose affine runs along the normalized (column) axis: LayerNorm and
// RMSNorm on x viewed as [rows, cols], with per-row statistics and per-column weight/bias.
// Each row is finished before the next starts, so its second read comes from cache: the
// forward reads x from memory once, the backward reads dy and x once. Row statistics are
// f64 pointers; weight and bias are f32 (the parameters themselves). `center` is 1 for
// LayerNorm and 0 for RMSNorm (no mean subtracted, no bias, no C term).
import { BLOCK, lanesToF64, moments } from './stats';

/** The two sums gradRow returns (AssemblyScript has no tuples). */
let rowSg: f64 = 0;
let rowSgx: f64 = 0;

/** y = (x − m)·s·w[j] + b[j] along a row (no b when b is 0); m split into f32 hi + lo. */
function affineRow(px: usize, py: usize, cols: i32, m: f64, s: f32, w: usize, b: usize): void {
  const hi = <f32>m,
    lo = <f32>(m - <f64>hi);
  const hv = f32x4.splat(hi),
    lv = f32x4.splat(lo),
    sv = f32x4.splat(s);
  let j = 0;
  if (b != 0) {
    for (; j + 4 <= cols; j += 4) {
      const q = (<usize>j) << 2;
      const xh = f32x4.mul(f32x4.sub(f32x4.sub(v128.load(px + q), hv), lv), sv);
      v128.store(py + q, f32x4.add(f32x4.mul(xh, v128.load(w + q)), v128.load(b + q)));
    }
    for (; j < cols; j++) {
      const q = (<usize>j) << 2;
      store<f32>(py + q, (load<f32>(px + q) - hi - lo) * s * load<f32>(w + q) + load<f32>(b + q));
    }
    return;
  }
  for (; j + 4 <= cols; j += 4) {
    const q = (<usize>j) << 2;
    const xh = f32x4.mul(f32x4.sub(f32x4.sub(v128.load(px + q), hv), lv), sv);
    v128.store(py + q, f32x4.mul(xh, v128.load(w + q)));
  }
  for (; j < cols; j++) {
    const q = (<usize>j) << 2;
    store<f32>(py + q, (load<f32>(px + q) - hi - lo) * s * load<f32>(w + q));
  }
}

/**
 * Along a row: rowSg = Σ g·w[j], rowSgx = Σ g·w[j]·(x − m) (BLOCK floats in f32x4 lanes,
 * then float64, as in stats.ts), and into the row group's column partials
 * pw[j] += g·(x − m)·s, pb[j] += g (float32, at most 64 rows per group).
 */
function gradRow(
  pg: usize,
  px: usize,
  cols: i32,
  m: f64,
  s: f32,
  w: usize,
  pw: usize,
  pb: usize,
): void {
  const hi = <f32>m,
    lo = <f32>(m - <f64>hi);
  const hv = f32x4.splat(hi),
    lv = f32x4.splat(lo),
    sv = f32x4.splat(s);
  const vecEnd = cols & ~3;
  let tg: f64 = 0,
    th: f64 = 0;
  let j = 0;
  const pairEnd = cols & ~7;
  while (j < pairEnd) {
    let ag = f32x4.splat(0),
      ah = f32x4.splat(0),
      bg = f32x4.splat(0),
      bh = f32x4.splat(0);
    // Eight floats a step, two accumulators per sum (add latency).
    for (const end = min(j + BLOCK, pairEnd); j < end; j += 8) {
      const q = (<usize>j) << 2;
      const g0 = v128.load(pg + q),
        g1 = v128.load(pg + q, 16);
      const d0 = f32x4.sub(f32x4.sub(v128.load(px + q), hv), lv);
      const d1 = f32x4.sub(f32x4.sub(v128.load(px + q, 16), hv), lv);
      const w0 = f32x4.mul(g0, v128.load(w + q)),
        w1 = f32x4.mul(g1, v128.load(w + q, 16));
      ag = f32x4.add(ag, w0);
      bg = f32x4.add(bg, w1);
      ah = f32x4.add(ah, f32x4.mul(w0, d0));
      bh = f32x4.add(bh, f32x4.mul(w1, d1));
      v128.store(pw + q, f32x4.add(v128.load(pw + q), f32x4.mul(g0, f32x4.mul(d0, sv))));
      v128.store(pw + q, f32x4.add(v128.load(pw + q, 16), f32x4.mul(g1, f32x4.mul(d1, sv))), 16);
      v128.store(pb + q, f32x4.add(v128.load(pb + q), g0));
      v128.store(pb + q, f32x4.add(v128.load(pb + q, 16), g1), 16);
    }
    tg += lanesToF64(f32x4.add(ag, bg));
    th += lanesToF64(f32x4.add(ah, bh));
  }
  while (j < vecEnd) {
    let ag = f32x4.splat(0),
      ah = f32x4.splat(0);
    for (; j < vecEnd; j += 4) {
      const q = (<usize>j) << 2;
      const gv = v128.load(pg + q);
      const d = f32x4.sub(f32x4.sub(v128.load(px + q), hv), lv);
      const gw = f32x4.mul(gv, v128.load(w + q));
      ag = f32x4.add(ag, gw);
      ah = f32x4.add(ah, f32x4.mul(gw, d));
      v128.store(pw + q, f32x4.add(v128.load(pw + q), f32x4.mul(gv, f32x4.mul(d, sv))));
      v128.store(pb + q, f32x4.add(v128.load(pb + q), gv));
    }
    tg += lanesToF64(ag);
    th += lanesToF64(ah);
  }
  for (; j < cols; j++) {
    const q = (<usize>j) << 2;
    const gi = load<f32>(pg + q);
    const d = load<f32>(px + q) - hi - lo;
    const gw = gi * load<f32>(w + q);
    tg += <f64>gw;
    th += <f64>(gw * d);
    store<f32>(pw + q, load<f32>(pw + q) + gi * (d * s));
    store<f32>(pb + q, load<f32>(pb + q) + gi);
  }
  rowSg = tg;
  rowSgx = th;
}

/** dx = a·w[j]·g + b·(x − m) + c along a row. */
function affine2Row(
  pg: usize,
  px: usize,
  pd: usize,
  cols: i32,
  m: f64,
  a: f32,
  b: f32,
  c: f32,
  w: usize,
): void {
  const hi = <f32>m,
    lo = <f32>(m - <f64>hi);
  const hv = f32x4.splat(hi),
    lv = f32x4.splat(lo);
  const av = f32x4.splat(a),
    bv = f32x4.splat(b),
    cv = f32x4.splat(c);
  let j = 0;
  for (; j + 4 <= cols; j += 4) {
    const q = (<usize>j) << 2;
    const t = f32x4.mul(f32x4.mul(v128.load(pg + q), v128.load(w + q)), av);
    const d = f32x4.sub(f32x4.sub(v128.load(px + q), hv), lv);
    v128.store(pd + q, f32x4.add(f32x4.add(t, f32x4.mul(d, bv)), cv));
  }
  for (; j < cols; j++) {
    const q = (<usize>j) << 2;
    const d = load<f32>(px + q) - hi - lo;
    store<f32>(pd + q, load<f32>(pg + q) * load<f32>(w + q) * a + d * b + c);
  }
}

/**
 * Forward over rows: per row the statistics (the shared helper), inv = 1/√(var + eps)
 * (RMSNorm: 1/√(mean(x²) + eps)), then y = (x − mean)·inv·w + b. Writes mean[r], inv[r].
 */
export function rowNormForward(
  x: usize,
  y: usize,
  rows: i32,
  cols: i32,
  w: usize,
  b: usize,
  eps: f64,
  center: i32,
  mean: usize,
  inv: usize,
): void {
  const n = <f64>cols;
  for (let r = 0; r < rows; r++) {
    const at = (<usize>r) << 3;
    // An even row is read as two runs of half its length: two streams for moments to read.
    const runs = 2 - (cols & 1);
    moments(x, r, r + 1, runs, cols / runs, cols, cols / runs, mean, inv); // m2 parked in inv[r]
    const mu = load<f64>(mean + at),
      q = load<f64>(inv + at) / n;
    const s = 1 / Math.sqrt(center ? q + eps : q + mu * mu + eps);
    store<f64>(inv + at, s);
    const off = (<usize>r * <usize>cols) << 2;
    affineRow(x + off, y + off, cols, center ? mu : 0, <f32>s, w, b);
  }
}

/**
 * Backward over rows: per row the sums Σ g·w and Σ g·w·(x − mean), then
 * dx = inv·w·g − inv³·mean(g·w·(x − mean))·(x − mean) − inv·mean(g·w) while the row is in
 * cache (the formula of rowGradCoefficients in src/kernels/js/stats.ts). Column partials of
 * dweight and dbias go to one float32 row per group of groupRows rows (pw, pb: the first
 * group's rows; rows starts on a group boundary), summed by groupColSums afterwards.
 */
export function rowNormBackward(
  g: usize,
  x: usize,
  dx: usize,
  rows: i32,
  cols: i32,
  groupRows: i32,
  mu: usize,
  inv: usize,
  w: usize,
  center: i32,
  pw: usize,
  pb: usize,
): void {
  const n = <f64>cols;
  const rowBytes = (<usize>cols) << 2;
  for (let r = 0; r < rows; r++) {
    const grp = <usize>(r / groupRows);
    const gw = pw + grp * rowBytes,
      gb = pb + grp * rowBytes;
    if (r % groupRows == 0) {
      memory.fill(gw, 0, rowBytes);
      memory.fill(gb, 0, rowBytes);
    }
    const at = (<usize>r) << 3;
    const m = center ? load<f64>(mu + at) : 0;
    const s = load<f64>(inv + at);
    const off = <usize>r * rowBytes;
    gradRow(g + off, x + off, cols, m, <f32>s, w, gw, gb);
    const B = -s * s * ((rowSgx * s) / n);
    const C = center ? -s * (rowSg / n) : 0;
    affine2Row(g + off, x + off, dx + off, cols, m, <f32>s, <f32>B, <f32>C, w);
  }
}

/** out[j] = Σ over groups of p[grp·cols + j], in float64 and group order, for j < n. */
export function groupColSums(p: usize, groups: i32, cols: i32, n: i32, out: usize): void {
  const stride = (<usize>cols) << 2;
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const q = (<usize>j) << 2;
    let lo = f64x2.splat(0),
      hi = f64x2.splat(0);
    for (let k = 0; k < groups; k++) {
      const v = v128.load(p + <usize>k * stride + q);
      lo = f64x2.add(lo, f64x2.promote_low_f32x4(v));
      hi = f64x2.add(hi, f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1)));
    }
    const a = f32x4.demote_f64x2_zero(lo),
      b = f32x4.demote_f64x2_zero(hi);
    v128.store(out + q, v128.shuffle<f32>(a, b, 0, 1, 4, 5));
  }
  for (; j < n; j++) {
    let t: f64 = 0;
    for (let k = 0; k < groups; k++) t += <f64>load<f32>(p + <usize>k * stride + ((<usize>j) << 2));
    store<f32>(out + ((<usize>j) << 2), <f32>t);
  }
}

/**
 * The backward for rows too long to stay in cache (LayerNorm over [C, H, W]): the row-by-row
 * passes above read each row's dy and x twice from memory and the weight once per row, and
 * update the dweight/dbias partials per row. Here the columns go in chunks of chunkCols and
 * the rows in blocks [ra, rb) small enough that the block's dy and x are still in cache when
 * phase 2 (rowNormDxChunks) reads them again: phase 1 (this function) walks, per chunk, the
 * block's row segments, with the chunk's weight and column sums in cache: per (row, chunk)
 * the sums Σ g·w and Σ g·w·(x − m) into rowSums (float64 pairs, row-major [rows][chunks]),
 * and per column dweight and dbias summed over all rows (float32 over blocks of BLOCK rows
 * in part, merged in float64 into acc, stored as float32 after the last row). part (2·cols
 * float32) and acc (2·cols float64) are indexed by column and live across the row blocks,
 * so each column's sums have one order however the rows are blocked. Chunks [k0, k1).
 */
export function rowNormGradChunks(
  g: usize,
  x: usize,
  rows: i32,
  cols: i32,
  k0: i32,
  k1: i32,
  chunkCols: i32,
  chunks: i32,
  mu: usize,
  inv: usize,
  w: usize,
  center: i32,
  rowSums: usize,
  dw: usize,
  db: usize,
  acc: usize,
  part: usize,
  ra: i32,
  rb: i32,
): void {
  const rowBytes = (<usize>cols) << 2;
  for (let k = k0; k < k1; k++) {
    const j0 = k * chunkCols,
      n = min(chunkCols, cols - j0);
    const nBytes = (<usize>n) << 2;
    const cw = w + ((<usize>j0) << 2);
    // This chunk's columns in the two float32 partials (dweight, dbias) and float64 sums.
    const pw = part + ((<usize>j0) << 2),
      pb = pw + rowBytes;
    const aw = acc + ((<usize>j0) << 3),
      ab = aw + (rowBytes << 1);
    if (ra == 0) {
      memory.fill(aw, 0, nBytes << 1);
      memory.fill(ab, 0, nBytes << 1);
    }
    for (let r = ra; r < rb; r++) {
      if (r % BLOCK == 0) {
        memory.fill(pw, 0, nBytes);
        memory.fill(pb, 0, nBytes);
      }
      const at = (<usize>r) << 3;
      const m = center ? load<f64>(mu + at) : 0;
      const s = load<f64>(inv + at);
      const off = <usize>r * rowBytes + ((<usize>j0) << 2);
      gradRow(g + off, x + off, n, m, <f32>s, cw, pw, pb);
      const o = rowSums + (((<usize>r * <usize>chunks + <usize>k) << 1) << 3);
      store<f64>(o, rowSg);
      store<f64>(o, rowSgx, 8);
      if ((r + 1) % BLOCK != 0 && r != rows - 1) continue;
      for (let j = 0; j < n; j++) {
        const q = (<usize>j) << 2,
          e = (<usize>j) << 3;
        store<f64>(aw + e, load<f64>(aw + e) + <f64>load<f32>(pw + q));
        store<f64>(ab + e, load<f64>(ab + e) + <f64>load<f32>(pb + q));
      }
    }
    if (rb < rows) continue;
    for (let j = 0; j < n; j++) {
      const q = (<usize>(j0 + j)) << 2,
        e = (<usize>j) << 3;
      store<f32>(dw + q, <f32>load<f64>(aw + e));
      if (db) store<f32>(db + q, <f32>load<f64>(ab + e));
    }
  }
}

/**
 * Phase 2: dx = a[r]·w[j]·g + b[r]·(x − m[r]) + c[r] (float64 coefficients per row, from
 * rowGradCoefficients), chunk by chunk so that the chunk's weight stays in cache; chunks
 * [k0, k1) of rows [ra, rb).
 */
export function rowNormDxChunks(
  g: usize,
  x: usize,
  dx: usize,
  rows: i32,
  cols: i32,
  k0: i32,
  k1: i32,
  chunkCols: i32,
  mu: usize,
  center: i32,
  a: usize,
  b: usize,
  c: usize,
  w: usize,
  ra: i32,
  rb: i32,
): void {
  const rowBytes = (<usize>cols) << 2;
  for (let k = k0; k < k1; k++) {
    const j0 = k * chunkCols,
      n = min(chunkCols, cols - j0);
    for (let r = ra; r < rb; r++) {
      const at = (<usize>r) << 3;
      const m = center ? load<f64>(mu + at) : 0;
      const off = <usize>r * rowBytes + ((<usize>j0) << 2);
      affine2Row(
        g + off,
        x + off,
        dx + off,
        n,
        m,
        <f32>load<f64>(a + at),
        <f32>load<f64>(b + at),
        <f32>load<f64>(c + at),
        w + ((<usize>j0) << 2),
      );
    }
  }
}

/**
 * The forward's second pass for long rows: y = (x − m[r])·inv[r]·w[j] + b[j] chunk by chunk,
 * so that each chunk of the weight and bias is read from memory once, not once per row
 * (b = 0: no bias; m not read when center is 0). Chunks [k0, k1) of rows [ra, rb).
 */
export function rowNormAffineChunks(
  x: usize,
  y: usize,
  rows: i32,
  cols: i32,
  k0: i32,
  k1: i32,
  chunkCols: i32,
  mean: usize,
  inv: usize,
  center: i32,
  w: usize,
  b: usize,
  ra: i32,
  rb: i32,
): void {
  const rowBytes = (<usize>cols) << 2;
  for (let k = k0; k < k1; k++) {
    const j0 = k * chunkCols,
      n = min(chunkCols, cols - j0);
    const q = (<usize>j0) << 2;
    for (let r = ra; r < rb; r++) {
      const at = (<usize>r) << 3;
      const off = <usize>r * rowBytes + q;
      const m = center ? load<f64>(mean + at) : 0;
      affineRow(x + off, y + off, n, m, <f32>load<f64>(inv + at), w + q, b ? b + q : 0);
    }
  }
}
