// The statistics helper and the per-statistic passes every norm is built from, in SIMD.
// A layout says which elements statistic s reduces: x[o*outerStride + s*statStride + i] for
// o < outer, i < inner (BatchNorm: s = channel; LayerNorm/GroupNorm: s = row). Each
// contiguous run is reduced while it is in cache (sums of 64 floats in f32x4 lanes, merged
// in float64): one pass of sums shifted by the run's first element, redone two-pass when
// that shift is far from the mean; runs merge with Chan's formula, as the JS reference does.
// Never unshifted E[x²] − E[x]².
import { relu4 } from './elementwise';
import { poolPlanes } from './pool';

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

// Every pass below walks the runs of its statistics two at a time, each run with its own
// accumulators and constants, so a run's arithmetic is the same whichever run it is paired
// with (and an odd run out is paired with itself): two streams in flight keep more memory
// requests waiting than one. Reading BatchNorm's runs in pairs took moments on
// [32, 64, 56, 56] from 1.9 to 1.4 ms at one thread (bench/passes.ts). Run j of the
// statistics from sa is run o = j mod outer of statistic sa + j / outer.

/** Byte offset of run j of the statistics from sa. */
function runOffset(j: i32, sa: i32, outer: i32, outerStride: i32, statStride: i32): usize {
  const s = sa + j / outer,
    o = j % outer;
  return (<usize>(o * outerStride + s * statStride)) << 2;
}

/** Floats per chunk of statistics whose two passes run back to back: the chunk's elements
 * are still in L2 for the second pass. A chunk has at least one statistic and two runs. */
const CHUNK = 32768;

function chunkEnd(sa: i32, s1: i32, outer: i32, inner: i32): i32 {
  const per = max(1, outer * inner);
  const k = max((CHUNK + per - 1) / per, outer == 1 ? 2 : 1);
  return min(s1, sa + k);
}

let sumD: f64 = 0;
let sumD2: f64 = 0;
let sumDB: f64 = 0;
let sumD2B: f64 = 0;

/** Σ (x − c) and Σ (x − c)² over run p (into sumD, sumD2) and Σ (x − e), Σ (x − e)² over run
 * r (into sumDB, sumD2B), n floats each, blocks as in sumRun, each block's lanes added into
 * float64x2 accumulators (the four lanes summed at the end). */
function shiftedSums2(p: usize, c: f32, r: usize, e: f32, n: i32): void {
  const cv = f32x4.splat(c),
    ev = f32x4.splat(e);
  const blockEnd = n & ~(BLOCK - 1);
  let s1 = f64x2.splat(0),
    s2 = f64x2.splat(0),
    t1 = f64x2.splat(0),
    t2 = f64x2.splat(0);
  const stop = p + ((<usize>blockEnd) << 2);
  const dr = r - p;
  for (let q = p; q < stop;) {
    let a0 = f32x4.splat(0),
      a1 = f32x4.splat(0),
      b0 = f32x4.splat(0),
      b1 = f32x4.splat(0),
      c0 = f32x4.splat(0),
      c1 = f32x4.splat(0),
      d0 = f32x4.splat(0),
      d1 = f32x4.splat(0);
    for (const end = q + (BLOCK << 2); q < end; q += 32) {
      const u0 = f32x4.sub(v128.load(q), cv);
      const u1 = f32x4.sub(v128.load(q, 16), cv);
      const v0 = f32x4.sub(v128.load(q + dr), ev);
      const v1 = f32x4.sub(v128.load(q + dr, 16), ev);
      a0 = f32x4.add(a0, u0);
      a1 = f32x4.add(a1, u1);
      b0 = f32x4.add(b0, f32x4.mul(u0, u0));
      b1 = f32x4.add(b1, f32x4.mul(u1, u1));
      c0 = f32x4.add(c0, v0);
      c1 = f32x4.add(c1, v1);
      d0 = f32x4.add(d0, f32x4.mul(v0, v0));
      d1 = f32x4.add(d1, f32x4.mul(v1, v1));
    }
    s1 = f64x2.add(s1, lanesToF64x2(f32x4.add(a0, a1)));
    s2 = f64x2.add(s2, lanesToF64x2(f32x4.add(b0, b1)));
    t1 = f64x2.add(t1, lanesToF64x2(f32x4.add(c0, c1)));
    t2 = f64x2.add(t2, lanesToF64x2(f32x4.add(d0, d1)));
  }
  let x1 = f64x2.extract_lane(s1, 0) + f64x2.extract_lane(s1, 1),
    x2 = f64x2.extract_lane(s2, 0) + f64x2.extract_lane(s2, 1),
    y1 = f64x2.extract_lane(t1, 0) + f64x2.extract_lane(t1, 1),
    y2 = f64x2.extract_lane(t2, 0) + f64x2.extract_lane(t2, 1);
  for (let i = blockEnd; i < n; i++) {
    const d = load<f32>(p + ((<usize>i) << 2)) - c;
    x1 += <f64>d;
    x2 += <f64>(d * d);
    const f = load<f32>(r + ((<usize>i) << 2)) - e;
    y1 += <f64>f;
    y2 += <f64>(f * f);
  }
  sumD = x1;
  sumD2 = x2;
  sumDB = y1;
  sumD2B = y2;
}

