// Winograd F(2x2, 3x3) convolution (Lavin & Gray, 2016) for 3x3 kernels, stride 1, dilation 1,
// one group: each 2x2 output tile comes from a 4x4 input tile through 16 products instead of
// 36. Input tiles are transformed (V = Bᵀ d B), multiplied by the transformed weights
// (U = G g Gᵀ) in 16 GEMMs, M[ξ] (K x T) = U[ξ] (K x C) · V[ξ] (C x T) over all T tiles of a
// block of images, and transformed back (Y = Aᵀ M A). The transforms take four tiles along a
// row at once, one per SIMD lane; a row's last group reads the zero border past its tiles. The
// GEMMs' columns are only the real tiles, numbered densely (image, row, column): a group's
// extra lanes land on the next row's first tiles, which that row's first group writes after.
//
// flip = 1 runs the adjoint's convolution for backward-input: w is then [C, K, 3, 3] and the
// kernel used for (k, c) is w[c, k] rotated by 180 degrees.
import {
  gemmPackedABytes,
  packWholeA,
  packedBFloats,
  packedBBlockEnd,
  packedBIndex,
  PACKED_B_K_BYTES,
  sdotNT,
  sgemmPackedAB,
} from './gemm';
import { relu4 } from './elementwise';
import { blockIsFull2x2, poolPlanes, windowMax4 } from './pool';

/** Tap i of the 3x3 kernels at b0 and b1 as the two float64 lanes (flip: rotated). */
function tap2(b0: usize, b1: usize, i: i32, flip: i32): v128 {
  const off = (<usize>(flip ? 8 - i : i)) << 2;
  return f64x2.replace_lane(f64x2.splat(<f64>load<f32>(b0 + off)), 1, <f64>load<f32>(b1 + off));
}

/** The lanes rounded to float32, stored side by side (adjacent channels of u): both, or lane
 * 0 alone for a last odd channel. */
function store2(p: usize, v: v128, both: bool): void {
  if (both) v128.store64_lane(p, f32x4.demote_f64x2_zero(v), 0);
  else store<f32>(p, <f32>f64x2.extract_lane(v, 0));
}

/** One row (a, b, d) of G applied: a, (a + b + d)/2, (a − b + d)/2, d, stored a plane apart;
 * for two kernels at once, one per float64 lane. */
function gRow2(a: v128, b: v128, d: v128, out: usize, plane: usize, both: bool): void {
  const h = f64x2.splat(0.5);
  store2(out, a, both);
  store2(out + plane, f64x2.mul(h, f64x2.add(f64x2.add(a, b), d)), both);
  store2(out + 2 * plane, f64x2.mul(h, f64x2.add(f64x2.sub(a, b), d)), both);
  store2(out + 3 * plane, d, both);
}

/** G g Gᵀ for every (k, c): u[(ξ·K + k)·C + c], ξ = 4·row + column, in float64 then rounded;
 * two input channels at a time in float64x2 lanes (a last odd one in lane 0 alone). */
function transformWeights(w: usize, K: i32, C: i32, flip: i32, u: usize): void {
  const plane = (<usize>(K * C)) << 2;
  const h = f64x2.splat(0.5);
  for (let k = 0; k < K; k++) {
    for (let c = 0; c < C; c += 2) {
      const both = c + 1 < C;
      const b0 = w + ((<usize>((flip ? c * K + k : k * C + c) * 9)) << 2);
      const c1 = both ? c + 1 : c;
      const b1 = w + ((<usize>((flip ? c1 * K + k : k * C + c1) * 9)) << 2);
      const g0 = tap2(b0, b1, 0, flip),
        g1 = tap2(b0, b1, 1, flip),
        g2 = tap2(b0, b1, 2, flip),
        g3 = tap2(b0, b1, 3, flip),
        g4 = tap2(b0, b1, 4, flip),
        g5 = tap2(b0, b1, 5, flip),
        g6 = tap2(b0, b1, 6, flip),
        g7 = tap2(b0, b1, 7, flip),
        g8 = tap2(b0, b1, 8, flip);
      // Rows of G g: g_row0, (row0 + row1 + row2)/2, (row0 − row1 + row2)/2, row2; then G on each.
      const out = u + ((<usize>(k * C + c)) << 2);
      gRow2(g0, g1, g2, out, plane, both);
      gRow2(
        f64x2.mul(h, f64x2.add(f64x2.add(g0, g3), g6)),
        f64x2.mul(h, f64x2.add(f64x2.add(g1, g4), g7)),
        f64x2.mul(h, f64x2.add(f64x2.add(g2, g5), g8)),
        out + 4 * plane,
        plane,
        both,
      );
      gRow2(
        f64x2.mul(h, f64x2.add(f64x2.sub(g0, g3), g6)),
        f64x2.mul(h, f64x2.add(f64x2.sub(g1, g4), g7)),
        f64x2.mul(h, f64x2.add(f64x2.sub(g2, g5), g8)),
        out + 8 * plane,
        plane,
        both,
      );
      gRow2(g6, g7, g8, out + 12 * plane, plane, both);
    }
  }
}

/** Rows and columns of the zero-bordered image copy that the input transform reads. */
function paddedRows(tilesH: i32): i32 {
  return 2 * tilesH + 2;
}
function paddedCols(tilesWp: i32): i32 {
  return 2 * tilesWp + 4; // the last group of four tiles loads columns up to 2·tilesWp + 3
}

/**
 * Bytes between two of the 16 ξ planes of `floats` floats: whole cache lines, an odd number of
 * them, so that the 16 planes a transform reads or writes at once fall in 16 different L1 sets.
 * Planes a multiple of 4 KB apart all fell in one set: the input transform of a 16x16 image
 * (V planes of 32 KB) took 4x its time at 14x14 (BENCHMARKS.md).
 */
