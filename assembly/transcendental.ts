// exp, log, sigmoid, tanh and GELU four lanes at a time: Cephes' single-precision range reductions
// and polynomials (as in sse_mathfun), a couple of float32 ulps from the correctly rounded
// value, with IEEE's special values (±inf, NaN, 0, subnormal inputs) handled by selects.

const EXP_HI: f32 = 88.72283935546875; // above: +inf
const EXP_LO: f32 = -103.97208; // below: 0 (e^x under half the smallest subnormal)
const LOG2E: f32 = 1.44269504088896341;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.1219444e-4;

function splat(v: f32): v128 {
  return f32x4.splat(v);
}

/**
 * Whole floats in i32 range to i32 lanes: the relaxed build's one-instruction conversion
 * (trunc_sat's saturation and NaN handling cost about eight instructions in V8). Out of range
 * or NaN, the two differ; callers pass values in range (or a NaN whose result is discarded).
 */
export function truncToInt(v: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i32x4.relaxed_trunc_f32x4_s(v);
  return i32x4.trunc_sat_f32x4_s(v);
}

/** eˣ: x = n·ln 2 + r, |r| ≤ ln 2 / 2, e^r by a degree-6 polynomial, 2ⁿ into the exponent bits. */
export function exp4(x: v128): v128 {
  const big = f32x4.gt(x, splat(EXP_HI));
  const tiny = f32x4.lt(x, splat(EXP_LO));
  // pmax / pmin keep x when it is NaN (x < lo and hi < x are false) and cost an instruction
  // each, where f32x4.max / min cost about nine in V8.
  let v = f32x4.pmin(f32x4.pmax(x, splat(EXP_LO)), splat(EXP_HI));
  const fx = f32x4.floor(f32x4.add(f32x4.mul(v, splat(LOG2E)), splat(0.5)));
  v = f32x4.sub(f32x4.sub(v, f32x4.mul(fx, splat(LN2_HI))), f32x4.mul(fx, splat(LN2_LO)));
  const z = f32x4.mul(v, v);
  let y = splat(1.98756915e-4);
  y = f32x4.add(f32x4.mul(y, v), splat(1.3981999507e-3));
  y = f32x4.add(f32x4.mul(y, v), splat(8.3334519073e-3));
  y = f32x4.add(f32x4.mul(y, v), splat(4.1665795894e-2));
  y = f32x4.add(f32x4.mul(y, v), splat(1.6666665459e-1));
  y = f32x4.add(f32x4.mul(y, v), splat(5.0000001201e-1));
  y = f32x4.add(f32x4.add(f32x4.mul(y, z), v), splat(1));
  // ·2ⁿ as ·2^(n>>1)·2^(n − n>>1): both factors are normal floats for n in [−150, 128], so
  // n = 128 does not overflow and subnormal results come out gradually.
  const n = truncToInt(fx);
  const n1 = i32x4.shr_s(n, 1);
  const bias = i32x4.splat(127);
  y = f32x4.mul(
    f32x4.mul(y, i32x4.shl(i32x4.add(n1, bias), 23)),
    i32x4.shl(i32x4.add(i32x4.sub(n, n1), bias), 23),
  );
  return v128.bitselect(splat(Infinity), v128.andnot(y, tiny), big);
}

/** log x: x = m·2ᵉ with m in [√½, √2), log(m) by a degree-9 polynomial in m − 1. */
function log4(x: v128): v128 {
  const zero = splat(0);
  const nan = f32x4.ne(x, x);
  const negative = f32x4.lt(x, zero);
  const isZero = f32x4.eq(x, zero);
  const isInf = f32x4.eq(x, splat(Infinity));
  // Subnormal inputs: scaled by 2²³ first, their exponent corrected after.
  const sub = v128.and(f32x4.lt(x, splat(1.17549435e-38)), f32x4.gt(x, zero));
  let v = v128.bitselect(f32x4.mul(x, splat(8388608)), x, sub);
  let e = f32x4.convert_i32x4_s(i32x4.sub(i32x4.shr_u(v, 23), i32x4.splat(126)));
  e = f32x4.sub(e, v128.and(splat(23), sub));
  v = v128.or(v128.and(v, i32x4.splat(0x807fffff)), splat(0.5)); // mantissa in [0.5, 1)
  const small = f32x4.lt(v, splat(0.707106781186547524));
  e = f32x4.sub(e, v128.and(splat(1), small));
  v = f32x4.add(f32x4.sub(v, splat(1)), v128.and(v, small));
  const z = f32x4.mul(v, v);
  let y = splat(7.0376836292e-2);
  y = f32x4.add(f32x4.mul(y, v), splat(-1.151461031e-1));
  y = f32x4.add(f32x4.mul(y, v), splat(1.167699874e-1));
  y = f32x4.add(f32x4.mul(y, v), splat(-1.2420140846e-1));
  y = f32x4.add(f32x4.mul(y, v), splat(1.4249322787e-1));
  y = f32x4.add(f32x4.mul(y, v), splat(-1.6668057665e-1));
  y = f32x4.add(f32x4.mul(y, v), splat(2.0000714765e-1));
  y = f32x4.add(f32x4.mul(y, v), splat(-2.4999993993e-1));
  y = f32x4.add(f32x4.mul(y, v), splat(3.3333331174e-1));
  y = f32x4.mul(f32x4.mul(y, v), z);
  y = f32x4.add(y, f32x4.mul(e, splat(LN2_LO)));
  y = f32x4.sub(y, f32x4.mul(z, splat(0.5)));
  let r = f32x4.add(f32x4.add(v, y), f32x4.mul(e, splat(LN2_HI)));
  r = v128.bitselect(splat(-Infinity), r, isZero);
  r = v128.bitselect(splat(Infinity), r, isInf);
  return v128.bitselect(splat(NaN), r, v128.or(nan, negative));
}

