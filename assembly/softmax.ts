// Softmax and log-softmax, and their gradient, in SIMD: over contiguous rows (the last dim,
// four values of a row per f32x4) and over a strided dim of [outer, D, inner] (four inner
// positions per f32x4). Max-shifted; the sums in float64; exp by transcendental.ts's exp4.
import { exp4 } from './transcendental';

/** Four float64 sums, one per lane: lanes 0 and 1 in accLo, 2 and 3 in accHi. */
let accLo = f64x2.splat(0);
let accHi = f64x2.splat(0);

function accumulate(v: v128): void {
  accLo = f64x2.add(accLo, f64x2.promote_low_f32x4(v));
  accHi = f64x2.add(accHi, f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1)));
}

function resetSums(): void {
  accLo = f64x2.splat(0);
  accHi = f64x2.splat(0);
}

/** The four lanes' sums added together (a row's total). */
function accumulated(): f64 {
  const t = f64x2.add(accLo, accHi);
  return f64x2.extract_lane(t, 0) + f64x2.extract_lane(t, 1);
}

/** log of both lanes of a float64 pair. */
function logPair(acc: v128): v128 {
  return f64x2.replace_lane(
    f64x2.splat(Math.log(f64x2.extract_lane(acc, 0))),
    1,
    Math.log(f64x2.extract_lane(acc, 1)),
  );
}

/** The four float64 pairs back in one f32x4 (lane order kept). */
function pairsToF32(lo: v128, hi: v128): v128 {
  return v128.shuffle<f32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
}

function exp1(v: f32): f32 {
  return f32x4.extract_lane(exp4(f32x4.splat(v)), 0);
}

/**
 * Softmax (log = 0) or log-softmax (log = 1) of each of `rows` contiguous rows of D values.
 * A row whose values are all −∞ is shifted by 0 (its softmax is then 0/0, as in the JS kernel).
 */
export function softmaxRows(x: usize, y: usize, rows: i32, D: i32, log: i32): void {
  const end = D & ~3;
  for (let r = 0; r < rows; r++) {
    const px = x + ((<usize>r * <usize>D) << 2),
      py = y + ((<usize>r * <usize>D) << 2);
    let mv = f32x4.splat(-Infinity);
    for (let d = 0; d < end; d += 4) mv = f32x4.max(mv, v128.load(px + ((<usize>d) << 2)));
    let m = max(
      max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)),
      max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)),
    );
    for (let d = end; d < D; d++) m = max(m, load<f32>(px + ((<usize>d) << 2)));
    if (m == -Infinity) m = 0;
    const ms = f32x4.splat(m);
    resetSums();
    let tail: f64 = 0;
    for (let d = 0; d < end; d += 4) {
      const q = (<usize>d) << 2;
      const e = exp4(f32x4.sub(v128.load(px + q), ms));
      if (!log) v128.store(py + q, e);
      accumulate(e);
    }
    for (let d = end; d < D; d++) {
      const e = exp1(load<f32>(px + ((<usize>d) << 2)) - m);
      if (!log) store<f32>(py + ((<usize>d) << 2), e);
      tail += <f64>e;
    }
    const s = accumulated() + tail;
    if (log) {
      const ls = <f32>(Math.log(s) + <f64>m);
      const lv = f32x4.splat(ls);
      for (let d = 0; d < end; d += 4) {
        const q = (<usize>d) << 2;
        v128.store(py + q, f32x4.sub(v128.load(px + q), lv));
      }
      for (let d = end; d < D; d++)
        store<f32>(py + ((<usize>d) << 2), load<f32>(px + ((<usize>d) << 2)) - ls);
    } else {
      const inv = <f32>(1 / s);
      const iv = f32x4.splat(inv);
      for (let d = 0; d < end; d += 4) {
        const q = py + ((<usize>d) << 2);
        v128.store(q, f32x4.mul(v128.load(q), iv));
      }
      for (let d = end; d < D; d++) {
        const q = py + ((<usize>d) << 2);
        store<f32>(q, load<f32>(q) * inv);
      }
    }
  }
}

/**
 * Their gradient from the output y, one pass of sums and one of dx per row: softmax
 * dx = y·(dy − Σ dy·y); log-softmax dx = dy − exp(y)·Σ dy.
 */