function planeBytes(floats: i32): usize {
  const lines = (<usize>floats + 15) >> 4;
  return (lines | 1) << 6;
}

/**
 * n floats from src to dst, four at a time: the rows copied here are short (14 floats for a
 * 14x14 image), where memory.copy's call into the engine cost more than the copy.
 */
function copyRow(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4)
    v128.store(dst + ((<usize>i) << 2), v128.load(src + ((<usize>i) << 2)));
  for (; i < n; i++) store<f32>(dst + ((<usize>i) << 2), load<f32>(src + ((<usize>i) << 2)));
}

/** Copies nb images [C, H, W] into zero-bordered planes [C, Hp, Wp] (ph rows, pw columns before). */
function pad(
  x: usize,
  nb: i32,
  C: i32,
  H: i32,
  W: i32,
  ph: i32,
  pw: i32,
  Hp: i32,
  Wp: i32,
  out: usize,
): void {
  memory.fill(out, 0, (<usize>(nb * C * Hp * Wp)) << 2);
  for (let p = 0; p < nb * C; p++) {
    const src = x + ((<usize>(p * H * W)) << 2);
    const dst = out + ((<usize>((p * Hp + ph) * Wp + pw)) << 2);
    for (let r = 0; r < H; r++)
      copyRow(dst + ((<usize>(r * Wp)) << 2), src + ((<usize>(r * W)) << 2), W);
  }
}

// Bᵀ d B on four tiles at once: rows (d0 − d2, d1 + d2, d2 − d1, d1 − d3), then the same on
// columns. v[ξ] goes to v + ((ξ·C + c)·T + t)·4.
function inputTransform(
  padded: usize,
  nb: i32,
  C: i32,
  tilesH: i32,
  tilesW: i32,
  Hp: i32,
  Wp: i32,
  T: i32,
  v: usize,
  packedN: i32,
): void {
  const rowBytes = (<usize>Wp) << 2;
  // packedN > 0: each ξ plane holds V [C, packedN] in the GEMM's packed-B layout (planes
  // planeBytes(packedBFloats(C, T)) apart), written channel by channel for each group of
  // tiles so that the stores run along the packed panels; otherwise V [C, T] row-major, tile
  // by tile (T leaves room past the last tile for a group's extra lanes).
  const plane = planeBytes(packedN > 0 ? packedBFloats(C, T) : C * T);
  for (let i = 0; i < nb; i++) {
    if (packedN > 0) {
      for (let ty = 0; ty < tilesH; ty++) {
        for (let tx = 0; tx < tilesW; tx += 4) {
          const t = (i * tilesH + ty) * tilesW + tx;
          const at = padded + ((<usize>((i * C * Hp + 2 * ty) * Wp + 2 * tx)) << 2);
          // Four lanes in one 8-column panel: stored in place. Down the channels the index
          // steps by a panel row within each block of K.
          const split = (t & 7) > 4;
          for (let c = 0; c < C;) {
            const end = packedBBlockEnd(C, c);
            let out = v + ((<usize>packedBIndex(C, packedN, c, t)) << 2);
            if (split) {
              // Across two panels: lanes [0, a) end this one, the others start the next
              // (dropped past the last panel: extra lanes, past the block's tiles).
              const a = 8 - (t & 7);
              const next = (t | 7) + 1;
              const has2 = next < packedN;
              let out2 = has2 ? v + ((<usize>packedBIndex(C, packedN, c, next)) << 2) : 0;
              for (; c < end; c++, out += PACKED_B_K_BYTES, out2 += PACKED_B_K_BYTES) {
                const src = at + <usize>c * Hp * rowBytes;
                transformGroup<Split>(src, rowBytes, out, plane, has2 ? out2 : 0, a);
              }
              continue;
            }
            for (; c < end; c++, out += PACKED_B_K_BYTES)
              transformGroup<Whole>(at + <usize>c * Hp * rowBytes, rowBytes, out, plane, 0, 4);
          }
        }
      }
      continue;
    }
    for (let c = 0; c < C; c++) {
      const src = padded + ((<usize>((i * C + c) * Hp * Wp)) << 2);
      for (let ty = 0; ty < tilesH; ty++) {
        for (let tx = 0; tx < tilesW; tx += 4) {
          const t = (i * tilesH + ty) * tilesW + tx;
          const out = v + ((<usize>(c * T + t)) << 2);
          const p = src + ((<usize>(2 * ty * Wp + 2 * tx)) << 2);
          transformGroup<Whole>(p, rowBytes, out, plane, 0, 4);
        }
      }
    }
  }
}

/** How transformGroup stores: S = Whole (a vector at out) or Split (see storeSplit), resolved
 * at compile time, so the whole-vector pass is unchanged. */
type Whole = u8;
type Split = u16;

/** v's lanes [0, a) at p, the others at p2 (none when p2 is 0); a is 1, 2 or 3. */
function storeSplit(p: usize, p2: usize, a: i32, v: v128): void {
  if (a == 2) {
    v128.store64_lane(p, v, 0);
    if (p2 != 0) v128.store64_lane(p2, v, 1);
  } else if (a == 1) {
    v128.store32_lane(p, v, 0);
    if (p2 != 0) {
      v128.store32_lane(p2, v, 1);
      v128.store64_lane(p2, v, 1, 4);
    }
  } else {
    v128.store64_lane(p, v, 0);
    v128.store32_lane(p, v, 2, 8);
    if (p2 != 0) v128.store32_lane(p2, v, 3);
  }
}

