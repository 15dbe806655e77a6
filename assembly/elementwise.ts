// Elementwise passes and sums in SIMD: ReLU, leaky ReLU and their gradients, clamp, broadcasting
// binary operations, sums over adjacent dims, the 4-level permute. (Softmax: softmax.ts; exp,
// log and the like: transcendental.ts.)
import { sumRun } from './stats';

/**
 * max(v, 0) as f32x4.max gives it (a NaN stays, −0 becomes +0) in two cheap instructions:
 * pmax keeps v unless v < 0, and adding +0 turns −0 into +0 and changes nothing else.
 * (f32x4.max, exact for NaN and zeros, is about nine x86 instructions in V8.)
 */
export function relu4(v: v128): v128 {
  const zero = f32x4.splat(0);
  return f32x4.add(f32x4.pmax(v, zero), zero);
}

export function relu(x: usize, y: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4)
    v128.store(y + ((<usize>i) << 2), relu4(v128.load(x + ((<usize>i) << 2))));
  for (; i < n; i++) {
    const v = load<f32>(x + ((<usize>i) << 2));
    store<f32>(y + ((<usize>i) << 2), v > 0 || v != v ? v : 0); // as relu4: NaN stays
  }
}

/** dx = dy where x > 0, else 0. */
export function reluGrad(dy: usize, x: usize, dx: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const q = (<usize>i) << 2;
    v128.store(dx + q, v128.and(v128.load(dy + q), f32x4.gt(v128.load(x + q), zero)));
  }
  for (; i < n; i++) {
    const q = (<usize>i) << 2;
    store<f32>(dx + q, load<f32>(x + q) > 0 ? load<f32>(dy + q) : 0);
  }
}

/** y = x where x > 0, else slope·x (branch-free: a select on the sign mask). */
export function leakyRelu(x: usize, y: usize, n: i32, slope: f32): void {
  const zero = f32x4.splat(0),
    s = f32x4.splat(slope);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const q = (<usize>i) << 2;
    const v = v128.load(x + q);
    v128.store(y + q, v128.bitselect(v, f32x4.mul(v, s), f32x4.gt(v, zero)));
  }
  for (; i < n; i++) {
    const v = load<f32>(x + ((<usize>i) << 2));
    store<f32>(y + ((<usize>i) << 2), v > 0 ? v : v * slope);
  }
}

/** dx = dy where x > 0, else slope·dy. */
export function leakyReluGrad(dy: usize, x: usize, dx: usize, n: i32, slope: f32): void {
  const zero = f32x4.splat(0),
    s = f32x4.splat(slope);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const q = (<usize>i) << 2;
    const g = v128.load(dy + q);
    v128.store(dx + q, v128.bitselect(g, f32x4.mul(g, s), f32x4.gt(v128.load(x + q), zero)));
  }
  for (; i < n; i++) {
    const q = (<usize>i) << 2;
    const g = load<f32>(dy + q);
    store<f32>(dx + q, load<f32>(x + q) > 0 ? g : g * slope);
  }
}

/**
 * mask 0: y = min where x < min, max where x > max, else x (NaN and the sign of 0 kept, as
 * the JS kernel's comparisons do); mask 1: y = 1 where min ≤ x ≤ max, else 0 (its gradient).
 */
export function clamp(x: usize, y: usize, n: i32, lo: f32, hi: f32, mask: i32): void {
  const lv = f32x4.splat(lo),
    hv = f32x4.splat(hi),
    one = f32x4.splat(1);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const q = (<usize>i) << 2;
    const v = v128.load(x + q);
    const below = f32x4.lt(v, lv),
      above = f32x4.gt(v, hv);
    v128.store(
      y + q,
      mask
        ? v128.and(one, v128.and(f32x4.ge(v, lv), f32x4.le(v, hv)))
        : v128.bitselect(hv, v128.bitselect(lv, v, below), above),
    );
  }
  for (; i < n; i++) {
    const q = (<usize>i) << 2;
    const v = load<f32>(x + q);
    store<f32>(y + q, mask ? (v >= lo && v <= hi ? 1 : 0) : v < lo ? lo : v > hi ? hi : v);
  }
}

