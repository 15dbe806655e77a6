// Max pooling over planes of [N·C, H, W] (see src/kernels/js/pool.ts): y and, for the
// backward pass, the flat in-plane index of each window's maximum (stored as f32).
import { relu as reluPass } from './elementwise';
import { truncToInt } from './transcendental';

/**
 * Full 2x2, stride-2 windows without padding (ceil mode's partial last window excluded): the
 * case both passes take in SIMD, the windows never overlapping.
 */
function full2x2(
  H: i32,
  W: i32,
  kh: i32,
  kw: i32,
  sh: i32,
  sw: i32,
  ph: i32,
  pw: i32,
  oh: i32,
  ow: i32,
): bool {
  return (
    kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 && 2 * oh <= H && 2 * ow <= W
  );
}

export function maxPool2d(
  x: usize,
  planes: i32,
  H: i32,
  W: i32,
  kh: i32,
  kw: i32,
  sh: i32,
  sw: i32,
  ph: i32,
  pw: i32,
  oh: i32,
  ow: i32,
  y: usize,
  idx: usize,
): void {
  if (full2x2(H, W, kh, kw, sh, sw, ph, pw, oh, ow)) {
    maxPool2x2(x, planes, H, W, oh, ow, y, idx);
    return;
  }
  let q: usize = 0;
  for (let p = 0; p < planes; p++) {
    const base = x + ((<usize>(p * H * W)) << 2);
    for (let oy = 0; oy < oh; oy++) {
      const y0 = oy * sh - ph;
      const ya = max(y0, 0),
        yb = min(y0 + kh, H);
      for (let ox = 0; ox < ow; ox++) {
        const x0 = ox * sw - pw;
        const xa = max(x0, 0),
          xb = min(x0 + kw, W);
        let best: f32 = -Infinity;
        let bi = ya * W + xa;
        for (let yy = ya; yy < yb; yy++) {
          const row = base + ((<usize>(yy * W)) << 2);
          for (let xx = xa; xx < xb; xx++) {
            const v = load<f32>(row + ((<usize>xx) << 2));
            const t = (v > best) | (v != v); // branch-free: unpredictable on real data
            best = select<f32>(v, best, t);
            bi = select<i32>(yy * W + xx, bi, t);
          }
        }
        store<f32>(y + q, best);
        if (idx != 0) store<f32>(idx + q, <f32>bi);
        q += 4;
      }
    }
  }
}

/** full2x2 for pool's geometry block (see poolPlanes). */
export function blockIsFull2x2(pool: usize): bool {
  return full2x2(
    load<i32>(pool),
    load<i32>(pool, 4),
    load<i32>(pool, 8),
    load<i32>(pool, 12),
    load<i32>(pool, 16),
    load<i32>(pool, 20),
    load<i32>(pool, 24),
    load<i32>(pool, 28),
    load<i32>(pool, 32),
    load<i32>(pool, 36),
  );
}

/**
 * Max pooling of `planes` planes at src into planes p, p + 1, ... of the pooled output (values
 * only, or with the argmax), then max(·, 0) over them when relu: for kernels that pool their
 * output from cache (BatchNorm's training pass, the convolutions under noGrad), so the full
 * output never goes to memory. `pool` holds i32 [H, W, kh, kw, sh, sw, ph, pw, oh, ow, y, idx]
 * (y and idx: byte offsets of the whole pooled output and argmax; idx 0: values only).
 */
export function poolPlanes(pool: usize, src: usize, p: i32, planes: i32, relu: i32): void {
  const oh = load<i32>(pool, 32),
    ow = load<i32>(pool, 36);
  const at = (<usize>p * <usize>(oh * ow)) << 2;
  const idx = <usize>load<i32>(pool, 44);
  const y = <usize>load<i32>(pool, 40) + at;
  maxPool2d(
    src,
    planes,
    load<i32>(pool),
    load<i32>(pool, 4),
    load<i32>(pool, 8),
    load<i32>(pool, 12),
    load<i32>(pool, 16),
    load<i32>(pool, 20),
    load<i32>(pool, 24),
    load<i32>(pool, 28),
    oh,
    ow,
    y,
    idx == 0 ? 0 : idx + at,
  );
  if (relu) reluPass(y, y, planes * oh * ow);
}

/**
 * dx [planes, H, W] from dy [planes, oh, ow] and the argmax of each window (maxPool2d's idx):
 * full 2x2 windows row by row, others by scattering into a zeroed dx.
 */