/** tanh: an odd polynomial below |x| = 0.625, 1 − 2/(e^{2|x|} + 1) above, the sign put back. */
export function tanh4(x: v128): v128 {
  const a = f32x4.abs(x);
  const z = f32x4.mul(x, x);
  let p = splat(-5.70498872745e-3);
  p = f32x4.add(f32x4.mul(p, z), splat(2.06390887954e-2));
  p = f32x4.add(f32x4.mul(p, z), splat(-5.37397155531e-2));
  p = f32x4.add(f32x4.mul(p, z), splat(1.33314422036e-1));
  p = f32x4.add(f32x4.mul(p, z), splat(-3.33332819422e-1));
  const near = f32x4.add(f32x4.mul(f32x4.mul(p, z), x), x);
  const far = f32x4.sub(splat(1), f32x4.div(splat(2), f32x4.add(exp4(f32x4.add(a, a)), splat(1))));
  const signed = v128.or(far, v128.and(x, i32x4.splat(0x80000000)));
  return v128.bitselect(near, signed, f32x4.lt(a, splat(0.625)));
}

/**
 * erfc(u) = t·exp(−u² + P(t)), t = 1/(1 + |u|/2), for u ≥ 0, and 2 − that below: Numerical
 * Recipes' erfcc (relative error under 1.2e-7 in exact arithmetic).
 */
function erfc4(u: v128): v128 {
  const z = f32x4.abs(u);
  const t = f32x4.div(splat(1), f32x4.add(splat(1), f32x4.mul(splat(0.5), z)));
  let p = splat(0.17087277);
  p = f32x4.add(f32x4.mul(p, t), splat(-0.82215223));
  p = f32x4.add(f32x4.mul(p, t), splat(1.48851587));
  p = f32x4.add(f32x4.mul(p, t), splat(-1.13520398));
  p = f32x4.add(f32x4.mul(p, t), splat(0.27886807));
  p = f32x4.add(f32x4.mul(p, t), splat(-0.18628806));
  p = f32x4.add(f32x4.mul(p, t), splat(0.09678418));
  p = f32x4.add(f32x4.mul(p, t), splat(0.37409196));
  p = f32x4.add(f32x4.mul(p, t), splat(1.00002368));
  p = f32x4.add(f32x4.mul(p, t), splat(-1.26551223));
  const ans = f32x4.mul(t, exp4(f32x4.sub(p, f32x4.mul(z, z))));
  return v128.bitselect(ans, f32x4.sub(splat(2), ans), f32x4.ge(u, splat(0)));
}

const SQRT1_2: f32 = 0.7071067811865476;
const INV_SQRT_2PI: f32 = 0.3989422804014327;

/** GELU, x·Φ(x) = x·erfc(−x/√2)/2 (exact form, not the tanh approximation). */
function gelu4(x: v128): v128 {
  return f32x4.mul(f32x4.mul(splat(0.5), x), erfc4(f32x4.mul(x, splat(-SQRT1_2))));
}

/** dx = dy·(Φ(x) + x·φ(x)) over n floats. */
export function geluGrad(dy: usize, x: usize, dx: usize, n: i32): void {
  const end = n & ~3;
  for (let i = 0; i < end; i += 4) {
    const q = (<usize>i) << 2;
    v128.store(dx + q, geluGradLanes(v128.load(dy + q), v128.load(x + q)));
  }
  for (let i = end; i < n; i++) {
    const q = (<usize>i) << 2;
    const r = geluGradLanes(f32x4.splat(load<f32>(dy + q)), f32x4.splat(load<f32>(x + q)));
    store<f32>(dx + q, f32x4.extract_lane(r, 0));
  }
}

