// The statistics helper and the per-statistic passes every norm is built from, in SIMD.
// A layout says which elements statistic s reduces: x[o*outerStride + s*statStride + i] for
// o < outer, i < inner (BatchNorm: s = channel; LayerNorm/GroupNorm: s = row). Each
// contiguous run is reduced while it is in cache (sums of 64 floats in f32x4 lanes, merged
// in float64): one pass of sums shifted by the run's first element, redone two-pass when
// that shift is far from the mean; runs merge with Chan's formula, as the JS reference does.
// Never unshifted E[x²] − E[x]².

/** Floats accumulated in f32x4 lanes before each merge into float64: few enough that the
 * float32 partial sums lose nothing that matters (relative 64·2⁻²⁴ at worst), many enough
 * that the passes run at memory speed rather than at float64-conversion speed. */
export const BLOCK = 64;

/** The four f32 lanes of v as two float64 pair sums (lanes 0 + 2, 1 + 3). */
function lanesToF64x2(v: v128): v128 {
  return f64x2.add(
    f64x2.promote_low_f32x4(v),
    f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1)),
  );
}

export function lanesToF64(v: v128): f64 {
  return (
    <f64>f32x4.extract_lane(v, 0) +
    <f64>f32x4.extract_lane(v, 1) +
    <f64>f32x4.extract_lane(v, 2) +
    <f64>f32x4.extract_lane(v, 3)
  );
}

/** Σ (x − c) over a run. With c an element of the run, x − c is exact for values near it.
 * Four independent accumulators: one would make the loop wait on add latency. */
