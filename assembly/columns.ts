// BatchNorm over an [N, C] matrix, one statistic per column (BatchNorm1d on features): four
// columns per f32x4, rows walked with stride C. Sums are taken shifted by a per-column centre
// close to the mean, in float32 over blocks of BLOCK rows and merged in float64 (as stats.ts
// does for runs), so no E[x²] − E[x]² cancellation. Column ranges [c0, c1) start at a multiple
// of 4; rows [r0, r1) split the elementwise passes across threads.
import { BLOCK } from './stats';

/** s1[c] = Σ (x − shift[c]), s2[c] = Σ (x − shift[c])² over all N rows (float64), c in [c0, c1). */
export function colShiftedSums(
  x: usize,
  N: i32,
  C: i32,
  c0: i32,
  c1: i32,
  shift: usize,
  s1: usize,
  s2: usize,
): void {
  const row = (<usize>C) << 2;
  let c = c0;
  for (; c + 4 <= c1; c += 4) {
    const q = (<usize>c) << 2;
    const sh = v128.load(shift + q);
    let t1lo = f64x2.splat(0),
      t1hi = f64x2.splat(0),
      t2lo = f64x2.splat(0),
      t2hi = f64x2.splat(0);
    for (let r = 0; r < N; r += BLOCK) {
      const end = min(N, r + BLOCK);
      let a = f32x4.splat(0),
        b = f32x4.splat(0);
      let p = x + <usize>r * row + q;
      for (let k = r; k < end; k++, p += row) {
        const d = f32x4.sub(v128.load(p), sh);
        a = f32x4.add(a, d);
        b = f32x4.add(b, f32x4.mul(d, d));
      }
      t1lo = f64x2.add(t1lo, f64x2.promote_low_f32x4(a));
      t1hi = f64x2.add(t1hi, f64x2.promote_low_f32x4(v128.shuffle<f32>(a, a, 2, 3, 0, 1)));
      t2lo = f64x2.add(t2lo, f64x2.promote_low_f32x4(b));
      t2hi = f64x2.add(t2hi, f64x2.promote_low_f32x4(v128.shuffle<f32>(b, b, 2, 3, 0, 1)));
    }
    const o = (<usize>c) << 3;
    v128.store(s1 + o, t1lo);
    v128.store(s1 + o, t1hi, 16);
    v128.store(s2 + o, t2lo);
    v128.store(s2 + o, t2hi, 16);
  }
  for (; c < c1; c++) {
    const sh = load<f32>(shift + ((<usize>c) << 2));
    let t1: f64 = 0,
      t2: f64 = 0;
    for (let r = 0; r < N; r++) {
      const d = load<f32>(x + <usize>r * row + ((<usize>c) << 2)) - sh;
      t1 += <f64>d;
      t2 += <f64>(d * d);
    }
    store<f64>(s1 + ((<usize>c) << 3), t1);
    store<f64>(s2 + ((<usize>c) << 3), t2);
  }
}

/**
 * sg[c] = Σ g, sgx[c] = Σ g·(x − centre[c]) over all rows (float64), c in [c0, c1): the sums
 * BatchNorm's backward needs, centred like the forward's.
 */
export function colGradSums(
  g: usize,
  x: usize,
  N: i32,
  C: i32,
  c0: i32,
  c1: i32,
  centre: usize,
  sg: usize,
  sgx: usize,
): void {
  const row = (<usize>C) << 2;
  const dg = g - x;
  let c = c0;
  for (; c + 4 <= c1; c += 4) {
    const q = (<usize>c) << 2;
    const ce = v128.load(centre + q);
    let t1lo = f64x2.splat(0),
      t1hi = f64x2.splat(0),
      t2lo = f64x2.splat(0),
      t2hi = f64x2.splat(0);
    for (let r = 0; r < N; r += BLOCK) {
      const end = min(N, r + BLOCK);
      let a = f32x4.splat(0),
        b = f32x4.splat(0);
      let p = x + <usize>r * row + q;
      for (let k = r; k < end; k++, p += row) {
        const gv = v128.load(p + dg);
        a = f32x4.add(a, gv);
        b = f32x4.add(b, f32x4.mul(gv, f32x4.sub(v128.load(p), ce)));
      }
      t1lo = f64x2.add(t1lo, f64x2.promote_low_f32x4(a));
      t1hi = f64x2.add(t1hi, f64x2.promote_low_f32x4(v128.shuffle<f32>(a, a, 2, 3, 0, 1)));
      t2lo = f64x2.add(t2lo, f64x2.promote_low_f32x4(b));
      t2hi = f64x2.add(t2hi, f64x2.promote_low_f32x4(v128.shuffle<f32>(b, b, 2, 3, 0, 1)));
    }
    const o = (<usize>c) << 3;
    v128.store(sg + o, t1lo);
    v128.store(sg + o, t1hi, 16);
    v128.store(sgx + o, t2lo);
    v128.store(sgx + o, t2hi, 16);
  }
  for (; c < c1; c++) {
    const ce = load<f32>(centre + ((<usize>c) << 2));
    let t1: f64 = 0,
      t2: f64 = 0;
    for (let r = 0; r < N; r++) {
      const at = <usize>r * row + ((<usize>c) << 2);
      const gv = load<f32>(g + at);
      t1 += <f64>gv;
      t2 += <f64>(gv * (load<f32>(x + at) - ce));
    }
    store<f64>(sg + ((<usize>c) << 3), t1);
    store<f64>(sgx + ((<usize>c) << 3), t2);
  }
}

/**
 * Rows [r0, r1): out = (x − centre)·a + b (then max(·, 0) when relu), or with g given (≠ 0)
 * out = g·k + (x − centre)·a + b (BatchNorm's dx); every constant per column, float32.
 */
export function colAffine(
  x: usize,
  g: usize,
  out: usize,
  r0: i32,
  r1: i32,
  C: i32,
  centre: usize,
  k: usize,
  a: usize,
  b: usize,
  relu: i32,
): void {
  const zero = f32x4.splat(0);
  const end = C & ~3;
  for (let r = r0; r < r1; r++) {
    const base = (<usize>r * <usize>C) << 2;
    for (let c = 0; c < end; c += 4) {
      const q = (<usize>c) << 2;
      let v = f32x4.add(
        f32x4.mul(f32x4.sub(v128.load(x + base + q), v128.load(centre + q)), v128.load(a + q)),
        v128.load(b + q),
      );
      if (g) v = f32x4.add(v, f32x4.mul(v128.load(g + base + q), v128.load(k + q)));
      if (relu) v = f32x4.max(v, zero);
      v128.store(out + base + q, v);
    }
    for (let c = end; c < C; c++) {
      const q = (<usize>c) << 2;
      let v =
        (load<f32>(x + base + q) - load<f32>(centre + q)) * load<f32>(a + q) + load<f32>(b + q);
      if (g) v += load<f32>(g + base + q) * load<f32>(k + q);
      if (relu && v < 0) v = 0;
      store<f32>(out + base + q, v);
    }
  }
}