/** Binary operations, by the code the TypeScript side passes (see BINARY_OPS in kernels/wasm).
 * MASKED_FILL: y = fill where b is not 0 (NaN included, as the JS kernel's m !== 0), else a. */
const ADD = 0,
  SUB = 1,
  MUL = 2,
  DIV = 3,
  MASKED_FILL = 4,
  MAXIMUM = 5,
  MINIMUM = 6,
  GREATER_EQUAL = 7,
  GREATER = 8,
  EQUAL = 9,
  POW = 10;

/** Each op as the JS kernel defines it (NaN in `x` wins maximum and minimum, as there). */
function apply(op: i32, x: v128, z: v128, fill: v128): v128 {
  if (op == ADD) return f32x4.add(x, z);
  if (op == SUB) return f32x4.sub(x, z);
  if (op == MUL) return f32x4.mul(x, z);
  if (op == DIV) return f32x4.div(x, z);
  if (op == MASKED_FILL) return v128.bitselect(fill, x, f32x4.ne(z, f32x4.splat(0)));
  if (op == MAXIMUM) return v128.bitselect(x, z, v128.or(f32x4.ge(x, z), f32x4.ne(x, x)));
  if (op == MINIMUM) return v128.bitselect(x, z, v128.or(f32x4.le(x, z), f32x4.ne(x, x)));
  const one = f32x4.splat(1);
  if (op == GREATER_EQUAL) return v128.and(f32x4.ge(x, z), one);
  if (op == GREATER) return v128.and(f32x4.gt(x, z), one);
  if (op == EQUAL) return v128.and(f32x4.eq(x, z), one);
  // POW: Math.pow a lane at a time.
  return f32x4(
    apply1(op, f32x4.extract_lane(x, 0), f32x4.extract_lane(z, 0), 0),
    apply1(op, f32x4.extract_lane(x, 1), f32x4.extract_lane(z, 1), 0),
    apply1(op, f32x4.extract_lane(x, 2), f32x4.extract_lane(z, 2), 0),
    apply1(op, f32x4.extract_lane(x, 3), f32x4.extract_lane(z, 3), 0),
  );
}

function apply1(op: i32, x: f32, z: f32, fill: f32): f32 {
  if (op == ADD) return x + z;
  if (op == SUB) return x - z;
  if (op == MUL) return x * z;
  if (op == DIV) return x / z;
  if (op == MASKED_FILL) return z != 0 ? fill : x;
  if (op == MAXIMUM) return x >= z || x != x ? x : z;
  if (op == MINIMUM) return x <= z || x != x ? x : z;
  if (op == GREATER_EQUAL) return x >= z ? 1 : 0;
  if (op == GREATER) return x > z ? 1 : 0;
  if (op == EQUAL) return x == z ? 1 : 0;
  return <f32>Math.pow(<f64>x, <f64>z); // POW, in float64 as JS's Math.pow
}

function binaryRun(
  op: i32,
  pa: usize,
  pb: usize,
  py: usize,
  n: i32,
  sa: i32,
  sb: i32,
  fill: f32,
): void {
  // The four arithmetic ops get loops of their own (apply's chain of ops, left to the engine,
  // was a call per vector: an add ran at a third of a copy's speed).
  if (op == ADD) binaryLoops<Add>(op, pa, pb, py, n, sa, sb, fill);
  else if (op == SUB) binaryLoops<Sub>(op, pa, pb, py, n, sa, sb, fill);
  else if (op == MUL) binaryLoops<Mul>(op, pa, pb, py, n, sa, sb, fill);
  else if (op == DIV) binaryLoops<Div>(op, pa, pb, py, n, sa, sb, fill);
  else binaryLoops<AnyOp>(op, pa, pb, py, n, sa, sb, fill);
}

/** Marker types: which op binaryLoops applies, resolved at compile time (AnyOp: apply()). */
type Add = i8;
type Sub = i16;
type Mul = i32;
type Div = i64;
type AnyOp = f64;