let accN: f64 = 0;
let accMu: f64 = 0;
let accQ: f64 = 0;

/**
 * Merges run o of statistic s (at p, n floats; sd, sd2: its sums shifted by its first
 * element) into the statistic's count, mean and m2 (Chan's formula); run 0 restarts them and
 * the last run stores mean[s], m2[s]. Σd² − (Σd)²/n loses accuracy in proportion to
 * 1 + ((mean − pivot)/σ)², so when the pivot lies more than ~4σ from the mean (or the run is
 * constant) the run is redone two-pass.
 */
function mergeRun(
  p: usize,
  n: i32,
  o: i32,
  outer: i32,
  s: i32,
  sd: f64,
  sd2: f64,
  mean: usize,
  m2: usize,
): void {
  const pivot = load<f32>(p);
  const nf = <f64>n;
  const md = sd / nf;
  let bm = <f64>pivot + md;
  let bq = sd2 - sd * md;
  if (!(16 * bq > nf * md * md)) {
    bm = <f64>pivot + sumRun(p, n, pivot) / nf;
    bq = sqDevRun(p, n, bm);
  }
  if (o == 0) {
    accN = 0;
    accMu = 0;
    accQ = 0;
  }
  const tot = accN + nf;
  const delta = bm - accMu;
  accMu += (delta * nf) / tot;
  accQ += bq + ((delta * delta * accN) / tot) * nf;
  accN = tot;
  if (o == outer - 1) {
    store<f64>(mean + ((<usize>s) << 3), accMu);
    store<f64>(m2 + ((<usize>s) << 3), accQ);
  }
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
  const runs = (s1 - s0) * outer;
  for (let j = 0; j < runs; j += 2) {
    const k = min(j + 1, runs - 1);
    const pa = x + runOffset(j, s0, outer, outerStride, statStride),
      pb = x + runOffset(k, s0, outer, outerStride, statStride);
    shiftedSums2(pa, load<f32>(pa), pb, load<f32>(pb), inner);
    mergeRun(pa, inner, j % outer, outer, s0 + j / outer, sumD, sumD2, mean, m2);
    if (k > j) mergeRun(pb, inner, k % outer, outer, s0 + k / outer, sumDB, sumD2B, mean, m2);
  }
}

/**
 * y = (x − m)·a + b over run oa of x into ya, and the same with its own constants over run ob
 * into yb, n floats each, then max(y, 0) when relu. Centring first keeps a constant channel
 * exact: the centre's float32 part hi is subtracted in the loop, x − hi exact for x near it
 * (Sterbenz), and the rest lo = m − hi goes into the shift, (x − hi)·a + (b − lo·a), so a
 * mean of 1e6 costs no accuracy though f32 cannot hold it. Each step loads before it stores, so ya may be
 * x + oa and ob may be oa (yb then ya).
 */
