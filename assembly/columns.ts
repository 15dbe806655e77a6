// BatchNorm over an [N, C] matrix, one statistic per column (BatchNorm1d on features): four
// columns per f32x4, rows walked with stride C. Sums are taken shifted by a per-column centre
// close to the mean, in float32 over blocks of BLOCK rows and merged in float64 (as stats.ts
// does for runs), so no E[x²] − E[x]² cancellation. Column ranges [c0, c1) start at a multiple
// of 4; rows [r0, r1) split the elementwise passes across threads.
import { BLOCK } from './stats';

/**
 * Adds, for columns [c0, c1) of x (float64 into t1, t2, which start at 0): without g (g = 0),
 * Σ (x − centre) and Σ (x − centre)², BatchNorm's moments shifted by centre; with g, Σ g and
 * Σ g·(x − centre), the sums its backward needs.
 * Blocks of BLOCK rows go across all the columns before the next block: walking one column
 * group down all N rows first touched a new page per row (an 8 MB matrix missed the TLB on
 * every load, and ran at a fifth of the speed).
 */
export function colSums(
  x: usize,
  g: usize,
  N: i32,
  C: i32,
  c0: i32,
  c1: i32,
  centre: usize,
  t1: usize,
  t2: usize,
): void {
  const row = (<usize>C) << 2;
  const dg = g - x;
  const vend = c0 + ((c1 - c0) & ~3);
  for (let r = 0; r < N; r += BLOCK) {
    const end = min(N, r + BLOCK);
    for (let c = c0; c < vend; c += 4) {
      const q = (<usize>c) << 2;
      const ce = v128.load(centre + q);
      let a = f32x4.splat(0),
        b = f32x4.splat(0);
      let p = x + <usize>r * row + q;
      if (g) {
        for (let k = r; k < end; k++, p += row) {
          const gv = v128.load(p + dg);
          a = f32x4.add(a, gv);
          b = f32x4.add(b, f32x4.mul(gv, f32x4.sub(v128.load(p), ce)));
        }
      } else {
        for (let k = r; k < end; k++, p += row) {
          const d = f32x4.sub(v128.load(p), ce);
          a = f32x4.add(a, d);
          b = f32x4.add(b, f32x4.mul(d, d));
        }
      }
      const o = (<usize>c) << 3;
      addLanes(t1 + o, a);
      addLanes(t2 + o, b);
    }
    for (let c = vend; c < c1; c++) {
      const ce = load<f32>(centre + ((<usize>c) << 2));
      let a: f64 = 0,
        b: f64 = 0;
      for (let k = r; k < end; k++) {
        const at = <usize>k * row + ((<usize>c) << 2);
        const d = load<f32>(x + at) - ce;
        if (g) {
          const gv = load<f32>(g + at);
          a += <f64>gv;
          b += <f64>(gv * d);
        } else {
          a += <f64>d;
          b += <f64>(d * d);
        }
      }
      store<f64>(t1 + ((<usize>c) << 3), load<f64>(t1 + ((<usize>c) << 3)) + a);
      store<f64>(t2 + ((<usize>c) << 3), load<f64>(t2 + ((<usize>c) << 3)) + b);
    }
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

/** Adds the four float32 lanes of v to the four float64 at p. */
function addLanes(p: usize, v: v128): void {
  v128.store(p, f64x2.add(v128.load(p), f64x2.promote_low_f32x4(v)));
  v128.store(
    p,
    f64x2.add(v128.load(p, 16), f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1))),
    16,
  );
}