function applyOf<O>(op: i32, x: v128, z: v128, fill: v128): v128 {
  if (isFloat<O>()) return apply(op, x, z, fill);
  if (sizeof<O>() == 1) return f32x4.add(x, z);
  if (sizeof<O>() == 2) return f32x4.sub(x, z);
  if (sizeof<O>() == 4) return f32x4.mul(x, z);
  return f32x4.div(x, z);
}

function binaryLoops<O>(
  op: i32,
  pa: usize,
  pb: usize,
  py: usize,
  n: i32,
  sa: i32,
  sb: i32,
  fill: f32,
): void {
  // An operand with stride 0 is one value broadcast along the run; each stride case gets its
  // own loop (V8 does not unswitch loops).
  const av = f32x4.splat(load<f32>(pa)),
    bv = f32x4.splat(load<f32>(pb)),
    fv = f32x4.splat(fill);
  const end = n & ~3;
  const stop = py + ((<usize>end) << 2);
  if (sa && sb) {
    for (let y = py, a = pa, b = pb; y < stop; y += 16, a += 16, b += 16)
      v128.store(y, applyOf<O>(op, v128.load(a), v128.load(b), fv));
  } else if (sa) {
    for (let y = py, a = pa; y < stop; y += 16, a += 16)
      v128.store(y, applyOf<O>(op, v128.load(a), bv, fv));
  } else if (sb) {
    for (let y = py, b = pb; y < stop; y += 16, b += 16)
      v128.store(y, applyOf<O>(op, av, v128.load(b), fv));
  } else {
    const v = applyOf<O>(op, av, bv, fv);
    for (let y = py; y < stop; y += 16) v128.store(y, v);
  }
  for (let i = end; i < n; i++) {
    const x = load<f32>(pa + ((<usize>(i * sa)) << 2)),
      z = load<f32>(pb + ((<usize>(i * sb)) << 2));
    store<f32>(py + ((<usize>i) << 2), apply1(op, x, z, fill));
  }
}

/**
 * y = a op b with broadcasting, the output seen as [n0, n1, n2] (contiguous) and each
 * operand by its element strides for those dims; the innermost strides are 0 or 1.
 */
export function binary(
  op: i32,
  a: usize,
  b: usize,
  y: usize,
  n0: i32,
  n1: i32,
  n2: i32,
  a0: i32,
  a1: i32,
  a2: i32,
  b0: i32,
  b1: i32,
  b2: i32,
  fill: f32,
): void {
  for (let i = 0; i < n0; i++)
    for (let j = 0; j < n1; j++) {
      const pa = a + ((<usize>(i * a0 + j * a1)) << 2),
        pb = b + ((<usize>(i * b0 + j * b1)) << 2),
        py = y + ((<usize>((i * n1 + j) * n2)) << 2);
      binaryRun(op, pa, pb, py, n2, a2, b2, fill);
    }
}

/**
 * binary() over L > 3 levels: the output [d0, ..., d(L-1)] (contiguous) and each operand by
 * its element strides, `shape`, `sa` and `sb` pointing at L i32s each. Output blocks o0 .. o1
 * of the first L - 3 levels (row-major) are walked here, each block's last three levels by
 * binary(); threads take ranges of blocks.
 */
export function binaryOuter(
  op: i32,
  a: usize,
  b: usize,
  y: usize,
  L: i32,
  shape: usize,
  sa: usize,
  sb: usize,
  o0: i32,
  o1: i32,
  fill: f32,
): void {
  const dim = (p: usize, l: i32): i32 => load<i32>(p + ((<usize>l) << 2));
  const n0 = dim(shape, L - 3),
    n1 = dim(shape, L - 2),
    n2 = dim(shape, L - 1);
  for (let o = o0; o < o1; o++) {
    let rem = o,
      offA = 0,
      offB = 0;
    for (let l = L - 4; l >= 0; l--) {
      const d = dim(shape, l);
      const i = rem % d;
      rem /= d;
      offA += i * dim(sa, l);
      offB += i * dim(sb, l);
    }
    binary(
      op,
      a + ((<usize>offA) << 2),
      b + ((<usize>offB) << 2),
      y + ((<usize>o * <usize>(n0 * n1 * n2)) << 2),
      n0,
      n1,
      n2,
      dim(sa, L - 3),
      dim(sa, L - 2),
      dim(sa, L - 1),
      dim(sb, L - 3),
      dim(sb, L - 2),
      dim(sb, L - 1),
      fill,
    );
  }
}