function geluGradLanes(g: v128, x: v128): v128 {
  const cdf = f32x4.mul(splat(0.5), erfc4(f32x4.mul(x, splat(-SQRT1_2))));
  const pdf = f32x4.mul(splat(INV_SQRT_2PI), exp4(f32x4.mul(splat(-0.5), f32x4.mul(x, x))));
  return f32x4.mul(g, f32x4.add(cdf, f32x4.mul(x, pdf)));
}

/** Math.sign: ±1, and ±0 and NaN as they are. */
function sign4(v: v128): v128 {
  const zero = f32x4.splat(0);
  const r = v128.bitselect(f32x4.splat(1), v, f32x4.gt(v, zero));
  return v128.bitselect(f32x4.splat(-1), r, f32x4.lt(v, zero));
}

/** 1 / (1 + e⁻ˣ). */
export function sigmoid4(x: v128): v128 {
  return f32x4.div(splat(1), f32x4.add(splat(1), exp4(f32x4.neg(x))));
}

export const EXP = 0,
  LOG = 1,
  SIGMOID = 2,
  TANH = 3,
  GELU = 4,
  NEG = 5,
  SQRT = 6,
  ABS = 7,
  SIGN = 8;

function apply(op: i32, v: v128): v128 {
  if (op == EXP) return exp4(v);
  if (op == LOG) return log4(v);
  if (op == SIGMOID) return sigmoid4(v);
  if (op == TANH) return tanh4(v);
  if (op == GELU) return gelu4(v);
  if (op == NEG) return f32x4.neg(v);
  if (op == SQRT) return f32x4.sqrt(v);
  if (op == ABS) return f32x4.abs(v);
  return sign4(v);
}

/** y = f(x) over n floats, f by op code (EXP … ABS); the tail one lane at a time. */
export function unaryMath(op: i32, x: usize, y: usize, n: i32): void {
  const end = n & ~3;
  // One loop per op: the op test stays outside the loop.
  if (op == EXP)
    for (let i = 0; i < end; i += 4)
      v128.store(y + ((<usize>i) << 2), exp4(v128.load(x + ((<usize>i) << 2))));
  else if (op == LOG)
    for (let i = 0; i < end; i += 4)
      v128.store(y + ((<usize>i) << 2), log4(v128.load(x + ((<usize>i) << 2))));
  else if (op == SIGMOID)
    for (let i = 0; i < end; i += 4)
      v128.store(y + ((<usize>i) << 2), sigmoid4(v128.load(x + ((<usize>i) << 2))));
  else if (op == TANH)
    for (let i = 0; i < end; i += 4)
      v128.store(y + ((<usize>i) << 2), tanh4(v128.load(x + ((<usize>i) << 2))));
  else if (op == GELU)
    for (let i = 0; i < end; i += 4)
      v128.store(y + ((<usize>i) << 2), gelu4(v128.load(x + ((<usize>i) << 2))));
  // The exact ones (neg, sqrt, abs and sign: correctly rounded in IEEE arithmetic).
  else
    for (let i = 0; i < end; i += 4)
      v128.store(y + ((<usize>i) << 2), apply(op, v128.load(x + ((<usize>i) << 2))));
  for (let i = end; i < n; i++) {
    const r = apply(op, f32x4.splat(load<f32>(x + ((<usize>i) << 2))));
    store<f32>(y + ((<usize>i) << 2), f32x4.extract_lane(r, 0));
  }
}

/**
 * y = x^e over n floats as the JS kernel computes it: Math.pow in float64, rounded to float32
 * (AssemblyScript's pow and V8's are both within an ulp in float64, which after the rounding
 * to float32 almost never shows). e = 2, the common case, is a float32 multiply: the square
 * of a float32 is exact in float64, so rounding it once gives the same bits.
 */
export function powScalar(x: usize, y: usize, n: i32, e: f64): void {
  let i = 0;
  if (e == 2) {
    for (; i + 4 <= n; i += 4) {
      const v = v128.load(x + ((<usize>i) << 2));
      v128.store(y + ((<usize>i) << 2), f32x4.mul(v, v));
    }
    for (; i < n; i++) {
      const v = load<f32>(x + ((<usize>i) << 2));
      store<f32>(y + ((<usize>i) << 2), v * v);
    }
    return;
  }
  for (; i < n; i++)
    store<f32>(y + ((<usize>i) << 2), <f32>Math.pow(<f64>load<f32>(x + ((<usize>i) << 2)), e));
}