export function maxPool2dGrad(
  dy: usize,
  idx: usize,
  planes: i32,
  H: i32,
  W: i32,
  kh: i32,
  kw: i32,
  sh: i32,
  sw: i32,
  ph: i32,
  pw: i32,
  oh: i32,
  ow: i32,
  dx: usize,
): void {
  if (full2x2(H, W, kh, kw, sh, sw, ph, pw, oh, ow))
    maxPool2x2Grad(dy, idx, planes, H, W, oh, ow, dx);
  else scatterGrad(dy, idx, planes, H * W, oh * ow, dx);
}

/**
 * The backward of full 2x2, stride-2 windows: they do not overlap, so dx is written once, row
 * by row, each window's four values at once (dy where the argmax is, else 0): no zeroing pass
 * and no scatter. Rows and columns that no window covers (odd sizes) are zeroed.
 */
function maxPool2x2Grad(
  dy: usize,
  idx: usize,
  planes: i32,
  H: i32,
  W: i32,
  oh: i32,
  ow: i32,
  dx: usize,
): void {
  const rowBytes = (<usize>W) << 2;
  for (let p = 0; p < planes; p++) {
    const plane = dx + <usize>p * <usize>H * rowBytes;
    for (let oy = 0; oy < oh; oy++) {
      const r0 = 2 * oy * W;
      const o = (<usize>((p * oh + oy) * ow)) << 2;
      const d = dy + o,
        q = idx + o,
        out = plane + ((<usize>r0) << 2);
      if (ow < 4) {
        for (let ox = 0; ox < ow; ox++) {
          const at = <i32>load<f32>(q + ((<usize>ox) << 2));
          const g = load<f32>(d + ((<usize>ox) << 2));
          const c = r0 + 2 * ox;
          const top = out + ((<usize>(2 * ox)) << 2);
          store<f32>(top, at == c ? g : 0);
          store<f32>(top, at == c + 1 ? g : 0, 4);
          store<f32>(top + rowBytes, at == c + W ? g : 0);
          store<f32>(top + rowBytes, at == c + W + 1 ? g : 0, 4);
        }
      } else {
        // Four windows a step; a ragged end redoes the row's last four (the same values).
        for (let ox = 0; ox < ow; ox += 4) {
          const s = min(ox, ow - 4);
          const g = v128.load(d + ((<usize>s) << 2));
          const at = truncToInt(v128.load(q + ((<usize>s) << 2)));
          const c = i32x4.add(i32x4.splat(r0 + 2 * s), i32x4(0, 2, 4, 6));
          const v0 = v128.and(g, i32x4.eq(at, c)),
            v1 = v128.and(g, i32x4.eq(at, i32x4.add(c, i32x4.splat(1)))),
            v2 = v128.and(g, i32x4.eq(at, i32x4.add(c, i32x4.splat(W)))),
            v3 = v128.and(g, i32x4.eq(at, i32x4.add(c, i32x4.splat(W + 1))));
          const top = out + ((<usize>(2 * s)) << 2);
          v128.store(top, v128.shuffle<f32>(v0, v1, 0, 4, 1, 5));
          v128.store(top, v128.shuffle<f32>(v0, v1, 2, 6, 3, 7), 16);
          v128.store(top + rowBytes, v128.shuffle<f32>(v2, v3, 0, 4, 1, 5));
          v128.store(top + rowBytes, v128.shuffle<f32>(v2, v3, 2, 6, 3, 7), 16);
        }
      }
      if (2 * ow < W) {
        const tail = (<usize>(W - 2 * ow)) << 2;
        memory.fill(out + ((<usize>(2 * ow)) << 2), 0, tail);
        memory.fill(out + rowBytes + ((<usize>(2 * ow)) << 2), 0, tail);
      }
    }
    if (2 * oh < H)
      memory.fill(plane + <usize>(2 * oh) * rowBytes, 0, <usize>(H - 2 * oh) * rowBytes);
  }
}

/** dx (zeroed here) receives each dy at its window's argmax. */
function scatterGrad(dy: usize, idx: usize, planes: i32, HW: i32, per: i32, dx: usize): void {
  memory.fill(dx, 0, (<usize>(planes * HW)) << 2);
  for (let p = 0; p < planes; p++) {
    const base = dx + ((<usize>(p * HW)) << 2);
    const off = (<usize>(p * per)) << 2;
    for (let j = 0; j < per; j++) {
      const q = off + ((<usize>j) << 2);
      const t = base + ((<usize>(<i32>load<f32>(idx + q))) << 2);
      store<f32>(t, load<f32>(t) + load<f32>(dy + q));
    }
  }
}