/** Per lane: v where it is greater than m or NaN, else m (the JS kernel's rule). */
function laneMax(m: v128, v: v128): v128 {
  return v128.bitselect(v, m, v128.or(f32x4.gt(v, m), f32x4.ne(v, v)));
}

/** The JS kernel's running max (from −∞; greater or NaN replaces) of a run of n floats. */
function maxSequential(p: usize, n: i32): f32 {
  let m: f32 = -Infinity;
  for (let k = 0; k < n; k++) {
    const v = load<f32>(p + ((<usize>k) << 2));
    if (v > m || v != v) m = v;
  }
  return m;
}

/**
 * maxSequential in f32x4 lanes: the same value (the max does not depend on the order, and
 * any NaN wins either way) except for the sign of a zero max, which only the sequential rule
 * fixes (the first of −0 and +0 stays): a zero result is taken again sequentially.
 */
function maxRun(p: usize, n: i32): f32 {
  let m = f32x4.splat(-Infinity),
    m1 = m,
    m2 = m,
    m3 = m;
  let k = 0;
  // Four independent maxima, so the loop is not one long dependency chain.
  for (; k + 16 <= n; k += 16) {
    const q = p + ((<usize>k) << 2);
    m = laneMax(m, v128.load(q));
    m1 = laneMax(m1, v128.load(q, 16));
    m2 = laneMax(m2, v128.load(q, 32));
    m3 = laneMax(m3, v128.load(q, 48));
  }
  m = laneMax(laneMax(m, m1), laneMax(m2, m3));
  for (; k + 4 <= n; k += 4) m = laneMax(m, v128.load(p + ((<usize>k) << 2)));
  let r: f32 = -Infinity;
  for (let l = 0; l < 4; l++) {
    const v = f32x4.extract_lane(m, 0);
    m = v128.shuffle<f32>(m, m, 1, 2, 3, 0);
    if (v > r || v != v) r = v;
  }
  for (; k < n; k++) {
    const v = load<f32>(p + ((<usize>k) << 2));
    if (v > r || v != v) r = v;
  }
  return r == 0 ? maxSequential(p, n) : r;
}

/**
 * Max of x seen as [n0, n1, n2] over its middle dim into y [n0, n2], as the JS kernel takes
 * it: from −∞, a value replaces the running max when greater or NaN (so NaN sticks). Columns
 * [j0, j1) of rows `ld` floats apart; `acc` is scratch of (j1 − j0) floats.
 */
export function maxMiddle(
  x: usize,
  y: usize,
  n0: i32,
  n1: i32,
  j0: i32,
  j1: i32,
  ld: i32,
  acc: usize,
): void {
  const rowBytes = (<usize>ld) << 2;
  const w = j1 - j0;
  const inf = f32x4.splat(-Infinity);
  if (ld == 1) {
    // Each max is over one contiguous run.
    for (let i = 0; i < n0; i++)
      store<f32>(y + ((<usize>i) << 2), maxRun(x + ((<usize>i * <usize>n1) << 2), n1));
    return;
  }
  for (let i = 0; i < n0; i++) {
    const base = x + <usize>i * <usize>n1 * rowBytes + ((<usize>j0) << 2);
    let j = 0;
    for (; j + 4 <= w; j += 4) v128.store(acc + ((<usize>j) << 2), inf);
    for (; j < w; j++) store<f32>(acc + ((<usize>j) << 2), -Infinity);
    for (let k = 0; k < n1; k++) {
      const row = base + <usize>k * rowBytes;
      j = 0;
      for (; j + 4 <= w; j += 4) {
        const q = acc + ((<usize>j) << 2);
        v128.store(q, laneMax(v128.load(q), v128.load(row + ((<usize>j) << 2))));
      }
      for (; j < w; j++) {
        const q = acc + ((<usize>j) << 2);
        const v = load<f32>(row + ((<usize>j) << 2));
        if (v > load<f32>(q) || v != v) store<f32>(q, v);
      }
    }
    memory.copy(y + <usize>i * rowBytes + ((<usize>j0) << 2), acc, (<usize>w) << 2);
  }
}