export function softmaxGradRows(dy: usize, y: usize, dx: usize, rows: i32, D: i32, log: i32): void {
  const end = D & ~3;
  for (let r = 0; r < rows; r++) {
    const o = (<usize>r * <usize>D) << 2;
    resetSums();
    let tail: f64 = 0;
    for (let d = 0; d < end; d += 4) {
      const q = o + ((<usize>d) << 2);
      const g = v128.load(dy + q);
      accumulate(log ? g : f32x4.mul(g, v128.load(y + q)));
    }
    for (let d = end; d < D; d++) {
      const q = o + ((<usize>d) << 2);
      tail += log ? <f64>load<f32>(dy + q) : <f64>load<f32>(dy + q) * <f64>load<f32>(y + q);
    }
    const sf = <f32>(accumulated() + tail);
    const sv = f32x4.splat(sf);
    for (let d = 0; d < end; d += 4) {
      const q = o + ((<usize>d) << 2);
      const g = v128.load(dy + q),
        v = v128.load(y + q);
      v128.store(
        dx + q,
        log ? f32x4.sub(g, f32x4.mul(exp4(v), sv)) : f32x4.mul(v, f32x4.sub(g, sv)),
      );
    }
    for (let d = end; d < D; d++) {
      const q = o + ((<usize>d) << 2);
      const g = load<f32>(dy + q),
        v = load<f32>(y + q);
      store<f32>(dx + q, log ? g - exp1(v) * sf : v * (g - sf));
    }
  }
}

/**
 * Softmax or log-softmax over D of x viewed as [outer, D, inner], for outer rows [o0, o1):
 * four inner positions per f32x4 (the last few one at a time), each position's sum in float64.
 */
export function softmaxStrided(
  x: usize,
  y: usize,
  o0: i32,
  o1: i32,
  D: i32,
  inner: i32,
  log: i32,
): void {
  const stride = (<usize>inner) << 2;
  for (let o = o0; o < o1; o++) {
    const base = (<usize>o * <usize>D * <usize>inner) << 2;
    for (let i = 0; i < inner; i += 4) {
      const lanes = min(4, inner - i);
      const px = x + base + ((<usize>i) << 2),
        py = y + base + ((<usize>i) << 2);
      let m = f32x4.splat(-Infinity);
      for (let d = 0; d < D; d++) m = f32x4.max(m, loadLanes(px + <usize>d * stride, lanes));
      m = v128.andnot(m, f32x4.eq(m, f32x4.splat(-Infinity))); // −∞ → 0
      resetSums();
      for (let d = 0; d < D; d++) {
        const e = exp4(f32x4.sub(loadLanes(px + <usize>d * stride, lanes), m));
        if (!log) storeLanes(py + <usize>d * stride, e, lanes);
        accumulate(e);
      }
      if (log) {
        // log s + m per lane, in float64, rounded once.
        const k = pairsToF32(
          f64x2.add(logPair(accLo), f64x2.promote_low_f32x4(m)),
          f64x2.add(logPair(accHi), f64x2.promote_low_f32x4(v128.shuffle<f32>(m, m, 2, 3, 0, 1))),
        );
        for (let d = 0; d < D; d++) {
          const p = <usize>d * stride;
          storeLanes(py + p, f32x4.sub(loadLanes(px + p, lanes), k), lanes);
        }
      } else {
        const one = f64x2.splat(1);
        const k = pairsToF32(f64x2.div(one, accLo), f64x2.div(one, accHi));
        for (let d = 0; d < D; d++) {
          const p = py + <usize>d * stride;
          storeLanes(p, f32x4.mul(loadLanes(p, lanes), k), lanes);
        }
      }
    }
  }
}

/** The gradient of softmaxStrided from its output, outer rows [o0, o1). */
export function softmaxGradStrided(
  dy: usize,
  y: usize,
  dx: usize,
  o0: i32,
  o1: i32,
  D: i32,
  inner: i32,
  log: i32,
): void {
  const stride = (<usize>inner) << 2;
  for (let o = o0; o < o1; o++) {
    const base = (<usize>o * <usize>D * <usize>inner) << 2;
    for (let i = 0; i < inner; i += 4) {
      const lanes = min(4, inner - i);
      const at = base + ((<usize>i) << 2);
      resetSums();
      for (let d = 0; d < D; d++) {
        const p = at + <usize>d * stride;
        const g = loadLanes(dy + p, lanes);
        accumulate(log ? g : f32x4.mul(g, loadLanes(y + p, lanes)));
      }
      const s = pairsToF32(accLo, accHi);
      for (let d = 0; d < D; d++) {
        const p = at + <usize>d * stride;
        const g = loadLanes(dy + p, lanes),
          v = loadLanes(y + p, lanes);
        storeLanes(
          dx + p,
          log ? f32x4.sub(g, f32x4.mul(exp4(v), s)) : f32x4.mul(v, f32x4.sub(g, s)),
          lanes,
        );
      }
    }
  }
}

/** The first `lanes` floats at p (the rest 0): a full vector load when lanes is 4. */
function loadLanes(p: usize, lanes: i32): v128 {
  if (lanes == 4) return v128.load(p);
  let v = f32x4.splat(0);
  v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (lanes > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (lanes > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

function storeLanes(p: usize, v: v128, lanes: i32): void {
  if (lanes == 4) {
    v128.store(p, v);
    return;
  }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (lanes > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (lanes > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}