/**
 * The common 2x2, stride 2 case, four outputs at a time in SIMD: even and odd columns of two
 * input rows are deinterleaved and compared lane-wise, branch-free, with the same rule as
 * above (a value wins if greater or NaN, in window order). Scalar selects compile to branches
 * that mispredict on real data, which made this pass 10x slower.
 */
function maxPool2x2(
  x: usize,
  planes: i32,
  H: i32,
  W: i32,
  oh: i32,
  ow: i32,
  y: usize,
  idx: usize,
): void {
  for (let p = 0; p < planes; p++) {
    const base = x + ((<usize>(p * H * W)) << 2);
    for (let oy = 0; oy < oh; oy++) {
      const r0 = 2 * oy * W;
      const row = (<usize>((p * oh + oy) * ow)) << 2;
      if (ow < 4) {
        for (let ox = 0; ox < ow; ox++)
          maxPool2x2One(base, r0, W, ox, y + row, idx == 0 ? 0 : idx + row);
        continue;
      }
      // Four outputs a step; a ragged end redoes the row's last four (same values again).
      for (let ox = 0; ox < ow; ox += 4) {
        const o = min(ox, ow - 4);
        if (idx == 0) maxPool2x2FourValues(base, r0, W, o, y + row + ((<usize>o) << 2));
        else
          maxPool2x2Four(
            base,
            r0,
            W,
            o,
            y + row + ((<usize>o) << 2),
            idx + row + ((<usize>o) << 2),
          );
      }
    }
  }
}

/** Outputs ox..ox+3 of the output row whose window starts at input row offset r0. */
function maxPool2x2Four(base: usize, r0: i32, W: i32, ox: i32, y: usize, idx: usize): void {
  const lanes = i32x4(0, 2, 4, 6);
  const r1 = r0 + W;
  const a = base + ((<usize>(r0 + 2 * ox)) << 2),
    b = base + ((<usize>(r1 + 2 * ox)) << 2);
  const a0 = v128.load(a),
    a1 = v128.load(a, 16),
    b0 = v128.load(b),
    b1 = v128.load(b, 16);
  const i0 = i32x4.add(i32x4.splat(r0 + 2 * ox), lanes);
  // A value wins if greater or NaN, in window order (PyTorch's rule), branch-free.
  let best = v128.shuffle<f32>(a0, a1, 0, 2, 4, 6);
  let bi = i0;
  const v1 = v128.shuffle<f32>(a0, a1, 1, 3, 5, 7);
  const t1 = v128.or(f32x4.gt(v1, best), f32x4.ne(v1, v1));
  best = v128.bitselect(v1, best, t1);
  bi = v128.bitselect(i32x4.add(i0, i32x4.splat(1)), bi, t1);
  const v2 = v128.shuffle<f32>(b0, b1, 0, 2, 4, 6);
  const t2 = v128.or(f32x4.gt(v2, best), f32x4.ne(v2, v2));
  best = v128.bitselect(v2, best, t2);
  bi = v128.bitselect(i32x4.add(i0, i32x4.splat(W)), bi, t2);
  const v3 = v128.shuffle<f32>(b0, b1, 1, 3, 5, 7);
  const t3 = v128.or(f32x4.gt(v3, best), f32x4.ne(v3, v3));
  best = v128.bitselect(v3, best, t3);
  bi = v128.bitselect(i32x4.add(i0, i32x4.splat(W + 1)), bi, t3);
  v128.store(y, best);
  v128.store(idx, f32x4.convert_i32x4_s(bi));
}

/** Output ox alone (rows narrower than four outputs). */
function maxPool2x2One(base: usize, r0: i32, W: i32, ox: i32, y: usize, idx: usize): void {
  const c0 = r0 + 2 * ox,
    c2 = c0 + W;
  let best = load<f32>(base + ((<usize>c0) << 2));
  let bi = c0;
  for (let k = 1; k < 4; k++) {
    const c = k == 1 ? c0 + 1 : k == 2 ? c2 : c2 + 1;
    const v = load<f32>(base + ((<usize>c) << 2));
    if (v > best || v != v) {
      best = v;
      bi = c;
    }
  }
  store<f32>(y + ((<usize>ox) << 2), best);
  if (idx != 0) store<f32>(idx + ((<usize>ox) << 2), <f32>bi);
}