function affineRun2(
  x: usize,
  n: i32,
  relu: i32,
  oa: usize,
  ya: usize,
  ma: f64,
  aa: f32,
  ba: f32,
  ob: usize,
  yb: usize,
  mb: f64,
  ab: f32,
  bb: f32,
): void {
  const ha = <f32>ma,
    hb = <f32>mb;
  const sa = <f32>(<f64>ba - (ma - <f64>ha) * <f64>aa),
    sb = <f32>(<f64>bb - (mb - <f64>hb) * <f64>ab);
  const hav = f32x4.splat(ha),
    aav = f32x4.splat(aa),
    sav = f32x4.splat(sa),
    hbv = f32x4.splat(hb),
    abv = f32x4.splat(ab),
    sbv = f32x4.splat(sb);
  // Stepping pointers and the ReLU test outside the loop: V8 neither unswitches loops nor
  // strength-reduces p + 4i.
  const end = n & ~3;
  const px = x + oa,
    stop = px + ((<usize>end) << 2),
    d = ob - oa,
    da = ya - px,
    db = yb - (x + ob);
  if (relu) {
    for (let p = px; p < stop; p += 16) {
      const u = f32x4.sub(v128.load(p), hav);
      const v = f32x4.sub(v128.load(p + d), hbv);
      v128.store(p + da, relu4(f32x4.add(f32x4.mul(u, aav), sav)));
      v128.store(p + d + db, relu4(f32x4.add(f32x4.mul(v, abv), sbv)));
    }
  } else {
    for (let p = px; p < stop; p += 16) {
      const u = f32x4.sub(v128.load(p), hav);
      const v = f32x4.sub(v128.load(p + d), hbv);
      v128.store(p + da, f32x4.add(f32x4.mul(u, aav), sav));
      v128.store(p + d + db, f32x4.add(f32x4.mul(v, abv), sbv));
    }
  }
  for (let i = end; i < n; i++) {
    const q = (<usize>i) << 2;
    let u = (load<f32>(x + oa + q) - ha) * aa + sa;
    let v = (load<f32>(x + ob + q) - hb) * ab + sb;
    if (relu && u < 0) u = 0;
    if (relu && v < 0) v = 0;
    store<f32>(ya + q, u);
    store<f32>(yb + q, v);
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
  const runs = (s1 - s0) * outer;
  for (let j = 0; j < runs; j += 2) {
    const k = min(j + 1, runs - 1);
    const sa = (<usize>(s0 + j / outer)) << 3,
      sb = (<usize>(s0 + k / outer)) << 3;
    const oa = runOffset(j, s0, outer, outerStride, statStride),
      ob = runOffset(k, s0, outer, outerStride, statStride);
    affineRun2(
      x,
      inner,
      relu,
      oa,
      y + oa,
      load<f64>(c + sa),
      <f32>load<f64>(a + sa),
      <f32>load<f64>(b + sa),
      ob,
      y + ob,
      load<f64>(c + sb),
      <f32>load<f64>(a + sb),
      <f32>load<f64>(b + sb),
    );
  }
}

/** Per-statistic weight or bias k = (s mod P)·Q + (o mod Q) for run o, or `none` when p is 0. */
function param(p: usize, s: i32, o: i32, P: i32, Q: i32, none: f64): f64 {
  return p == 0 ? none : load<f64>(p + ((<usize>((s % P) * Q + (o % Q))) << 3));
}

/**
 * Training-mode normalization, chunk by chunk of statistics while its elements are in cache:
 * mean[s] and m2[s] (the helper above), inv = 1/√(m2/count + eps), then each run o of s
 * gets y = (x − mean)·inv·w[k] + b[k] (see param; w, b float64 or 0 for none), ReLU'd when
 * relu. BatchNorm: P = C, Q = 1; GroupNorm: s = (n, g), P = G, Q = channels per group.
 * With pool (not 0; runs = whole planes, as BatchNorm's), y is not written: each run's output
 * goes to `scratch` (two planes, the calling thread's) and is max-pooled from there (see
 * pool.ts's poolPlanes), so the full output never goes to memory.
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
  pool: usize,
  scratch: usize,
): void {
  const count = <f64>outer * <f64>inner;
  for (let sa = s0; sa < s1;) {
    const sb = chunkEnd(sa, s1, outer, inner);
    moments(x, sa, sb, outer, outerStride, statStride, inner, mean, m2);
    // Runs in reverse: the last ones the statistics read are still in L2.
    for (let j = (sb - sa) * outer - 1; j >= 0; j -= 2) {
      const k = max(j - 1, 0);
      const s = sa + j / outer,
        o = j % outer,
        t = sa + k / outer,
        r = k % outer;
      const ms = load<f64>(mean + ((<usize>s) << 3)),
        mt = load<f64>(mean + ((<usize>t) << 3));
      const is = 1 / Math.sqrt(load<f64>(m2 + ((<usize>s) << 3)) / count + eps),
        it = 1 / Math.sqrt(load<f64>(m2 + ((<usize>t) << 3)) / count + eps);
      const oa = runOffset(j, sa, outer, outerStride, statStride),
        ob = runOffset(k, sa, outer, outerStride, statStride);
      // Pooled: the two runs' outputs go to the scratch planes, then through the pool.
      const plane = (<usize>inner) << 2;
      const ya = pool == 0 ? y + oa : scratch,
        yb = pool == 0 ? y + ob : scratch + plane;
      affineRun2(
        x,
        inner,
        relu,
        oa,
        ya,
        ms,
        <f32>(is * param(w, s, o, P, Q, 1)),
        <f32>param(b, s, o, P, Q, 0),
        ob,
        yb,
        mt,
        <f32>(it * param(w, t, r, P, Q, 1)),
        <f32>param(b, t, r, P, Q, 0),
      );
      if (pool != 0) {
        poolPlanes(pool, ya, <i32>(oa / plane), 1, 0);
        if (k != j) poolPlanes(pool, yb, <i32>(ob / plane), 1, 0);
      }
    }
    sa = sb;
  }
}

/** The sums gradRun2 returns (AssemblyScript has no tuples). */
let runSg: f64 = 0;
let runSgx: f64 = 0;
let runSgB: f64 = 0;
let runSgxB: f64 = 0;

/** Whether a pass instantiated for M counts g only where a mask (a fused ReLU's output) is
 * positive: M = Masked or Plain, resolved at compile time, so the plain pass is unchanged. */
type Masked = u8;
type Plain = u16;
function isMasked<M>(): bool {
  return sizeof<M>() == 1;
}

/** g where the mask at the same place (dm bytes from it) is positive, else +0. */
function maskedG<M>(g: v128, at: usize, dm: usize): v128 {
  if (!isMasked<M>()) return g;
  return v128.and(g, f32x4.gt(v128.load(at + dm), f32x4.splat(0)));
}
function maskedG1<M>(g: f32, at: usize, dm: usize): f32 {
  if (!isMasked<M>()) return g;
  return load<f32>(at + dm) > 0 ? g : 0;
}

/** runSg = Σ g and runSgx = Σ g·(x − ma) over run oa of g and x, float64, and runSgB,
 * runSgxB the same about mb over run ob; n floats each. gradRun2<Masked> counts g only where
 * the mask, dm bytes from g, is positive. */
function gradRun2<M>(
  g: usize,
  x: usize,
  n: i32,
  oa: usize,
  ma: f64,
  ob: usize,
  mb: f64,
  dm: usize,
): void {
  // Σ g·(x − m) = Σ g·(x − hi) − lo·Σ g with m = hi + lo split as in affineRun2: one
  // constant per run in the loop, where sixteen SIMD registers are all there is.
  const ha = <f32>ma,
    hb = <f32>mb;
  const hav = f32x4.splat(ha),
    hbv = f32x4.splat(hb);
  const blockEnd = n & ~(BLOCK - 1);
  let tg: f64 = 0,
    th: f64 = 0,
    ug: f64 = 0,
    uh: f64 = 0;
  const dg = g - x,
    d = ob - oa;
  let p = x + oa;
  // BLOCK floats in f32x4 lanes, then float64 (see sumRun); two accumulators per sum.
  for (const stop = p + ((<usize>blockEnd) << 2); p < stop;) {
    let g0 = f32x4.splat(0),
      g1 = f32x4.splat(0),
      h0 = f32x4.splat(0),
      h1 = f32x4.splat(0),
      e0 = f32x4.splat(0),
      e1 = f32x4.splat(0),
      f0 = f32x4.splat(0),
      f1 = f32x4.splat(0);
    for (const end = p + (BLOCK << 2); p < end; p += 32) {
      const ga = maskedG<M>(v128.load(p + dg), p + dg, dm),
        gb = maskedG<M>(v128.load(p + dg, 16), p + dg + 16, dm);
      g0 = f32x4.add(g0, ga);
      g1 = f32x4.add(g1, gb);
      h0 = f32x4.add(h0, f32x4.mul(ga, f32x4.sub(v128.load(p), hav)));
      h1 = f32x4.add(h1, f32x4.mul(gb, f32x4.sub(v128.load(p, 16), hav)));
      const gc = maskedG<M>(v128.load(p + dg + d), p + dg + d, dm),
        gd = maskedG<M>(v128.load(p + dg + d, 16), p + dg + d + 16, dm);
      e0 = f32x4.add(e0, gc);
      e1 = f32x4.add(e1, gd);
      f0 = f32x4.add(f0, f32x4.mul(gc, f32x4.sub(v128.load(p + d), hbv)));
      f1 = f32x4.add(f1, f32x4.mul(gd, f32x4.sub(v128.load(p + d, 16), hbv)));
    }
    tg += lanesToF64(f32x4.add(g0, g1));
    th += lanesToF64(f32x4.add(h0, h1));
    ug += lanesToF64(f32x4.add(e0, e1));
    uh += lanesToF64(f32x4.add(f0, f1));
  }
  let ag = f32x4.splat(0),
    ah = f32x4.splat(0),
    bg = f32x4.splat(0),
    bh = f32x4.splat(0);
  let i = blockEnd;
  for (; i + 4 <= n; i += 4, p += 16) {
    const ga = maskedG<M>(v128.load(p + dg), p + dg, dm),
      gc = maskedG<M>(v128.load(p + dg + d), p + dg + d, dm);
    ag = f32x4.add(ag, ga);
    ah = f32x4.add(ah, f32x4.mul(ga, f32x4.sub(v128.load(p), hav)));
    bg = f32x4.add(bg, gc);
    bh = f32x4.add(bh, f32x4.mul(gc, f32x4.sub(v128.load(p + d), hbv)));
  }
  tg += lanesToF64(ag);
  th += lanesToF64(ah);
  ug += lanesToF64(bg);
  uh += lanesToF64(bh);
  for (; i < n; i++, p += 4) {
    const ga = maskedG1<M>(load<f32>(p + dg), p + dg, dm),
      gc = maskedG1<M>(load<f32>(p + dg + d), p + dg + d, dm);
    tg += <f64>ga;
    th += <f64>(ga * (load<f32>(p) - ha));
    ug += <f64>gc;
    uh += <f64>(gc * (load<f32>(p + d) - hb));
  }
  runSg = tg;
  runSgx = th - (ma - <f64>ha) * tg;
  runSgB = ug;
  runSgxB = uh - (mb - <f64>hb) * ug;
}

/** dx = a·g + b·(x − m) + c over run oa of g, x and dx (every norm's input gradient), and the
 * same with its own constants over run ob; n floats each. Loads precede stores (ob may be oa).
 * affine2Run2<Masked> takes g as 0 where the mask, dm bytes from g, is not positive. */
function affine2Run2<M>(
  g: usize,
  x: usize,
  dx: usize,
  n: i32,
  oa: usize,
  ma: f64,
  aa: f32,
  ba: f32,
  ca: f32,
  ob: usize,
  mb: f64,
  ab: f32,
  bb: f32,
  cb: f32,
  dm: usize,
): void {
  // b·(x − m) + c = b·(x − hi) + (c − b·lo), as in affineRun2.
  const ha = <f32>ma,
    hb = <f32>mb;
  const ka = <f32>(<f64>ca - (ma - <f64>ha) * <f64>ba),
    kb = <f32>(<f64>cb - (mb - <f64>hb) * <f64>bb);
  const hav = f32x4.splat(ha),
    aav = f32x4.splat(aa),
    bav = f32x4.splat(ba),
    kav = f32x4.splat(ka),
    hbv = f32x4.splat(hb),
    abv = f32x4.splat(ab),
    bbv = f32x4.splat(bb),
    kbv = f32x4.splat(kb);
  const end = n & ~3;
  const px = x + oa,
    stop = px + ((<usize>end) << 2),
    dg = g - x,
    dd = dx - x,
    d = ob - oa;
  for (let p = px; p < stop; p += 16) {
    const u = f32x4.sub(v128.load(p), hav);
    const v = f32x4.sub(v128.load(p + d), hbv);
    const gu = maskedG<M>(v128.load(p + dg), p + dg, dm),
      gv = maskedG<M>(v128.load(p + dg + d), p + dg + d, dm);
    v128.store(p + dd, f32x4.add(f32x4.add(f32x4.mul(gu, aav), f32x4.mul(u, bav)), kav));
    v128.store(p + dd + d, f32x4.add(f32x4.add(f32x4.mul(gv, abv), f32x4.mul(v, bbv)), kbv));
  }
  for (let i = end; i < n; i++) {
    const q = (<usize>i) << 2;
    const ga = maskedG1<M>(load<f32>(g + oa + q), g + oa + q, dm),
      gb = maskedG1<M>(load<f32>(g + ob + q), g + ob + q, dm);
    const u = ga * aa + (load<f32>(x + oa + q) - ha) * ba + ka;
    const v = gb * ab + (load<f32>(x + ob + q) - hb) * bb + kb;
    store<f32>(dx + oa + q, u);
    store<f32>(dx + ob + q, v);
  }
}

/** The input-gradient coefficients of statistic s (gradCoefficients), cached for the runs
 * that follow it. */
let coefS: i32 = -1;
let coefB: f32 = 0;
let coefC: f32 = 0;

/** B = −inv²·mean(g'·x̂) and C = −inv·mean(g') of statistic s from its sums (see below). */
function gradCoefficients(
  s: i32,
  P: i32,
  Q: i32,
  w: usize,
  is: f64,
  count: f64,
  sg: usize,
  sgx: usize,
): void {
  if (s == coefS) return;
  const sums = (<usize>s * <usize>Q) << 3;
  let g1: f64 = 0,
    g2: f64 = 0;
  for (let o = 0; o < Q; o++) {
    const wk = param(w, s, o, P, Q, 1);
    const q = sums + ((<usize>o) << 3);
    g1 += wk * load<f64>(sg + q);
    g2 += wk * load<f64>(sgx + q) * is;
  }
  coefB = <f32>((-is * is * g2) / count);
  coefC = <f32>((-is * g1) / count);
  coefS = s;
}

/**
 * The backward of normalize, chunk by chunk of statistics while its elements are in cache: per
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
  mask: usize,
): void {
  // mask (0: none): where it is not positive (a fused ReLU's zeros), g counts as 0.
  if (mask != 0)
    backwardRuns<Masked>(
      g,
      x,
      dx,
      s0,
      s1,
      outer,
      outerStride,
      statStride,
      inner,
      P,
      Q,
      w,
      mu,
      inv,
      sg,
      sgx,
      mask - g,
    );
  else
    backwardRuns<Plain>(
      g,
      x,
      dx,
      s0,
      s1,
      outer,
      outerStride,
      statStride,
      inner,
      P,
      Q,
      w,
      mu,
      inv,
      sg,
      sgx,
      0,
    );
}

function backwardRuns<M>(
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
  dm: usize,
): void {
  const count = <f64>outer * <f64>inner;
  for (let sa = s0; sa < s1;) {
    const sb = chunkEnd(sa, s1, outer, inner);
    const first = (<usize>sa * <usize>Q) << 3,
      bytes = (<usize>(sb - sa) * <usize>Q) << 3;
    memory.fill(sg + first, 0, bytes);
    memory.fill(sgx + first, 0, bytes);
    const runs = (sb - sa) * outer;
    for (let j = 0; j < runs; j += 2) {
      const k = min(j + 1, runs - 1);
      const s = sa + j / outer,
        t = sa + k / outer;
      gradRun2<M>(
        g,
        x,
        inner,
        runOffset(j, sa, outer, outerStride, statStride),
        load<f64>(mu + ((<usize>s) << 3)),
        runOffset(k, sa, outer, outerStride, statStride),
        load<f64>(mu + ((<usize>t) << 3)),
        dm,
      );
      const qa = (<usize>(s * Q + ((j % outer) % Q))) << 3;
      store<f64>(sg + qa, load<f64>(sg + qa) + runSg);
      store<f64>(sgx + qa, load<f64>(sgx + qa) + runSgx);
      if (k > j) {
        const qb = (<usize>(t * Q + ((k % outer) % Q))) << 3;
        store<f64>(sg + qb, load<f64>(sg + qb) + runSgB);
        store<f64>(sgx + qb, load<f64>(sgx + qb) + runSgxB);
      }
    }
    // Runs in reverse: the last ones the sums read are still in L2.
    coefS = -1;
    for (let j = runs - 1; j >= 0; j -= 2) {
      const k = max(j - 1, 0);
      const s = sa + j / outer,
        t = sa + k / outer;
      const is = load<f64>(inv + ((<usize>s) << 3)),
        it = load<f64>(inv + ((<usize>t) << 3));
      gradCoefficients(s, P, Q, w, is, count, sg, sgx);
      const Bs = coefB,
        Cs = coefC;
      gradCoefficients(t, P, Q, w, it, count, sg, sgx);
      affine2Run2<M>(
        g,
        x,
        dx,
        inner,
        runOffset(j, sa, outer, outerStride, statStride),
        load<f64>(mu + ((<usize>s) << 3)),
        <f32>(is * param(w, s, j % outer, P, Q, 1)),
        Bs,
        Cs,
        runOffset(k, sa, outer, outerStride, statStride),
        load<f64>(mu + ((<usize>t) << 3)),
        <f32>(it * param(w, t, k % outer, P, Q, 1)),
        coefB,
        coefC,
        dm,
      );
    }
    sa = sb;
  }
}
