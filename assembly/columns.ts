// BatchNorm over an [N, C] matrix, one statistic per column (BatchNorm1d on features): four
// columns per f32x4, rows read in order along memory. Sums are taken shifted by a per-column centre
// close to the mean, in float32 over blocks of BLOCK rows and merged in float64 (as stats.ts
// does for runs), so no E[x²] − E[x]² cancellation. Threads split the sums by blocks of rows
// and the elementwise passes by rows [r0, r1).
import { relu4 } from './elementwise';
import { BLOCK } from './stats';

/**
 * BLOCK-row blocks [b0, b1) of x's column sums (float64 partials, one [2, C] pair per block
 * at partials + 16·C·b bytes, for colMerge to add in block order): without g (g = 0),
 * Σ (x − centre) and Σ (x − centre)², BatchNorm's moments shifted by centre; with g, Σ g and
 * Σ g·(x − centre), the sums its backward needs. Within a block, rows are read in order along
 * memory, the four-column groups summed in float32 in `acc` (this thread's 2·C floats); the
 * last ragged columns in float64. Threads take whole blocks, and the merge's order is the
 * blocks', so the bits do not depend on the split. (Walking a column group down the rows,
 * 2 KB apart for 512 columns, waited on a miss per row: 19 % slower on [4096, 512].)
 */
export function colSums(
  x: usize,
  g: usize,
  N: i32,
  C: i32,
  b0: i32,
  b1: i32,
  centre: usize,
  partials: usize,
  acc: usize,
): void {
  const row = (<usize>C) << 2;
  const vend = C & ~3;
  const span = (<usize>vend) << 2;
  const accB = acc + span;
  for (let blk = b0; blk < b1; blk++) {
    const r = blk * BLOCK,
      end = min(N, r + BLOCK);
    memory.fill(acc, 0, span << 1);
    // Four rows per trip through acc (each column still sums its rows in order): with a trip
    // per row, acc's loads and stores made the pass slower at 2 threads than the old walk.
    let k = r;
    for (; k + 4 <= end; k += 4) {
      const px = x + <usize>k * row;
      const pg = g + <usize>k * row;
      for (let q: usize = 0; q < span; q += 16) {
        const ce = v128.load(centre + q);
        let a = v128.load(acc + q),
          b = v128.load(accB + q);
        for (let u: usize = 0; u < 4 * row; u += row) {
          const d = f32x4.sub(v128.load(px + u + q), ce);
          if (g) {
            const gv = v128.load(pg + u + q);
            a = f32x4.add(a, gv);
            b = f32x4.add(b, f32x4.mul(gv, d));
          } else {
            a = f32x4.add(a, d);
            b = f32x4.add(b, f32x4.mul(d, d));
          }
        }
        v128.store(acc + q, a);
        v128.store(accB + q, b);
      }
    }
    for (; k < end; k++) {
      const px = x + <usize>k * row;
      const pg = g + <usize>k * row;
      for (let q: usize = 0; q < span; q += 16) {
        const d = f32x4.sub(v128.load(px + q), v128.load(centre + q));
        if (g) {
          const gv = v128.load(pg + q);
          v128.store(acc + q, f32x4.add(v128.load(acc + q), gv));
          v128.store(accB + q, f32x4.add(v128.load(accB + q), f32x4.mul(gv, d)));
        } else {
          v128.store(acc + q, f32x4.add(v128.load(acc + q), d));
          v128.store(accB + q, f32x4.add(v128.load(accB + q), f32x4.mul(d, d)));
        }
      }
    }
    const p1 = partials + ((<usize>blk * row) << 2),
      p2 = p1 + (row << 1);
    for (let q: usize = 0; q < span; q += 16) {
      v128.store(p1 + (q << 1), f64x2.promote_low_f32x4(v128.load(acc + q)));
      v128.store(p1 + (q << 1), f64x2.promote_low_f32x4(v128.load(acc + q, 8)), 16);
      v128.store(p2 + (q << 1), f64x2.promote_low_f32x4(v128.load(accB + q)));
      v128.store(p2 + (q << 1), f64x2.promote_low_f32x4(v128.load(accB + q, 8)), 16);
    }
    for (let c = vend; c < C; c++) {
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
      store<f64>(p1 + ((<usize>c) << 3), a);
      store<f64>(p2 + ((<usize>c) << 3), b);
    }
  }
}

/** Rows of one of colSums's blocks. */
export function colBlockRows(): i32 {
  return BLOCK;
}

/** t1, t2 [C] (float64) = the sums of colSums's `blocks` partial pairs, in block order. */
export function colMerge(partials: usize, blocks: i32, C: i32, t1: usize, t2: usize): void {
  const bytes = (<usize>C) << 3;
  memory.fill(t1, 0, bytes);
  memory.fill(t2, 0, bytes);
  for (let blk = 0; blk < blocks; blk++) {
    const p1 = partials + <usize>blk * (bytes << 1),
      p2 = p1 + bytes;
    let q: usize = 0;
    for (; q + 16 <= bytes; q += 16) {
      v128.store(t1 + q, f64x2.add(v128.load(t1 + q), v128.load(p1 + q)));
      v128.store(t2 + q, f64x2.add(v128.load(t2 + q), v128.load(p2 + q)));
    }
    for (; q < bytes; q += 8) {
      store<f64>(t1 + q, load<f64>(t1 + q) + load<f64>(p1 + q));
      store<f64>(t2 + q, load<f64>(t2 + q) + load<f64>(p2 + q));
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
      if (relu) v = relu4(v);
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