/** A vector at p (Whole), or split between p and p2 at lane a (Split). */
function store1<S>(p: usize, p2: usize, a: i32, v: v128): void {
  if (sizeof<S>() == 1) v128.store(p, v);
  else storeSplit(p, p2, a, v);
}

/**
 * Bᵀ d B of the four tiles whose top-left input is at p; v[ξ] at out + ξ·plane, or for Split
 * its lanes [0, a) there and the others at out2 + ξ·plane (see storeSplit).
 */
function transformGroup<S>(
  p: usize,
  rowBytes: usize,
  out: usize,
  plane: usize,
  out2: usize,
  a: i32,
): void {
  // d[r][j]: element j of row r of each of the four tiles (input columns 2·(tx+q) + j).
  const p0 = p,
    p1 = p0 + rowBytes,
    p2 = p1 + rowBytes,
    p3 = p2 + rowBytes;
  const d00 = evens(p0, 0),
    d01 = odds(p0, 0),
    d02 = evens(p0, 8),
    d03 = odds(p0, 8);
  const d10 = evens(p1, 0),
    d11 = odds(p1, 0),
    d12 = evens(p1, 8),
    d13 = odds(p1, 8);
  const d20 = evens(p2, 0),
    d21 = odds(p2, 0),
    d22 = evens(p2, 8),
    d23 = odds(p2, 8);
  const d30 = evens(p3, 0),
    d31 = odds(p3, 0),
    d32 = evens(p3, 8),
    d33 = odds(p3, 8);
  storeRow<S>(
    out,
    out2,
    a,
    plane,
    0,
    f32x4.sub(d00, d20),
    f32x4.sub(d01, d21),
    f32x4.sub(d02, d22),
    f32x4.sub(d03, d23),
  );
  storeRow<S>(
    out,
    out2,
    a,
    plane,
    1,
    f32x4.add(d10, d20),
    f32x4.add(d11, d21),
    f32x4.add(d12, d22),
    f32x4.add(d13, d23),
  );
  storeRow<S>(
    out,
    out2,
    a,
    plane,
    2,
    f32x4.sub(d20, d10),
    f32x4.sub(d21, d11),
    f32x4.sub(d22, d12),
    f32x4.sub(d23, d13),
  );
  storeRow<S>(
    out,
    out2,
    a,
    plane,
    3,
    f32x4.sub(d10, d30),
    f32x4.sub(d11, d31),
    f32x4.sub(d12, d32),
    f32x4.sub(d13, d33),
  );
}

/** The floats at p + off + 0, 2, 4, 6 (bytes off, off + 8, ...): one column of four tiles. */
function evens(p: usize, off: usize): v128 {
  return v128.shuffle<f32>(v128.load(p + off), v128.load(p + off + 16), 0, 2, 4, 6);
}

/** The floats at p + off + 1, 3, 5, 7. */
function odds(p: usize, off: usize): v128 {
  return v128.shuffle<f32>(v128.load(p + off), v128.load(p + off + 16), 1, 3, 5, 7);
}

/** The column half of Bᵀ d B on one transformed row r, stored as ξ = 4r .. 4r + 3. */
function storeRow<S>(
  out: usize,
  out2: usize,
  a: i32,
  plane: usize,
  r: i32,
  t0: v128,
  t1: v128,
  t2: v128,
  t3: v128,
): void {
  const at = <usize>(4 * r) * plane;
  const p = out + at,
    p2 = out2 != 0 ? out2 + at : 0;
  store1<S>(p, p2, a, f32x4.sub(t0, t2));
  store1<S>(p + plane, p2 != 0 ? p2 + plane : 0, a, f32x4.add(t1, t2));
  store1<S>(p + 2 * plane, p2 != 0 ? p2 + 2 * plane : 0, a, f32x4.sub(t2, t1));
  store1<S>(p + 3 * plane, p2 != 0 ? p2 + 3 * plane : 0, a, f32x4.sub(t1, t3));
}

