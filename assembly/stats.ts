// The statistics helper and the per-statistic passes every norm is built from, in SIMD.
// A layout says which elements statistic s reduces: x[o*outerStride + s*statStride + i] for
// o < outer, i < inner (BatchNorm: s = channel; LayerNorm/GroupNorm: s = row). Sums
// accumulate in float64 (f64x2 lanes); each contiguous run is reduced two-pass while it is in
// cache and runs merge with Chan's formula, as the JS reference does.

function sumRun(p: usize, n: i32): f64 {
  let a0 = f64x2.splat(0),
    a1 = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(p + ((<usize>i) << 2));
    a0 = f64x2.add(a0, f64x2.promote_low_f32x4(v));
    a1 = f64x2.add(a1, f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1)));
  }
  const s = f64x2.add(a0, a1);
  let r = f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
  for (; i < n; i++) r += <f64>load<f32>(p + ((<usize>i) << 2));
  return r;
}

function sqDevRun(p: usize, n: i32, m: f64): f64 {
  const mv = f64x2.splat(m);
  let a0 = f64x2.splat(0),
    a1 = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(p + ((<usize>i) << 2));
    const d0 = f64x2.sub(f64x2.promote_low_f32x4(v), mv);
    const d1 = f64x2.sub(f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1)), mv);
    a0 = f64x2.add(a0, f64x2.mul(d0, d0));
    a1 = f64x2.add(a1, f64x2.mul(d1, d1));
  }
  const s = f64x2.add(a0, a1);
  let r = f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
  for (; i < n; i++) {
    const d = <f64>load<f32>(p + ((<usize>i) << 2)) - m;
    r += d * d;
  }
  return r;
}

/** mean[s] and m2[s] (sum of squared deviations), float64, for statistics [s0, s1). */
export function moments(
  x: usize,
  s0: i32,
  s1: i32,
  outer: i32,
  outerStride: i32,
  statStride: i32,
  inner: i32,
  mean: usize,
  m2: usize,
): void {
  for (let s = s0; s < s1; s++) {
    let n: f64 = 0,
      mu: f64 = 0,
      q: f64 = 0;
    for (let o = 0; o < outer; o++) {
      const p = x + ((<usize>(o * outerStride + s * statStride)) << 2);
      const bm = sumRun(p, inner) / <f64>inner;
      const bq = sqDevRun(p, inner, bm);
      const tot = n + <f64>inner;
      const delta = bm - mu;
      mu += (delta * <f64>inner) / tot;
      q += bq + ((delta * delta * n) / tot) * <f64>inner;
      n = tot;
    }
    store<f64>(mean + ((<usize>s) << 3), mu);
    store<f64>(m2 + ((<usize>s) << 3), q);
  }
}

/**
 * y = (x − c[s])·a[s] + b[s] over the layout (normalize, or eval-mode BatchNorm), then
 * max(y, 0) when relu; statistics [s0, s1). Centring first keeps a constant channel exact.
 */
export function affine(
  x: usize,
  y: usize,
  s0: i32,
  s1: i32,
  outer: i32,
  outerStride: i32,
  statStride: i32,
  inner: i32,
  c: usize,
  a: usize,
  b: usize,
  relu: i32,
): void {
  const zero = f32x4.splat(0);
  for (let s = s0; s < s1; s++) {
    // The centre in two f32 parts: x − hi is exact for x near the centre (Sterbenz), so a
    // mean of 1e6 costs no accuracy though f32 cannot hold it exactly.
    const cf = load<f64>(c + ((<usize>s) << 3));
    const hi = <f32>cf,
      lo = <f32>(cf - <f64>hi);
    const as = <f32>load<f64>(a + ((<usize>s) << 3));
    const bs = <f32>load<f64>(b + ((<usize>s) << 3));
    const hv = f32x4.splat(hi),
      lv = f32x4.splat(lo),
      av = f32x4.splat(as),
      bv = f32x4.splat(bs);
    for (let o = 0; o < outer; o++) {
      const off = (<usize>(o * outerStride + s * statStride)) << 2;
      const px = x + off,
        py = y + off;
      let i = 0;
      for (; i + 4 <= inner; i += 4) {
        const d = f32x4.sub(f32x4.sub(v128.load(px + ((<usize>i) << 2)), hv), lv);
        let v = f32x4.add(f32x4.mul(d, av), bv);
        if (relu) v = f32x4.max(v, zero);
        v128.store(py + ((<usize>i) << 2), v);
      }
      for (; i < inner; i++) {
        let v = (load<f32>(px + ((<usize>i) << 2)) - hi - lo) * as + bs;
        if (relu && v < 0) v = 0;
        store<f32>(py + ((<usize>i) << 2), v);
      }
    }
  }
}