export function sumRun(p: usize, n: i32, c: f32): f64 {
  const cv = f32x4.splat(c);
  const blockEnd = n & ~(BLOCK - 1);
  let total: f64 = 0;
  let i = 0;
  for (; i < blockEnd;) {
    let a0 = f32x4.splat(0),
      a1 = f32x4.splat(0),
      a2 = f32x4.splat(0),
      a3 = f32x4.splat(0);
    for (const end = i + BLOCK; i < end; i += 16) {
      const q = p + ((<usize>i) << 2);
      a0 = f32x4.add(a0, f32x4.sub(v128.load(q), cv));
      a1 = f32x4.add(a1, f32x4.sub(v128.load(q, 16), cv));
      a2 = f32x4.add(a2, f32x4.sub(v128.load(q, 32), cv));
      a3 = f32x4.add(a3, f32x4.sub(v128.load(q, 48), cv));
    }
    total += lanesToF64(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  }
  let a = f32x4.splat(0);
  for (; i + 4 <= n; i += 4) a = f32x4.add(a, f32x4.sub(v128.load(p + ((<usize>i) << 2)), cv));
  total += lanesToF64(a);
  for (; i < n; i++) total += <f64>(load<f32>(p + ((<usize>i) << 2)) - c);
  return total;
}

/** Σ (x − m)² over a run, m split into f32 hi + lo so a large mean costs no accuracy. */
function sqDevRun(p: usize, n: i32, m: f64): f64 {
  const hi = <f32>m,
    lo = <f32>(m - <f64>hi);
  const hv = f32x4.splat(hi),
    lv = f32x4.splat(lo);
  const blockEnd = n & ~(BLOCK - 1);
  let total: f64 = 0;
  let i = 0;
  for (; i < blockEnd;) {
    let a0 = f32x4.splat(0),
      a1 = f32x4.splat(0),
      a2 = f32x4.splat(0),
      a3 = f32x4.splat(0);
    for (const end = i + BLOCK; i < end; i += 16) {
      const q = p + ((<usize>i) << 2);
      const d0 = f32x4.sub(f32x4.sub(v128.load(q), hv), lv);
      const d1 = f32x4.sub(f32x4.sub(v128.load(q, 16), hv), lv);
      const d2 = f32x4.sub(f32x4.sub(v128.load(q, 32), hv), lv);
      const d3 = f32x4.sub(f32x4.sub(v128.load(q, 48), hv), lv);
      a0 = f32x4.add(a0, f32x4.mul(d0, d0));
      a1 = f32x4.add(a1, f32x4.mul(d1, d1));
      a2 = f32x4.add(a2, f32x4.mul(d2, d2));
      a3 = f32x4.add(a3, f32x4.mul(d3, d3));
    }
    total += lanesToF64(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  }
  let a = f32x4.splat(0);
  for (; i + 4 <= n; i += 4) {
    const d = f32x4.sub(f32x4.sub(v128.load(p + ((<usize>i) << 2)), hv), lv);
    a = f32x4.add(a, f32x4.mul(d, d));
  }
  total += lanesToF64(a);
  for (; i < n; i++) {
    const d = load<f32>(p + ((<usize>i) << 2)) - hi - lo;
    total += <f64>(d * d);
  }
  return total;
}

let sumD: f64 = 0;
let sumD2: f64 = 0;

/** Σ (x − c) and Σ (x − c)² over a run in one pass (into sumD, sumD2), blocks as in sumRun,
 * each block's lanes added into float64x2 accumulators (the four lanes summed at the end). */
function shiftedSums(p: usize, n: i32, c: f32): void {
  const cv = f32x4.splat(c);
  const blockEnd = n & ~(BLOCK - 1);
  let s1 = f64x2.splat(0),
    s2 = f64x2.splat(0);
  const stop = p + ((<usize>blockEnd) << 2);
  for (let q = p; q < stop;) {
    let a0 = f32x4.splat(0),
      a1 = f32x4.splat(0),
      b0 = f32x4.splat(0),
      b1 = f32x4.splat(0);
    for (const end = q + (BLOCK << 2); q < end; q += 32) {
      const d0 = f32x4.sub(v128.load(q), cv);
      const d1 = f32x4.sub(v128.load(q, 16), cv);
      a0 = f32x4.add(a0, d0);
      a1 = f32x4.add(a1, d1);
      b0 = f32x4.add(b0, f32x4.mul(d0, d0));
      b1 = f32x4.add(b1, f32x4.mul(d1, d1));
    }
    const a = f32x4.add(a0, a1),
      b = f32x4.add(b0, b1);
    s1 = f64x2.add(s1, lanesToF64x2(a));
    s2 = f64x2.add(s2, lanesToF64x2(b));
  }
  let t1 = f64x2.extract_lane(s1, 0) + f64x2.extract_lane(s1, 1),
    t2 = f64x2.extract_lane(s2, 0) + f64x2.extract_lane(s2, 1);
  for (let i = blockEnd; i < n; i++) {
    const d = load<f32>(p + ((<usize>i) << 2)) - c;
    t1 += <f64>d;
    t2 += <f64>(d * d);
  }
  sumD = t1;
  sumD2 = t2;
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
      // One pass of shifted sums about the run's first element; Σd² − (Σd)²/n loses
      // accuracy in proportion to 1 + ((mean − pivot)/σ)², so when the pivot lies more than
      // ~4σ from the mean (or the run is constant) the run is redone two-pass.
      const pivot = load<f32>(p);
      shiftedSums(p, inner, pivot);
      const nf = <f64>inner;
      const md = sumD / nf;
      let bm = <f64>pivot + md;
      let bq = sumD2 - sumD * md;
      if (!(16 * bq > nf * md * md)) {
        bm = <f64>pivot + sumRun(p, inner, pivot) / nf;
        bq = sqDevRun(p, inner, bm);
      }
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
 * y = (x − m)·a + b over a run of n floats, then max(y, 0) when relu. Centring first keeps a
 * constant channel exact; the centre goes in two f32 parts: x − hi is exact for x near the
 * centre (Sterbenz), so a mean of 1e6 costs no accuracy though f32 cannot hold it exactly.
 */
function affineRun(px: usize, py: usize, n: i32, m: f64, a: f32, b: f32, relu: i32): void {
  const hi = <f32>m,
    lo = <f32>(m - <f64>hi);
  const hv = f32x4.splat(hi),
    lv = f32x4.splat(lo),
    av = f32x4.splat(a),
    bv = f32x4.splat(b),
    zero = f32x4.splat(0);
  // Eight floats a step through stepping pointers, the ReLU test outside the loop: 0.25 →
  // 0.19 ns per element in cache, as V8 neither unswitches loops nor strength-reduces p + 4i
  // (and its f32x4.max, NaN-exact, costs several instructions: not worth it when off).
  const end = n & ~7;
  const stop = px + ((<usize>end) << 2);
  if (relu) {
    for (let p = px, q = py; p < stop; p += 32, q += 32) {
      const d0 = f32x4.sub(f32x4.sub(v128.load(p), hv), lv);
      const d1 = f32x4.sub(f32x4.sub(v128.load(p, 16), hv), lv);
      v128.store(q, f32x4.max(f32x4.add(f32x4.mul(d0, av), bv), zero));
      v128.store(q, f32x4.max(f32x4.add(f32x4.mul(d1, av), bv), zero), 16);
    }
  } else {
    for (let p = px, q = py; p < stop; p += 32, q += 32) {
      const d0 = f32x4.sub(f32x4.sub(v128.load(p), hv), lv);
      const d1 = f32x4.sub(f32x4.sub(v128.load(p, 16), hv), lv);
      v128.store(q, f32x4.add(f32x4.mul(d0, av), bv));
      v128.store(q, f32x4.add(f32x4.mul(d1, av), bv), 16);
    }
  }
  let i = end;
  for (; i + 4 <= n; i += 4) {
    const d = f32x4.sub(f32x4.sub(v128.load(px + ((<usize>i) << 2)), hv), lv);
    let v = f32x4.add(f32x4.mul(d, av), bv);
    if (relu) v = f32x4.max(v, zero);
    v128.store(py + ((<usize>i) << 2), v);
  }
  for (; i < n; i++) {
    let v = (load<f32>(px + ((<usize>i) << 2)) - hi - lo) * a + b;
    if (relu && v < 0) v = 0;
    store<f32>(py + ((<usize>i) << 2), v);
  }
}

/**
 * y = (x − c[s])·a[s] + b[s] over the layout (eval-mode BatchNorm), then max(y, 0) when
 * relu; statistics [s0, s1).
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
  for (let s = s0; s < s1; s++) {
    const at = (<usize>s) << 3;
    const as = <f32>load<f64>(a + at),
      bs = <f32>load<f64>(b + at);
    for (let o = 0; o < outer; o++) {
      const off = (<usize>(o * outerStride + s * statStride)) << 2;
      affineRun(x + off, y + off, inner, load<f64>(c + at), as, bs, relu);
    }
  }
}

/** Per-statistic weight or bias k = (s mod P)·Q + (o mod Q) for run o, or `none` when p is 0. */
function param(p: usize, s: i32, o: i32, P: i32, Q: i32, none: f64): f64 {
  return p == 0 ? none : load<f64>(p + ((<usize>((s % P) * Q + (o % Q))) << 3));
}

/**
 * Training-mode normalization, statistic by statistic while its elements are in cache:
 * mean[s] and m2[s] (the helper above), inv = 1/√(m2/count + eps), then each run o of s
 * gets y = (x − mean)·inv·w[k] + b[k] (see param; w, b float64 or 0 for none), ReLU'd when
 * relu. BatchNorm: P = C, Q = 1; GroupNorm: s = (n, g), P = G, Q = channels per group.
 */
export function normalize(
  x: usize,
  y: usize,
  s0: i32,
  s1: i32,
  outer: i32,
  outerStride: i32,
  statStride: i32,
  inner: i32,
  P: i32,
  Q: i32,
  w: usize,
  b: usize,
  eps: f64,
  relu: i32,
  mean: usize,
  m2: usize,
): void {
  const count = <f64>outer * <f64>inner;
  for (let s = s0; s < s1; s++) {
    moments(x, s, s + 1, outer, outerStride, statStride, inner, mean, m2);
    const at = (<usize>s) << 3;
    const mu = load<f64>(mean + at);
    const inv = 1 / Math.sqrt(load<f64>(m2 + at) / count + eps);
    // Runs in reverse: the last ones the statistics read are still in L2.
    for (let o = outer - 1; o >= 0; o--) {
      const off = (<usize>(o * outerStride + s * statStride)) << 2;
      const a = <f32>(inv * param(w, s, o, P, Q, 1)),
        sh = <f32>param(b, s, o, P, Q, 0);
      affineRun(x + off, y + off, inner, mu, a, sh, relu);
    }
  }
}

/** The two sums gradRun returns (AssemblyScript has no tuples). */
let runSg: f64 = 0;
let runSgx: f64 = 0;

/** runSg = Σ g and runSgx = Σ g·(x − m) over a run of n floats, float64. */
function gradRun(pg: usize, px: usize, n: i32, m: f64): void {
  const hi = <f32>m,
    lo = <f32>(m - <f64>hi);
  const hv = f32x4.splat(hi),
    lv = f32x4.splat(lo);
  const blockEnd = n & ~(BLOCK - 1);
  let tg: f64 = 0,
    th: f64 = 0;
  let i = 0;
  // BLOCK floats in f32x4 lanes, then float64 (see sumRun); two accumulators per sum.
  for (; i < blockEnd;) {
    let g0 = f32x4.splat(0),
      g1 = f32x4.splat(0),
      h0 = f32x4.splat(0),
      h1 = f32x4.splat(0);
    for (const end = i + BLOCK; i < end; i += 8) {
      const q = (<usize>i) << 2;
      const ga = v128.load(pg + q),
        gb = v128.load(pg + q, 16);
      const da = f32x4.sub(f32x4.sub(v128.load(px + q), hv), lv);
      const db = f32x4.sub(f32x4.sub(v128.load(px + q, 16), hv), lv);
      g0 = f32x4.add(g0, ga);
      g1 = f32x4.add(g1, gb);
      h0 = f32x4.add(h0, f32x4.mul(ga, da));
      h1 = f32x4.add(h1, f32x4.mul(gb, db));
    }
    tg += lanesToF64(f32x4.add(g0, g1));
    th += lanesToF64(f32x4.add(h0, h1));
  }
  let ag = f32x4.splat(0),
    ah = f32x4.splat(0);
  for (; i + 4 <= n; i += 4) {
    const gv = v128.load(pg + ((<usize>i) << 2));
    const d = f32x4.sub(f32x4.sub(v128.load(px + ((<usize>i) << 2)), hv), lv);
    ag = f32x4.add(ag, gv);
    ah = f32x4.add(ah, f32x4.mul(gv, d));
  }
  tg += lanesToF64(ag);
  th += lanesToF64(ah);
  for (; i < n; i++) {
    const gi = load<f32>(pg + ((<usize>i) << 2));
    tg += <f64>gi;
    th += <f64>(gi * (load<f32>(px + ((<usize>i) << 2)) - hi - lo));
  }
  runSg = tg;
  runSgx = th;
}

/** dx = a·g + b·(x − m) + c over a run of n floats (every norm's input gradient). */
function affine2Run(pg: usize, px: usize, pd: usize, n: i32, m: f64, a: f32, b: f32, c: f32): void {
  const hi = <f32>m,
    lo = <f32>(m - <f64>hi);
  const hv = f32x4.splat(hi),
    lv = f32x4.splat(lo);
  const av = f32x4.splat(a),
    bv = f32x4.splat(b),
    cv = f32x4.splat(c);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const q = (<usize>i) << 2;
    const d = f32x4.sub(f32x4.sub(v128.load(px + q), hv), lv);
    v128.store(
      pd + q,
      f32x4.add(f32x4.add(f32x4.mul(v128.load(pg + q), av), f32x4.mul(d, bv)), cv),
    );
  }
  for (; i < n; i++) {
    const q = (<usize>i) << 2;
    store<f32>(pd + q, load<f32>(pg + q) * a + (load<f32>(px + q) - hi - lo) * b + c);
  }
}

/**
 * The backward of normalize, statistic by statistic while its elements are in cache: per
 * run the sums Σ g and Σ g·(x − mu[s]) into sg/sgx[s·Q + o mod Q] (float64; the caller
 * turns them into dweight and dbias), then with g' = g·w[k] and x̂ = (x − mu)·inv,
 * dx = inv·(g' − mean(g') − x̂·mean(g'·x̂)) over the statistic's runs, i.e. per run
 * dx = A·g + B·(x − mu) + C with A = inv·w[k], B = −inv²·mean(g'·x̂), C = −inv·mean(g').
 */
export function normalizeBackward(
  g: usize,
  x: usize,
  dx: usize,
  s0: i32,
  s1: i32,
  outer: i32,
  outerStride: i32,
  statStride: i32,
  inner: i32,
  P: i32,
  Q: i32,
  w: usize,
  mu: usize,
  inv: usize,
  sg: usize,
  sgx: usize,
): void {
  const count = <f64>outer * <f64>inner;
  for (let s = s0; s < s1; s++) {
    const at = (<usize>s) << 3;
    const m = load<f64>(mu + at),
      is = load<f64>(inv + at);
    const sums = (<usize>s * <usize>Q) << 3;
    memory.fill(sg + sums, 0, (<usize>Q) << 3);
    memory.fill(sgx + sums, 0, (<usize>Q) << 3);
    for (let o = 0; o < outer; o++) {
      const off = (<usize>(o * outerStride + s * statStride)) << 2;
      gradRun(g + off, x + off, inner, m);
      const q = sums + ((<usize>(o % Q)) << 3);
      store<f64>(sg + q, load<f64>(sg + q) + runSg);
      store<f64>(sgx + q, load<f64>(sgx + q) + runSgx);
    }
    let g1: f64 = 0,
      g2: f64 = 0;
    for (let o = 0; o < Q; o++) {
      const wk = param(w, s, o, P, Q, 1);
      const q = sums + ((<usize>o) << 3);
      g1 += wk * load<f64>(sg + q);
      g2 += wk * load<f64>(sgx + q) * is;
    }
    const B = <f32>((-is * is * g2) / count),
      C = <f32>((-is * g1) / count);
    // Runs in reverse: the last ones the sums read are still in L2.
    for (let o = outer - 1; o >= 0; o--) {
      const off = (<usize>(o * outerStride + s * statStride)) << 2;
      affine2Run(g + off, x + off, dx + off, inner, m, <f32>(is * param(w, s, o, P, Q, 1)), B, C);
    }
  }
}