// Aᵀ m A on four tiles at once: rows (m0 + m1 + m2, m1 − m2 − m3), then the same on columns;
// written to y [K, oh, ow] of each image, with the bias: tile rows [ty0, ty1) of each image,
// numbered from ty0 in m.
function outputTransform<P>(
  m: usize,
  bias: usize,
  y: usize,
  n: i32,
  nb: i32,
  K: i32,
  oh: i32,
  ow: i32,
  tilesW: i32,
  T: i32,
  ty0: i32,
  ty1: i32,
  relu: i32,
): void {
  const plane = planeBytes(K * T);
  // Pooled (P = Pooled2x2): y is [N, K, oh/2, ow/2], each tile's 2x2 outputs being one window.
  const pooled = sizeof<P>() == 2;
  const ph = pooled ? oh >> 1 : oh,
    pw = pooled ? ow >> 1 : ow;
  for (let k = 0; k < K; k++) {
    const bv = bias != 0 ? f32x4.splat(load<f32>(bias + ((<usize>k) << 2))) : f32x4.splat(0);
    for (let i = 0; i < nb; i++) {
      const yk = y + ((<usize>(((n + i) * K + k) * ph * pw)) << 2);
      for (let ty = ty0; ty < ty1; ty++) {
        if (pooled && ty >= ph) continue; // a last half tile row, outside every window
        for (let tx = 0; tx < tilesW; tx += 4) {
          const t = (i * (ty1 - ty0) + ty - ty0) * tilesW + tx;
          const q = m + ((<usize>(k * T + t)) << 2);
          const s00 = f32x4.add(
            f32x4.add(v128.load(q), v128.load(q + 4 * plane)),
            v128.load(q + 8 * plane),
          );
          const s01 = f32x4.add(
            f32x4.add(v128.load(q + plane), v128.load(q + 5 * plane)),
            v128.load(q + 9 * plane),
          );
          const s02 = f32x4.add(
            f32x4.add(v128.load(q + 2 * plane), v128.load(q + 6 * plane)),
            v128.load(q + 10 * plane),
          );
          const s03 = f32x4.add(
            f32x4.add(v128.load(q + 3 * plane), v128.load(q + 7 * plane)),
            v128.load(q + 11 * plane),
          );
          const s10 = f32x4.sub(
            f32x4.sub(v128.load(q + 4 * plane), v128.load(q + 8 * plane)),
            v128.load(q + 12 * plane),
          );
          const s11 = f32x4.sub(
            f32x4.sub(v128.load(q + 5 * plane), v128.load(q + 9 * plane)),
            v128.load(q + 13 * plane),
          );
          const s12 = f32x4.sub(
            f32x4.sub(v128.load(q + 6 * plane), v128.load(q + 10 * plane)),
            v128.load(q + 14 * plane),
          );
          const s13 = f32x4.sub(
            f32x4.sub(v128.load(q + 7 * plane), v128.load(q + 11 * plane)),
            v128.load(q + 15 * plane),
          );
          const e0 = f32x4.add(f32x4.add(f32x4.add(s00, s01), s02), bv),
            o0 = f32x4.add(f32x4.sub(f32x4.sub(s01, s02), s03), bv),
            e1 = f32x4.add(f32x4.add(f32x4.add(s10, s11), s12), bv),
            o1 = f32x4.add(f32x4.sub(f32x4.sub(s11, s12), s13), bv);
          if (pooled) {
            // The window's maximum as pool.ts's values-only 2x2 pass takes it, then the ReLU:
            // the same bits as pooling the stored output.
            let v = windowMax4(e0, o0, e1, o1);
            if (relu) v = relu4(v);
            storeFirst(yk + ((<usize>(ty * pw + tx)) << 2), v, pw - tx);
            continue;
          }
          const y0 = 2 * ty,
            x0 = 2 * tx;
          storePair(yk, y0, x0, oh, ow, e0, o0);
          storePair(yk, y0 + 1, x0, oh, ow, e1, o1);
        }
      }
    }
  }
}

/** Lanes [0, n) of v at p (all four when n ≥ 4). */
function storeFirst(p: usize, v: v128, n: i32): void {
  if (n >= 4) {
    v128.store(p, v);
    return;
  }
  v128.store32_lane(p, v, 0);
  if (n > 1) v128.store32_lane(p, v, 1, 4);
  if (n > 2) v128.store32_lane(p, v, 2, 8);
}

/** Output row `row`, columns x0 .. x0 + 7: lane q of `even` at x0 + 2q, of `odd` at x0 + 2q + 1. */
function storePair(yk: usize, row: i32, x0: i32, oh: i32, ow: i32, even: v128, odd: v128): void {
  if (row >= oh) return;
  const p = yk + ((<usize>(row * ow + x0)) << 2);
  const lo = v128.shuffle<f32>(even, odd, 0, 4, 1, 5),
    hi = v128.shuffle<f32>(even, odd, 2, 6, 3, 7);
  if (x0 + 8 <= ow) {
    v128.store(p, lo);
    v128.store(p, hi, 16);
    return;
  }
  const n = ow - x0; // 1 to 7 columns left in this row
  if (n >= 4) {
    v128.store(p, lo);
    if (n > 4) store<f32>(p, f32x4.extract_lane(hi, 0), 16);
    if (n > 5) store<f32>(p, f32x4.extract_lane(hi, 1), 20);
    if (n > 6) store<f32>(p, f32x4.extract_lane(hi, 2), 24);
  } else {
    if (n > 0) store<f32>(p, f32x4.extract_lane(lo, 0));
    if (n > 1) store<f32>(p, f32x4.extract_lane(lo, 1), 4);
    if (n > 2) store<f32>(p, f32x4.extract_lane(lo, 2), 8);
  }
}

/** How outputTransform stores: every output (Full) or each tile's 2x2 maximum (Pooled2x2). */
type Full = u8;
type Pooled2x2 = u16;

/** Whether pool.ts's geometry block describes full 2x2, stride-2 windows (pool.ts's full2x2)
 * over this oh x ow output, floor mode, values only: windows that are the Winograd tiles. */
function isTilePool(pool: usize, oh: i32, ow: i32): bool {
  return (
    load<i32>(pool) == oh &&
    load<i32>(pool, 4) == ow &&
    blockIsFull2x2(pool) &&
    load<i32>(pool, 32) == oh >> 1 &&
    load<i32>(pool, 36) == ow >> 1 &&
    load<i32>(pool, 44) == 0
  );
}

/** Tiles per output row. */
function tileCols(ow: i32): i32 {
  return (ow + 1) >> 1;
}

/** Tiles per row rounded up to whole groups of four: the padded images' width in tiles. */
function groupCols(tilesW: i32): i32 {
  return ((tilesW + 3) >> 2) << 2;
}

/** Bytes of a row block's two transformed operands (16 planes each, float32): what stays in
 * a 2 MB L2 beside the GEMM's packing buffers. Measured on the 64->64 layer at 56 x 56 (rows
 * of 28 tiles), 2 threads: 6 rows best; forward 15-25 % slower at 5 rows (a partial GEMM
 * panel) or 8 rows, weight gradient 20 % slower at 4 rows. */
const ROW_BLOCK_BYTES: i32 = 1376256; // 168 tiles of 64 + 64 channels

/**
 * Tile rows transformed together: all of each image, or, for one image per block (more than
 * a block's tiles), rows whose two operands of `channels` channels in all (C + K) fit in
 * ROW_BLOCK_BYTES, so that they are in L2 when the GEMMs and the other transform read them.
 */