/**
 * Lane-wise maximum of a 2x2 window's four values in window order (v0 v1 / v2 v3), by the
 * rule below: the values-only 2x2 pool and the Winograd output transform's pooling share it.
 */
export function windowMax4(v0: v128, v1: v128, v2: v128, v3: v128): v128 {
  const first = f32x4.pmax(f32x4.pmax(v0, v1), f32x4.pmax(v2, v3));
  const nan = v128.or(
    v128.or(f32x4.ne(v0, v0), f32x4.ne(v1, v1)),
    v128.or(f32x4.ne(v2, v2), f32x4.ne(v3, v3)),
  );
  return v128.or(first, nan);
}

/**
 * maxPool2x2Four's values without the argmax. pmax(a, b) = a < b ? b : a keeps the earlier of
 * equal values, as the rule does (so −0 before +0 gives −0, where f32x4.max gives +0); a NaN
 * anywhere wins: its lane is set to all ones, a NaN. (f32x4.max, which propagates NaN, costs
 * about nine x86 instructions in V8 against pmax's one: with it, this pass was compute-bound.)
 */
function maxPool2x2FourValues(base: usize, r0: i32, W: i32, ox: i32, y: usize): void {
  const a = base + ((<usize>(r0 + 2 * ox)) << 2),
    b = a + ((<usize>W) << 2);
  const a0 = v128.load(a),
    a1 = v128.load(a, 16),
    b0 = v128.load(b),
    b1 = v128.load(b, 16);
  const v0 = v128.shuffle<f32>(a0, a1, 0, 2, 4, 6),
    v1 = v128.shuffle<f32>(a0, a1, 1, 3, 5, 7),
    v2 = v128.shuffle<f32>(b0, b1, 0, 2, 4, 6),
    v3 = v128.shuffle<f32>(b0, b1, 1, 3, 5, 7);
  v128.store(y, windowMax4(v0, v1, v2, v3));
}

/**
 * Average pooling of `planes` planes [H, W] into [oh, ow] through separable windows: output
 * (oy, ox) averages rows [rw[3oy], rw[3oy+1]) × columns [cw[3ox], cw[3ox+1]) and divides by
 * rw[3oy+2]·cw[3ox+2] (i32 tables the caller fills: AvgPool2d's padding rules and
 * AdaptiveAvgPool2d's windows are both of this form). Forward: src = x, dst = y, sums in
 * float64. With grad: src = dy [planes, oh, ow], dst = dx (zeroed here), each dy / divisor
 * added over its window.
 */
export function windowAvg(
  src: usize,
  dst: usize,
  planes: i32,
  H: i32,
  W: i32,
  oh: i32,
  ow: i32,
  rw: usize,
  cw: usize,
  grad: i32,
): void {
  const plane = <usize>H * <usize>W;
  if (grad) memory.fill(dst, 0, (<usize>planes * plane) << 2);
  for (let p = 0; p < planes; p++) {
    const base = (grad ? dst : src) + ((<usize>p * plane) << 2);
    for (let oy = 0; oy < oh; oy++) {
      const r = rw + <usize>(oy * 12);
      const ya = load<i32>(r),
        yb = load<i32>(r, 4),
        dy = load<i32>(r, 8);
      for (let ox = 0; ox < ow; ox++) {
        const c = cw + <usize>(ox * 12);
        const xa = load<i32>(c),
          xb = load<i32>(c, 4),
          div = <f64>dy * <f64>load<i32>(c, 8);
        const q = (<usize>p * <usize>oh * <usize>ow + <usize>(oy * ow + ox)) << 2;
        if (grad) {
          const v = <f32>(<f64>load<f32>(src + q) / div);
          for (let yy = ya; yy < yb; yy++) {
            const row = base + ((<usize>(yy * W)) << 2);
            for (let xx = xa; xx < xb; xx++) {
              const at = row + ((<usize>xx) << 2);
              store<f32>(at, load<f32>(at) + v);
            }
          }
          continue;
        }
        let s: f64 = 0;
        for (let yy = ya; yy < yb; yy++) {
          const row = base + ((<usize>(yy * W)) << 2);
          for (let xx = xa; xx < xb; xx++) s += <f64>load<f32>(row + ((<usize>xx) << 2));
        }
        store<f32>(dst + q, <f32>(s / div));
      }
    }
  }
}