/**
 * acc[j] += row k's float j, in float64 and row order, for the w floats of each of `rows`
 * rows `rowBytes` apart from base (sumMiddle's sums and varMiddle's means).
 */
function addRows(base: usize, rows: i32, rowBytes: usize, w: i32, acc: usize): void {
  for (let k = 0; k < rows; k++) {
    const row = base + <usize>k * rowBytes;
    let j = 0;
    for (; j + 2 <= w; j += 2) {
      const q = acc + ((<usize>j) << 3);
      const v = f64x2.promote_low_f32x4(v128.load64_zero(row + ((<usize>j) << 2)));
      v128.store(q, f64x2.add(v128.load(q), v));
    }
    if (j < w) {
      const q = acc + ((<usize>j) << 3);
      store<f64>(q, load<f64>(q) + <f64>load<f32>(row + ((<usize>j) << 2)));
    }
  }
}

/**
 * Variance of x seen as [n0, n1, n2] over its middle dim into y [n0, n2], as the JS kernel
 * computes it: the mean in float64 (a sum in index order, then divided by n1), then the sum
 * of squared deviations in float64, divided by max(0, n1 − correction); two columns at a time
 * in float64x2 lanes (the same operations per lane). Columns [j0, j1) of rows `ld` floats
 * apart; `acc` is scratch of 2·(j1 − j0) float64s.
 */
export function varMiddle(
  x: usize,
  y: usize,
  n0: i32,
  n1: i32,
  j0: i32,
  j1: i32,
  ld: i32,
  correction: f64,
  acc: usize,
): void {
  const rowBytes = (<usize>ld) << 2;
  const w = j1 - j0;
  const mean = acc,
    sq = acc + ((<usize>w) << 3);
  const count = <f64>n1;
  const denom = max(0, count - correction);
  for (let i = 0; i < n0; i++) {
    const base = x + <usize>i * <usize>n1 * rowBytes + ((<usize>j0) << 2);
    memory.fill(acc, 0, (<usize>w) << 4);
    addRows(base, n1, rowBytes, w, mean);
    for (let j = 0; j < w; j++) {
      const q = mean + ((<usize>j) << 3);
      store<f64>(q, load<f64>(q) / count);
    }
    for (let k = 0; k < n1; k++) {
      const row = base + <usize>k * rowBytes;
      let j = 0;
      for (; j + 2 <= w; j += 2) {
        const q = sq + ((<usize>j) << 3);
        const v = f64x2.promote_low_f32x4(v128.load64_zero(row + ((<usize>j) << 2)));
        const d = f64x2.sub(v, v128.load(mean + ((<usize>j) << 3)));
        v128.store(q, f64x2.add(v128.load(q), f64x2.mul(d, d)));
      }
      if (j < w) {
        const q = sq + ((<usize>j) << 3);
        const d = <f64>load<f32>(row + ((<usize>j) << 2)) - load<f64>(mean + ((<usize>j) << 3));
        store<f64>(q, load<f64>(q) + d * d);
      }
    }
    const out = y + <usize>i * rowBytes + ((<usize>j0) << 2);
    for (let j = 0; j < w; j++)
      store<f32>(out + ((<usize>j) << 2), <f32>(load<f64>(sq + ((<usize>j) << 3)) / denom));
  }
}

/**
 * Sums x seen as [n0, n1, n2] over its middle dim into y [n0, n2], in float64 and index
 * order (every reduction over a set of adjacent dims has this form), for the n2 columns of
 * rows `ld` floats apart (a thread's range of a wider x and y). `acc` is the caller's scratch
 * of n2 float64s: rows stream through it, so memory is read in order.
 */