function rowBlockOf(nbMax: i32, tilesH: i32, tilesW: i32, channels: i32): i32 {
  if (nbMax > 1) return tilesH;
  // An even count: with an even tilesW, the tiles fill whole 8-column panels of the GEMM (a
  // partial panel's stores go element by element).
  const rows = ROW_BLOCK_BYTES / (64 * channels * tilesW);
  return min(tilesH, rows > 1 ? rows & ~1 : 1);
}

/**
 * Tiles between rows of a block's transformed planes: nb whole images, or one image's row
 * block, and room for the extra lanes of the last group (up to three tiles).
 */
function blockStride(nb: i32, tilesH: i32, tilesW: i32, channels: i32): i32 {
  return nb * rowBlockOf(nb, tilesH, tilesW, channels) * tilesW + 3;
}

/** Images transformed together so that each of the 16 GEMMs has at least about 256 columns. */
export function winogradBlock(oh: i32, ow: i32): i32 {
  const tiles = ((oh + 1) >> 1) * tileCols(ow);
  return max(1, (256 + tiles - 1) / tiles);
}

// winogradConv's scratch, region by region (byte offsets; END is the size): the block's padded
// images, V in packed-B layout, M, U, the 16 packed U and, when the output is pooled, the
// block's output images (`outs` floats). One function gives both the size and the layout, so
// they cannot drift apart.
const PADDED = 0,
  V = 1,
  M = 2,
  U = 3,
  PACKED_U = 4,
  OUT = 5,
  END = 6;

function convRegion(
  region: i32,
  C: i32,
  K: i32,
  tilesH: i32,
  tilesW: i32,
  nb: i32,
  outs: i32,
): usize {
  const T = blockStride(nb, tilesH, tilesW, C + K);
  let at: usize = 0;
  if (region == PADDED) return at;
  at += (<usize>(nb * C * paddedRows(tilesH) * paddedCols(groupCols(tilesW)))) << 2;
  if (region == V) return at;
  at += 16 * planeBytes(packedBFloats(C, T));
  if (region == M) return at;
  at += 16 * planeBytes(K * T);
  if (region == U) return at;
  at += (<usize>(16 * K * C)) << 2;
  if (region == PACKED_U) return at;
  at += 16 * <usize>gemmPackedABytes(K, C);
  if (region == OUT) return at;
  return at + ((<usize>outs) << 2);
}

/** Scratch bytes for one thread of winogradConv with this pool (0: none): room for a block's
 * output when the pool goes through it (not when the output transform takes the windows). */
export function winogradScratchBytes(
  C: i32,
  K: i32,
  H: i32,
  W: i32,
  ph: i32,
  pw: i32,
  pool: usize,
): i32 {
  const oh = H + 2 * ph - 2,
    ow = W + 2 * pw - 2;
  const nb = winogradBlock(oh, ow);
  const outs = pool != 0 && !isTilePool(pool, oh, ow) ? nb * K * oh * ow : 0;
  return <i32>convRegion(END, C, K, (oh + 1) >> 1, tileCols(ow), nb, outs);
}

/**
 * y[n] = conv3x3(x[n], w) (+ bias) for images [n0, n1): x [N, C, H, W], y [N, K, oh, ow] with
 * oh = H + 2·ph − 2, ow = W + 2·pw − 2. `scratch` holds winogradScratchBytes(…) bytes,
 * `work` the GEMM's workspace. With pool (not 0; pool.ts's poolPlanes geometry, whose output
 * replaces y), each block of images is max-pooled (then ReLU'd when relu) from the scratch.
 */
export function winogradConv(
  x: usize,
  w: usize,
  bias: usize,
  y: usize,
  n0: i32,
  n1: i32,
  C: i32,
  H: i32,
  W: i32,
  K: i32,
  ph: i32,
  pw: i32,
  flip: i32,
  scratch: usize,
  work: usize,
  pool: usize,
  relu: i32,
): void {
  const oh = H + 2 * ph - 2,
    ow = W + 2 * pw - 2;
  const tilesH = (oh + 1) >> 1,
    tilesW = tileCols(ow);
  const Hp = paddedRows(tilesH),
    Wp = paddedCols(groupCols(tilesW));
  const nbMax = winogradBlock(oh, ow);
  const padded = scratch + convRegion(PADDED, C, K, tilesH, tilesW, nbMax, 0);
  const v = scratch + convRegion(V, C, K, tilesH, tilesW, nbMax, 0);
  const m = scratch + convRegion(M, C, K, tilesH, tilesW, nbMax, 0);
  const u = scratch + convRegion(U, C, K, tilesH, tilesW, nbMax, 0);
  const packed = scratch + convRegion(PACKED_U, C, K, tilesH, tilesW, nbMax, 0);
  const out = scratch + convRegion(OUT, C, K, tilesH, tilesW, nbMax, 0);
  // A 2x2, stride-2 max pool without padding whose windows are the tiles (floor mode): pooled
  // in the output transform, with no pass over a stored output.
  const windows2x2 = pool != 0 && isTilePool(pool, oh, ow);
  const py = pool != 0 ? <usize>load<i32>(pool, 40) : 0;
  const packedBytes = <usize>gemmPackedABytes(K, C);
  transformWeights(w, K, C, flip, u);
  for (let xi = 0; xi < 16; xi++)
    packWholeA(u + ((<usize>(xi * K * C)) << 2), C, 1, K, C, packed + <usize>xi * packedBytes);
  // An image of more tiles than a block goes by blocks of tile rows (as weightGradSums does),
  // so that V and M are still in L2 when the GEMMs and the output transform read them.
  const rowBlock = rowBlockOf(nbMax, tilesH, tilesW, C + K);
  const stride = blockStride(nbMax, tilesH, tilesW, C + K); // V's and M's planes, fixed
  const vPlane = planeBytes(packedBFloats(C, stride)),
    mPlane = planeBytes(K * stride);
  for (let n = n0; n < n1; n += nbMax) {
    const nb = min(nbMax, n1 - n);
    pad(x + ((<usize>(n * C * H * W)) << 2), nb, C, H, W, ph, pw, Hp, Wp, padded);
    for (let ty0 = 0; ty0 < tilesH; ty0 += rowBlock) {
      const ty1 = min(tilesH, ty0 + rowBlock);
      const T = nb * (ty1 - ty0) * tilesW;
      // V goes straight into the GEMM's packed-B layout (no packing pass in the 16 products).
      const rowsAt = (<usize>(2 * ty0 * Wp)) << 2;
      inputTransform(padded + rowsAt, nb, C, ty1 - ty0, tilesW, Hp, Wp, stride, v, T);
      for (let xi = 0; xi < 16; xi++) {
        sgemmPackedAB(
          K,
          T,
          C,
          packed + <usize>xi * packedBytes,
          v + <usize>xi * vPlane,
          m + <usize>xi * mPlane,
          stride,
          0,
          work,
        );
      }
      if (windows2x2)
        outputTransform<Pooled2x2>(m, bias, py, n, nb, K, oh, ow, tilesW, stride, ty0, ty1, relu);
      else if (pool != 0)
        outputTransform<Full>(m, bias, out, 0, nb, K, oh, ow, tilesW, stride, ty0, ty1, 0);
      else outputTransform<Full>(m, bias, y, n, nb, K, oh, ow, tilesW, stride, ty0, ty1, 0);
    }
    if (pool != 0 && !windows2x2) poolPlanes(pool, out, n * K, nb * K, relu);
  }
}