/** sg[s] = Σ g and sgx[s] = Σ g·(x − mu[s]) over the layout, float64. */
export function gradSums(
  g: usize,
  x: usize,
  s0: i32,
  s1: i32,
  outer: i32,
  outerStride: i32,
  statStride: i32,
  inner: i32,
  mu: usize,
  sg: usize,
  sgx: usize,
): void {
  for (let s = s0; s < s1; s++) {
    const m = load<f64>(mu + ((<usize>s) << 3));
    const mv = f64x2.splat(m);
    let g0 = f64x2.splat(0),
      g1 = f64x2.splat(0),
      h0 = f64x2.splat(0),
      h1 = f64x2.splat(0);
    let tg: f64 = 0,
      th: f64 = 0;
    for (let o = 0; o < outer; o++) {
      const off = (<usize>(o * outerStride + s * statStride)) << 2;
      const pg = g + off,
        px = x + off;
      let i = 0;
      for (; i + 4 <= inner; i += 4) {
        const gv = v128.load(pg + ((<usize>i) << 2));
        const xv = v128.load(px + ((<usize>i) << 2));
        const gl = f64x2.promote_low_f32x4(gv);
        const gh = f64x2.promote_low_f32x4(v128.shuffle<f32>(gv, gv, 2, 3, 0, 1));
        const xl = f64x2.sub(f64x2.promote_low_f32x4(xv), mv);
        const xh = f64x2.sub(f64x2.promote_low_f32x4(v128.shuffle<f32>(xv, xv, 2, 3, 0, 1)), mv);
        g0 = f64x2.add(g0, gl);
        g1 = f64x2.add(g1, gh);
        h0 = f64x2.add(h0, f64x2.mul(gl, xl));
        h1 = f64x2.add(h1, f64x2.mul(gh, xh));
      }
      for (; i < inner; i++) {
        const gi = <f64>load<f32>(pg + ((<usize>i) << 2));
        tg += gi;
        th += gi * (<f64>load<f32>(px + ((<usize>i) << 2)) - m);
      }
    }
    const sgv = f64x2.add(g0, g1),
      shv = f64x2.add(h0, h1);
    store<f64>(
      sg + ((<usize>s) << 3),
      tg + f64x2.extract_lane(sgv, 0) + f64x2.extract_lane(sgv, 1),
    );
    store<f64>(
      sgx + ((<usize>s) << 3),
      th + f64x2.extract_lane(shv, 0) + f64x2.extract_lane(shv, 1),
    );
  }
}

/** dx = A[s]·g + B[s]·(x − c[s]) + C[s] over the layout (every norm's input gradient). */
export function affine2(
  g: usize,
  x: usize,
  dx: usize,
  s0: i32,
  s1: i32,
  outer: i32,
  outerStride: i32,
  statStride: i32,
  inner: i32,
  ctr: usize,
  A: usize,
  B: usize,
  C: usize,
): void {
  for (let s = s0; s < s1; s++) {
    const cf = load<f64>(ctr + ((<usize>s) << 3));
    const hi = <f32>cf,
      lo = <f32>(cf - <f64>hi);
    const a = <f32>load<f64>(A + ((<usize>s) << 3));
    const b = <f32>load<f64>(B + ((<usize>s) << 3));
    const c = <f32>load<f64>(C + ((<usize>s) << 3));
    const hv = f32x4.splat(hi),
      lv = f32x4.splat(lo);
    const av = f32x4.splat(a),
      bv = f32x4.splat(b),
      cv = f32x4.splat(c);
    for (let o = 0; o < outer; o++) {
      const off = (<usize>(o * outerStride + s * statStride)) << 2;
      const pg = g + off,
        px = x + off,
        pd = dx + off;
      let i = 0;
      for (; i + 4 <= inner; i += 4) {
        const q = (<usize>i) << 2;
        const d = f32x4.sub(f32x4.sub(v128.load(px + q), hv), lv);
        v128.store(
          pd + q,
          f32x4.add(f32x4.add(f32x4.mul(v128.load(pg + q), av), f32x4.mul(d, bv)), cv),
        );
      }
      for (; i < inner; i++) {
        const q = (<usize>i) << 2;
        store<f32>(pd + q, load<f32>(pg + q) * a + (load<f32>(px + q) - hi - lo) * b + c);
      }
    }
  }
}