export function sumMiddle(
  x: usize,
  y: usize,
  n0: i32,
  n1: i32,
  n2: i32,
  ld: i32,
  acc: usize,
): void {
  // ld: the row stride of x and y in floats (n2, or more when a thread takes a column range).
  const rowBytes = (<usize>ld) << 2;
  for (let i = 0; i < n0; i++) {
    const base = x + <usize>i * <usize>n1 * rowBytes;
    const out = y + <usize>i * rowBytes;
    if (ld == 1) {
      store<f32>(out, <f32>sumRun(base, n1, 0)); // one contiguous run
      continue;
    }
    memory.fill(acc, 0, (<usize>n2) << 3);
    addRows(base, n1, rowBytes, n2, acc);
    for (let j = 0; j < n2; j++)
      store<f32>(out + ((<usize>j) << 2), <f32>load<f64>(acc + ((<usize>j) << 3)));
  }
}

/**
 * Sums x seen as [n0, n1, n2] over its first and last dims into y [n1] for j in [j0, j1)
 * (per-channel sums of [N, C, H·W], as a convolution's bias gradient needs), in float64 and
 * index order.
 */
export function sumOuterInner(
  x: usize,
  y: usize,
  j0: i32,
  j1: i32,
  n0: i32,
  n1: i32,
  n2: i32,
): void {
  for (let j = j0; j < j1; j++) {
    let t: f64 = 0;
    for (let i = 0; i < n0; i++) t += sumRun(x + ((<usize>(i * n1 + j) * <usize>n2) << 2), n2, 0);
    store<f32>(y + ((<usize>j) << 2), <f32>t);
  }
}

/**
 * y = x permuted, y contiguous and seen as [n0, n1, n2, n3], x read at element strides
 * s0..s3 for those dims. A unit innermost stride copies whole runs.
 */
export function permute4(
  x: usize,
  y: usize,
  n0: i32,
  n1: i32,
  n2: i32,
  n3: i32,
  s0: i32,
  s1: i32,
  s2: i32,
  s3: i32,
): void {
  let out = y;
  const run = (<usize>n3) << 2;
  for (let i = 0; i < n0; i++)
    for (let j = 0; j < n1; j++)
      for (let k = 0; k < n2; k++) {
        const src = x + ((<usize>(i * s0 + j * s1 + k * s2)) << 2);
        if (s3 == 1) {
          memory.copy(out, src, run);
        } else {
          const step = (<usize>s3) << 2;
          for (let l = 0, p = src; l < n3; l++, p += step)
            store<f32>(out + ((<usize>l) << 2), load<f32>(p));
        }
        out += run;
      }
}

/**
 * permute4 over L > 4 levels: output [d0, ..., d(L-1)] (contiguous) read from x at element
 * strides src, `shape` and `src` pointing at L i32s each. Output blocks o0 .. o1 of the first
 * L - 4 levels (row-major) are walked here, each block's last four levels by permute4.
 */
export function permuteOuter(
  x: usize,
  y: usize,
  L: i32,
  shape: usize,
  src: usize,
  o0: i32,
  o1: i32,
): void {
  const at = (p: usize, l: i32): i32 => load<i32>(p + ((<usize>l) << 2));
  const n0 = at(shape, L - 4),
    n1 = at(shape, L - 3),
    n2 = at(shape, L - 2),
    n3 = at(shape, L - 1);
  const block = <usize>(n0 * n1 * n2 * n3);
  for (let o = o0; o < o1; o++) {
    let rem = o,
      off = 0;
    for (let l = L - 5; l >= 0; l--) {
      const d = at(shape, l);
      off += (rem % d) * at(src, l);
      rem /= d;
    }
    permute4(
      x + ((<usize>off) << 2),
      y + ((<usize>o * block) << 2),
      n0,
      n1,
      n2,
      n3,
      at(src, L - 4),
      at(src, L - 3),
      at(src, L - 2),
      at(src, L - 1),
    );
  }
}