// Weight gradient. Y = Aᵀ [U ⊙ V] A is linear in U = G w Gᵀ, so
// dL/dU[ξ][k][c] = Σ_tiles (A dY Aᵀ)[ξ][k][t] · V[ξ][c][t] (16 products with the tiles as the
// inner dimension, both operands tile-contiguous: sdotNT's dot products, no packing; 12 % faster
// than sgemm on the CNN's 14x14 layer) and dL/dw = Gᵀ (dL/dU) G. A tile past the output
// (odd sizes) has dY = 0 there and adds nothing.

/** Copies nb images of dy [K, oh, ow] into zero-bordered planes [K, 2·tilesH, 2·tilesWp]. */
function padOutput(
  dy: usize,
  nb: i32,
  K: i32,
  oh: i32,
  ow: i32,
  rows: i32,
  cols: i32,
  out: usize,
): void {
  memory.fill(out, 0, (<usize>(nb * K * rows * cols)) << 2);
  for (let p = 0; p < nb * K; p++) {
    const src = dy + ((<usize>(p * oh * ow)) << 2);
    const dst = out + ((<usize>(p * rows * cols)) << 2);
    for (let r = 0; r < oh; r++)
      copyRow(dst + ((<usize>(r * cols)) << 2), src + ((<usize>(r * ow)) << 2), ow);
  }
}

/**
 * A dY Aᵀ of four tiles at once: rows (r0, r0 + r1, r0 − r1, −r1), then the same on columns;
 * tile rows [ty0, ty1) of each image, numbered from ty0.
 */
function outputGradTransform(
  padded: usize,
  nb: i32,
  K: i32,
  tilesH: i32,
  tilesW: i32,
  T: i32,
  g: usize,
  ty0: i32,
  ty1: i32,
): void {
  const rows = 2 * tilesH,
    cols = 2 * groupCols(tilesW);
  const plane = planeBytes(K * T);
  const zero = f32x4.splat(0);
  for (let i = 0; i < nb; i++) {
    for (let k = 0; k < K; k++) {
      const src = padded + ((<usize>((i * K + k) * rows * cols)) << 2);
      for (let ty = ty0; ty < ty1; ty++) {
        for (let tx = 0; tx < tilesW; tx += 4) {
          const p = src + ((<usize>(2 * ty * cols + 2 * tx)) << 2);
          const r0 = v128.load(p),
            r0b = v128.load(p, 16),
            r1 = v128.load(p + ((<usize>cols) << 2)),
            r1b = v128.load(p + ((<usize>cols) << 2), 16);
          const a = v128.shuffle<f32>(r0, r0b, 0, 2, 4, 6),
            b = v128.shuffle<f32>(r0, r0b, 1, 3, 5, 7),
            c = v128.shuffle<f32>(r1, r1b, 0, 2, 4, 6),
            d = v128.shuffle<f32>(r1, r1b, 1, 3, 5, 7);
          const out = g + ((<usize>(k * T + (i * (ty1 - ty0) + ty - ty0) * tilesW + tx)) << 2);
          storeGradRow(out, plane, 0, a, b);
          storeGradRow(out, plane, 1, f32x4.add(a, c), f32x4.add(b, d));
          storeGradRow(out, plane, 2, f32x4.sub(a, c), f32x4.sub(b, d));
          storeGradRow(out, plane, 3, f32x4.sub(zero, c), f32x4.sub(zero, d));
        }
      }
    }
  }
}

/** (p, p + q, p − q, −q) of one row, stored as ξ = 4r .. 4r + 3. */
function storeGradRow(out: usize, plane: usize, r: i32, p: v128, q: v128): void {
  const o = out + <usize>(4 * r) * plane;
  v128.store(o, p);
  v128.store(o + plane, f32x4.add(p, q));
  v128.store(o + 2 * plane, f32x4.sub(p, q));
  v128.store(o + 3 * plane, f32x4.neg(q));
}

/** One row (m0 .. m3) of Gᵀ applied: m0 + (m1 + m2)/2, (m1 − m2)/2, (m1 + m2)/2 + m3. */
function gtRow(m0: f64, m1: f64, m2: f64, m3: f64, out: usize, step: usize): void {
  store<f32>(out, <f32>(m0 + 0.5 * (m1 + m2)));
  store<f32>(out + step, <f32>(0.5 * (m1 - m2)));
  store<f32>(out + 2 * step, <f32>(0.5 * (m1 + m2) + m3));
}

/** dw[k, c0 + j] = Gᵀ m[k][j] G (3x3, in float64 then rounded) from m[ξ][k][j] (K x Cs planes). */
function weightGradTransform(m: usize, K: i32, Cs: i32, C: i32, c0: i32, dw: usize): void {
  const plane = (<usize>(K * Cs)) << 2;
  for (let k = 0; k < K; k++) {
    for (let j = 0; j < Cs; j++) {
      const p = m + ((<usize>(k * Cs + j)) << 2);
      // Gᵀ on the columns of each row of the 4x4 block, then on the rows of the 4x3 result.
      let r0a: f64 = 0,
        r0b: f64 = 0,
        r0c: f64 = 0,
        r1a: f64 = 0,
        r1b: f64 = 0,
        r1c: f64 = 0;
      let r2a: f64 = 0,
        r2b: f64 = 0,
        r2c: f64 = 0,
        r3a: f64 = 0,
        r3b: f64 = 0,
        r3c: f64 = 0;
      for (let r = 0; r < 4; r++) {
        const q = p + <usize>(4 * r) * plane;
        const m0 = <f64>load<f32>(q),
          m1 = <f64>load<f32>(q + plane),
          m2 = <f64>load<f32>(q + 2 * plane),
          m3 = <f64>load<f32>(q + 3 * plane);
        const a = m0 + 0.5 * (m1 + m2),
          b = 0.5 * (m1 - m2),
          c = 0.5 * (m1 + m2) + m3;
        if (r == 0) {
          r0a = a;
          r0b = b;
          r0c = c;
        } else if (r == 1) {
          r1a = a;
          r1b = b;
          r1c = c;
        } else if (r == 2) {
          r2a = a;
          r2b = b;
          r2c = c;
        } else {
          r3a = a;
          r3b = b;
          r3c = c;
        }
      }
      const out = dw + ((<usize>((k * C + c0 + j) * 9)) << 2);
      gtRow(r0a, r1a, r2a, r3a, out, 12);
      gtRow(r0b, r1b, r2b, r3b, out + 4, 12);
      gtRow(r0c, r1c, r2c, r3c, out + 8, 12);
    }
  }
}

// winogradWeightGrad's scratch, region by region (byte offsets; G_END is the size): the
// block's padded images and padded dy, V, A dY Aᵀ and the summed products.
const G_PADDED = 0,
  G_PADDED_DY = 1,
  G_V = 2,
  G_DY = 3,
  G_M = 4,
  G_END = 5;

function gradRegion(region: i32, Cs: i32, K: i32, tilesH: i32, tilesW: i32, nb: i32): usize {
  const T = blockStride(nb, tilesH, tilesW, Cs + K);
  let at: usize = 0;
  if (region == G_PADDED) return at;
  at += (<usize>(nb * Cs * paddedRows(tilesH) * paddedCols(groupCols(tilesW)))) << 2;
  if (region == G_PADDED_DY) return at;
  at += (<usize>(nb * K * 4 * tilesH * groupCols(tilesW))) << 2;
  if (region == G_V) return at;
  at += 16 * planeBytes(Cs * T);
  if (region == G_DY) return at;
  at += 16 * planeBytes(K * T);
  if (region == G_M) return at;
  return at + ((<usize>(16 * K * Cs)) << 2);
}

/** Scratch bytes for one thread of winogradWeightGrad over Cs input channels. */
export function winogradWeightGradScratchBytes(
  Cs: i32,
  K: i32,
  H: i32,
  W: i32,
  ph: i32,
  pw: i32,
): i32 {
  const oh = H + 2 * ph - 2,
    ow = W + 2 * pw - 2;
  return <i32>gradRegion(G_END, Cs, K, (oh + 1) >> 1, tileCols(ow), winogradBlock(oh, ow));
}

/**
 * dw[:, c0:c1] = the weight gradient of y = conv3x3(x, w) (x [N, C, H, W], dy [N, K, oh, ow],
 * dw [K, C, 3, 3]) over all N images in order, so each weight's sum has one order whatever
 * the split over input channels.
 */
export function winogradWeightGrad(
  x: usize,
  dy: usize,
  dw: usize,
  c0: i32,
  c1: i32,
  N: i32,
  C: i32,
  H: i32,
  W: i32,
  K: i32,
  ph: i32,
  pw: i32,
  scratch: usize,
): void {
  const Cs = c1 - c0;
  const oh = H + 2 * ph - 2,
    ow = W + 2 * pw - 2;
  const nbMax = winogradBlock(oh, ow);
  const m = scratch + gradRegion(G_M, Cs, K, (oh + 1) >> 1, tileCols(ow), nbMax);
  weightGradSums(x, dy, m, 0, N, c0, c1, C, H, W, K, ph, pw, scratch);
  weightGradTransform(m, K, Cs, C, c0, dw);
}

/** The first image of chunk j of `chunks` over N images (a rule of the shape alone). */
function chunkStart(j: i32, chunks: i32, N: i32): i32 {
  return <i32>((<i64>j * <i64>N) / <i64>chunks);
}

/**
 * The same sums for all channels, one chunk of images at a time, for chunks [j0, j1) of
 * `chunks`: chunk j's 16 planes of K x C sums go to partials + j·16·K·C floats. Threads
 * take whole chunks, none repeats another's transforms or packing, and
 * winogradWeightGradFinish adds the chunks in order, so the bits do not depend on the split.
 */
export function winogradWeightGradChunks(
  x: usize,
  dy: usize,
  partials: usize,
  j0: i32,
  j1: i32,
  chunks: i32,
  N: i32,
  C: i32,
  H: i32,
  W: i32,
  K: i32,
  ph: i32,
  pw: i32,
  scratch: usize,
): void {
  for (let j = j0; j < j1; j++) {
    const m = partials + ((<usize>j * <usize>(16 * K * C)) << 2);
    const n0 = chunkStart(j, chunks, N),
      n1 = chunkStart(j + 1, chunks, N);
    weightGradSums(x, dy, m, n0, n1, 0, C, C, H, W, K, ph, pw, scratch);
  }
}

/** dw from the chunks' sums: added in chunk order (into the first chunk's), then Gᵀ · G. */
export function winogradWeightGradFinish(
  partials: usize,
  chunks: i32,
  K: i32,
  C: i32,
  dw: usize,
): void {
  const n = 16 * K * C;
  for (let j = 1; j < chunks; j++) {
    const src = partials + ((<usize>j * <usize>n) << 2);
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const q = partials + ((<usize>i) << 2);
      v128.store(q, f32x4.add(v128.load(q), v128.load(src + ((<usize>i) << 2))));
    }
    for (; i < n; i++) {
      const q = partials + ((<usize>i) << 2);
      store<f32>(q, load<f32>(q) + load<f32>(src + ((<usize>i) << 2)));
    }
  }
  weightGradTransform(partials, K, C, C, 0, dw);
}

/**
 * m[ξ][k][j] = Σ over images [n0, n1) and their tiles of (A dY Aᵀ)[ξ][k][t] · V[ξ][c0 + j][t]
 * (x [N, C, H, W], dy [N, K, oh, ow]): images in order, in blocks of winogradBlock.
 */
function weightGradSums(
  x: usize,
  dy: usize,
  m: usize,
  n0: i32,
  n1: i32,
  c0: i32,
  c1: i32,
  C: i32,
  H: i32,
  W: i32,
  K: i32,
  ph: i32,
  pw: i32,
  scratch: usize,
): void {
  const Cs = c1 - c0;
  const oh = H + 2 * ph - 2,
    ow = W + 2 * pw - 2;
  const tilesH = (oh + 1) >> 1,
    tilesW = tileCols(ow),
    tilesWp = groupCols(tilesW);
  const Hp = paddedRows(tilesH),
    Wp = paddedCols(tilesWp);
  const nbMax = winogradBlock(oh, ow);
  const padded = scratch + gradRegion(G_PADDED, Cs, K, tilesH, tilesW, nbMax);
  const paddedDy = scratch + gradRegion(G_PADDED_DY, Cs, K, tilesH, tilesW, nbMax);
  const v = scratch + gradRegion(G_V, Cs, K, tilesH, tilesW, nbMax);
  const g = scratch + gradRegion(G_DY, Cs, K, tilesH, tilesW, nbMax);
  // An image of more tiles than a block (one image per block) goes by blocks of tile rows,
  // so that its V and A dY Aᵀ stay in L2 between the transforms and the GEMMs' packing.
  const rowBlock = rowBlockOf(nbMax, tilesH, tilesW, Cs + K);
  const stride = blockStride(nbMax, tilesH, tilesW, Cs + K); // tiles between V's (g's) rows
  // dy's planes are already whole tiles (even sizes, rows of whole groups of four tiles):
  // read them in place, else copy them into zero-bordered ones.
  const whole = 2 * tilesH == oh && 2 * tilesWp == ow;
  for (let n = n0; n < n1; n += nbMax) {
    const nb = min(nbMax, n1 - n);
    // The block's images, channels [c0, c1): nb planes of Cs channels each, C apart in x.
    for (let i = 0; i < nb; i++)
      pad(
        x + ((<usize>(((n + i) * C + c0) * H * W)) << 2),
        1,
        Cs,
        H,
        W,
        ph,
        pw,
        Hp,
        Wp,
        padded + ((<usize>(i * Cs * Hp * Wp)) << 2),
      );
    const dyBlock = dy + ((<usize>(n * K * oh * ow)) << 2);
    if (!whole) padOutput(dyBlock, nb, K, oh, ow, 2 * tilesH, 2 * tilesWp, paddedDy);
    for (let ty0 = 0; ty0 < tilesH; ty0 += rowBlock) {
      const ty1 = min(tilesH, ty0 + rowBlock);
      const T = nb * (ty1 - ty0) * tilesW;
      const rowsAt = (<usize>(2 * ty0 * Wp)) << 2;
      inputTransform(padded + rowsAt, nb, Cs, ty1 - ty0, tilesW, Hp, Wp, stride, v, 0);
      outputGradTransform(whole ? dyBlock : paddedDy, nb, K, tilesH, tilesW, stride, g, ty0, ty1);
      const first = n == n0 && ty0 == 0;
      for (let xi = 0; xi < 16; xi++) {
        sdotNT(
          K,
          Cs,
          T,
          g + <usize>xi * planeBytes(K * stride),
          stride,
          v + <usize>xi * planeBytes(Cs * stride),
          stride,
          m + ((<usize>(xi * K * Cs)) << 2),
          Cs,
          first ? 0 : 1,
        );
      }
    }
  }
}
