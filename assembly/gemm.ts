// Single-precision GEMM with WebAssembly SIMD: C = A·B (+ C when accumulating), for strided
// A [M, K] and B [K, N] (any transposition is a choice of strides, in elements). Blocked in
// the GotoBLAS way: B is packed into KC x 8 column panels, A into MC x KC row panels of 5
// with each element stored as an f32x4 splat (a plain load in the micro-kernel; V8 spends an
// extra instruction on every load32_splat with an offset), and a 5x8 micro-kernel keeps ten
// f32x4 accumulators in registers. K is cut into equal blocks of at most KC.
// All pointers are byte offsets into the shared memory; `work` points at a scratch area of
// at least gemmWorkspaceBytes() bytes.

// Rows of the micro-kernel: 5 in the plain build (its product temporary takes a register), 6
// with relaxed SIMD's fused multiply-add (12 accumulators, 2 B vectors and an A splat: all 15).
const MR: i32 = ASC_FEATURE_RELAXED_SIMD ? 6 : 5;
const NR: i32 = 8;
const KC: i32 = 256;
const MC: i32 = ASC_FEATURE_RELAXED_SIMD ? 96 : 80;
const NC: i32 = 512;

export function gemmWorkspaceBytes(): i32 {
  return (KC * NC + MC * KC * 4 + MR * NR) * 4;
}

/**
 * Stores the 4x4 transpose of rows v0..v3 as four vectors at out, out + step, ... (bytes):
 * vector t holds lane t of each row, added to what is there when `add`. packB uses it where
 * B's source runs along k; the micro-kernel where it writes a C tile transposed.
 */
function storeTransposed4(
  v0: v128,
  v1: v128,
  v2: v128,
  v3: v128,
  out: usize,
  step: usize,
  add: bool = false,
): void {
  const lo01 = v128.shuffle<f32>(v0, v1, 0, 4, 1, 5),
    lo23 = v128.shuffle<f32>(v2, v3, 0, 4, 1, 5),
    hi01 = v128.shuffle<f32>(v0, v1, 2, 6, 3, 7),
    hi23 = v128.shuffle<f32>(v2, v3, 2, 6, 3, 7);
  let t0 = v128.shuffle<f32>(lo01, lo23, 0, 1, 4, 5),
    t1 = v128.shuffle<f32>(lo01, lo23, 2, 3, 6, 7),
    t2 = v128.shuffle<f32>(hi01, hi23, 0, 1, 4, 5),
    t3 = v128.shuffle<f32>(hi01, hi23, 2, 3, 6, 7);
  if (add) {
    t0 = f32x4.add(t0, v128.load(out));
    t1 = f32x4.add(t1, v128.load(out + step));
    t2 = f32x4.add(t2, v128.load(out + 2 * step));
    t3 = f32x4.add(t3, v128.load(out + 3 * step));
  }
  v128.store(out, t0);
  v128.store(out + step, t1);
  v128.store(out + 2 * step, t2);
  v128.store(out + 3 * step, t3);
}

/** The four lanes of v to out, out + step, ... (bytes), added to what is there when `add`. */
function storeLanes(v: v128, out: usize, step: usize, add: bool): void {
  const x0 = f32x4.extract_lane(v, 0),
    x1 = f32x4.extract_lane(v, 1),
    x2 = f32x4.extract_lane(v, 2),
    x3 = f32x4.extract_lane(v, 3);
  store<f32>(out, add ? load<f32>(out) + x0 : x0);
  store<f32>(out + step, add ? load<f32>(out + step) + x1 : x1);
  store<f32>(out + 2 * step, add ? load<f32>(out + 2 * step) + x2 : x2);
  store<f32>(out + 3 * step, add ? load<f32>(out + 3 * step) + x3 : x3);
}

// Packs B[pc:pc+kc, jc:jc+nc] into panels of NR columns: panel q, element (k, c) at q*kc*NR + k*NR + c.
function packB(b: usize, rsB: i32, csB: i32, pc: i32, jc: i32, kc: i32, nc: i32, dst: usize): void {
  const panels = (nc + NR - 1) / NR;
  for (let q = 0; q < panels; q++) {
    const base = dst + ((<usize>(q * kc * NR)) << 2);
    const j0 = jc + q * NR;
    const cols = min(NR, nc - q * NR);
    let k0 = 0;
    if (cols == NR && rsB == 1 && csB != 1) {
      // B transposed (runs along k): 4x4 transposes, four k by four columns at a time.
      for (; k0 + 4 <= kc; k0 += 4) {
        const out = base + ((<usize>(k0 * NR)) << 2);
        for (let c = 0; c < NR; c += 4) {
          const col = b + ((<usize>(pc + k0 + (j0 + c) * csB)) << 2);
          const cs = (<usize>csB) << 2;
          const v0 = v128.load(col),
            v1 = v128.load(col + cs),
            v2 = v128.load(col + 2 * cs),
            v3 = v128.load(col + 3 * cs);
          storeTransposed4(v0, v1, v2, v3, out + ((<usize>c) << 2), NR << 2);
        }
      }
    }
    for (let k = k0; k < kc; k++) {
      const row = b + ((<usize>((pc + k) * rsB)) << 2);
      const out = base + ((<usize>(k * NR)) << 2);
      if (cols == NR && csB == 1) {
        v128.store(out, v128.load(row + ((<usize>j0) << 2)));
        v128.store(out, v128.load(row + ((<usize>(j0 + 4)) << 2)), 16);
      } else {
        for (let c = 0; c < NR; c++) {
          store<f32>(
            out + ((<usize>c) << 2),
            c < cols ? load<f32>(row + ((<usize>((j0 + c) * csB)) << 2)) : 0,
          );
        }
      }
    }
  }
}

// Packs A[ic:ic+mc, pc:pc+kc] into panels of MR rows, each element splat to an f32x4 so the
// micro-kernel loads it whole: panel p, element (r, k) at (p*kc*MR + k*MR + r) * 4 floats.
// Rows past mc are zeros.
function packA(a: usize, rsA: i32, csA: i32, ic: i32, pc: i32, mc: i32, kc: i32, dst: usize): void {
  const panels = (mc + MR - 1) / MR;
  for (let p = 0; p < panels; p++) {
    const base = dst + ((<usize>(p * kc * MR)) << 4);
    const rows = min(MR, mc - p * MR);
    const first = a + ((<usize>((ic + p * MR) * rsA + pc * csA)) << 2);
    if (csA == 1) {
      // Rows run along k: per row, four k at a time (one load, four lane splats).
      for (let r = 0; r < MR; r++) {
        let out = base + ((<usize>r) << 4);
        let src = first + ((<usize>(r * rsA)) << 2);
        let k = 0;
        if (r < rows) {
          for (; k + 4 <= kc; k += 4) {
            const v = v128.load(src);
            v128.store(out, i32x4.shuffle(v, v, 0, 0, 0, 0));
            v128.store(out + (MR << 4), i32x4.shuffle(v, v, 1, 1, 1, 1));
            v128.store(out + (MR << 5), i32x4.shuffle(v, v, 2, 2, 2, 2));
            v128.store(out + MR * 48, i32x4.shuffle(v, v, 3, 3, 3, 3));
            src += 16;
            out += MR << 6;
          }
        }
        for (; k < kc; k++) {
          v128.store(out, r < rows ? v128.load32_splat(src) : f32x4.splat(0));
          src += 4;
          out += MR << 4;
        }
      }
      continue;
    }
    // Otherwise k outer: with A transposed (rsA = 1) a panel's MR values at one k are adjacent.
    let out = base;
    for (let k = 0; k < kc; k++) {
      const src = first + ((<usize>(k * csA)) << 2);
      for (let r = 0; r < MR; r++) {
        v128.store(
          out,
          r < rows ? v128.load32_splat(src + ((<usize>(r * rsA)) << 2)) : f32x4.splat(0),
        );
        out += 16;
      }
    }
  }
}

/**
 * c + a·b: in the relaxed-SIMD build (npm run build:wasm makes both) one fused multiply-add,
 * rounded once or twice as the hardware does; in the plain build a multiply and an add.
 */
function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

// C tile (rows x cols, at c with row stride ldc) += or = the MR x NR product of packed panels;
// with `tr` the tile is C's transpose (tile row r is C's column r: element (r, s) at s·ldc + r).
// Plain build: ten accumulators, two B vectors, one A splat and V8's product temporary fill 14
// of the 15 SIMD registers V8 allocates on x64; the fifth row pays for the loop's own
// instructions. Relaxed build: a sixth row in place of the temporary (GEMM 1024³ about 5 %
// faster than with five rows).
function micro(
  ap: usize,
  bp: usize,
  kc: i32,
  c: usize,
  ldc: i32,
  rows: i32,
  cols: i32,
  add: bool,
  tr: bool,
  tmp: usize,
): void {
  let c00 = f32x4.splat(0),
    c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0),
    c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0),
    c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0),
    c31 = f32x4.splat(0);
  let c40 = f32x4.splat(0),
    c41 = f32x4.splat(0);
  let c50 = f32x4.splat(0),
    c51 = f32x4.splat(0);
  let pa = ap,
    pb = bp;
  let a: v128, b0: v128, b1: v128;
  for (const end = pa + <usize>(kc * MR * 16); pa < end;) {
    b0 = v128.load(pb, 0);
    b1 = v128.load(pb, 16);
    a = v128.load(pa, 0);
    c00 = madd(a, b0, c00);
    c01 = madd(a, b1, c01);
    a = v128.load(pa, 16);
    c10 = madd(a, b0, c10);
    c11 = madd(a, b1, c11);
    a = v128.load(pa, 32);
    c20 = madd(a, b0, c20);
    c21 = madd(a, b1, c21);
    a = v128.load(pa, 48);
    c30 = madd(a, b0, c30);
    c31 = madd(a, b1, c31);
    a = v128.load(pa, 64);
    c40 = madd(a, b0, c40);
    c41 = madd(a, b1, c41);
    if (MR == 6) {
      a = v128.load(pa, 80);
      c50 = madd(a, b0, c50);
      c51 = madd(a, b1, c51);
    }
    pa += MR * 16;
    pb += NR * 4;
  }
  const rs = (<usize>ldc) << 2;
  if (rows == MR && cols == NR && tr) {
    // Rows 0–3 by 4x4 transposes (C's columns 0–3 of the tile, then 4–7); rows 4 and 5 by lane.
    storeTransposed4(c00, c10, c20, c30, c, rs, add);
    storeTransposed4(c01, c11, c21, c31, c + 4 * rs, rs, add);
    storeLanes(c40, c + 16, rs, add);
    storeLanes(c41, c + 4 * rs + 16, rs, add);
    if (MR == 6) {
      storeLanes(c50, c + 20, rs, add);
      storeLanes(c51, c + 4 * rs + 20, rs, add);
    }
    return;
  }
  if (rows == MR && cols == NR) {
    if (add) {
      c00 = f32x4.add(c00, v128.load(c + 0 * rs));
      c01 = f32x4.add(c01, v128.load(c + 0 * rs, 16));
      c10 = f32x4.add(c10, v128.load(c + 1 * rs));
      c11 = f32x4.add(c11, v128.load(c + 1 * rs, 16));
      c20 = f32x4.add(c20, v128.load(c + 2 * rs));
      c21 = f32x4.add(c21, v128.load(c + 2 * rs, 16));
      c30 = f32x4.add(c30, v128.load(c + 3 * rs));
      c31 = f32x4.add(c31, v128.load(c + 3 * rs, 16));
      c40 = f32x4.add(c40, v128.load(c + 4 * rs));
      c41 = f32x4.add(c41, v128.load(c + 4 * rs, 16));
      if (MR == 6) {
        c50 = f32x4.add(c50, v128.load(c + 5 * rs));
        c51 = f32x4.add(c51, v128.load(c + 5 * rs, 16));
      }
    }
    v128.store(c + 0 * rs, c00);
    v128.store(c + 0 * rs, c01, 16);
    v128.store(c + 1 * rs, c10);
    v128.store(c + 1 * rs, c11, 16);
    v128.store(c + 2 * rs, c20);
    v128.store(c + 2 * rs, c21, 16);
    v128.store(c + 3 * rs, c30);
    v128.store(c + 3 * rs, c31, 16);
    v128.store(c + 4 * rs, c40);
    v128.store(c + 4 * rs, c41, 16);
    if (MR == 6) {
      v128.store(c + 5 * rs, c50);
      v128.store(c + 5 * rs, c51, 16);
    }
    return;
  }
  // Edge tile: spill the accumulators and write the valid part.
  v128.store(tmp, c00, 0);
  v128.store(tmp, c01, 16);
  v128.store(tmp, c10, 32);
  v128.store(tmp, c11, 48);
  v128.store(tmp, c20, 64);
  v128.store(tmp, c21, 80);
  v128.store(tmp, c30, 96);
  v128.store(tmp, c31, 112);
  v128.store(tmp, c40, 128);
  v128.store(tmp, c41, 144);
  if (MR == 6) {
    v128.store(tmp, c50, 160);
    v128.store(tmp, c51, 176);
  }
  const rStep: usize = tr ? 4 : rs,
    sStep: usize = tr ? rs : 4;
  for (let r = 0; r < rows; r++) {
    for (let s = 0; s < cols; s++) {
      const q = c + <usize>r * rStep + <usize>s * sStep;
      const v = load<f32>(tmp + ((<usize>(r * NR + s)) << 2));
      store<f32>(q, add ? load<f32>(q) + v : v);
    }
  }
}

/** K's block: equal blocks of at most KC (288 goes as 144 + 144, not 256 + a short 32). */
function kStepFor(K: i32): i32 {
  const blocks = (K + KC - 1) / KC;
  return (K + blocks - 1) / blocks;
}

/** M rounded up to whole panels of MR rows. */
function paddedRows(M: i32): i32 {
  return ((M + MR - 1) / MR) * MR;
}

/** Bytes that packWholeA needs for an A of M rows and K columns. */
export function gemmPackedABytes(M: i32, K: i32): i32 {
  return paddedRows(M) * max(K, 1) * 16;
}

/**
 * Packs all of A [M, K] into dst in the order sgemmPackedA reads it (K block by K block,
 * each as packA lays out all M rows), for several products that share one A: a layer's
 * weights against every image.
 */
export function packWholeA(a: usize, rsA: i32, csA: i32, M: i32, K: i32, dst: usize): void {
  if (M <= 0 || K <= 0) return;
  const kStep = kStepFor(K),
    rowsPadded = paddedRows(M);
  for (let pc = 0; pc < K; pc += kStep)
    packA(a, rsA, csA, 0, pc, M, min(kStep, K - pc), dst + ((<usize>(pc * rowsPadded)) << 4));
}

/**
 * C[M, N] (row stride ldc, contiguous rows) = A·B, or += when accumulate is 1. Threads split
 * C by calling it on blocks of rows or columns, each with its own `work`.
 */
export function sgemm(
  M: i32,
  N: i32,
  K: i32,
  a: usize,
  rsA: i32,
  csA: i32,
  b: usize,
  rsB: i32,
  csB: i32,
  c: usize,
  ldc: i32,
  accumulate: i32,
  work: usize,
): void {
  gemm(M, N, K, a, rsA, csA, 0, b, rsB, csB, c, ldc, accumulate, work);
}

/**
 * C [M, N] = (accumulate ? C : 0) + A [M, K] · B [N, K]ᵀ, both operands K-contiguous (row
 * strides lda, ldb; C's ldc), by dot products in blocks of 3 x 3 rows with no packing: for a
 * small N and a long K (a first convolution's weight gradient: N = Cin·kh·kw, K = the output
 * pixels), where sgemm's packing and its 8-column panels cost more than the products. Each
 * dot product sums four lanes along K, then the lanes in order, then C.
 */
export function sdotNT(
  M: i32,
  N: i32,
  K: i32,
  a: usize,
  lda: i32,
  b: usize,
  ldb: i32,
  c: usize,
  ldc: i32,
  accumulate: i32,
): void {
  for (let i = 0; i < M; i += 3) {
    // A block's missing rows repeat its last one; their sums are not stored.
    const a0 = a + ((<usize>i * <usize>lda) << 2),
      a1 = a + ((<usize>min(i + 1, M - 1) * <usize>lda) << 2),
      a2 = a + ((<usize>min(i + 2, M - 1) * <usize>lda) << 2);
    for (let j = 0; j < N; j += 3) {
      const b0 = b + ((<usize>j * <usize>ldb) << 2),
        b1 = b + ((<usize>min(j + 1, N - 1) * <usize>ldb) << 2),
        b2 = b + ((<usize>min(j + 2, N - 1) * <usize>ldb) << 2);
      let s00 = f32x4.splat(0),
        s01 = f32x4.splat(0),
        s02 = f32x4.splat(0),
        s10 = f32x4.splat(0),
        s11 = f32x4.splat(0),
        s12 = f32x4.splat(0),
        s20 = f32x4.splat(0),
        s21 = f32x4.splat(0),
        s22 = f32x4.splat(0);
      let k = 0;
      for (; k + 4 <= K; k += 4) {
        const o = (<usize>k) << 2;
        const x0 = v128.load(b0 + o),
          x1 = v128.load(b1 + o),
          x2 = v128.load(b2 + o);
        const y0 = v128.load(a0 + o);
        s00 = madd(y0, x0, s00);
        s01 = madd(y0, x1, s01);
        s02 = madd(y0, x2, s02);
        const y1 = v128.load(a1 + o);
        s10 = madd(y1, x0, s10);
        s11 = madd(y1, x1, s11);
        s12 = madd(y1, x2, s12);
        const y2 = v128.load(a2 + o);
        s20 = madd(y2, x0, s20);
        s21 = madd(y2, x1, s21);
        s22 = madd(y2, x2, s22);
      }
      const rows = min(3, M - i),
        cols = min(3, N - j);
      const out = c + ((<usize>(i * ldc + j)) << 2);
      dotStore(out, accumulate, s00, a0, b0, k, K);
      if (cols > 1) dotStore(out + 4, accumulate, s01, a0, b1, k, K);
      if (cols > 2) dotStore(out + 8, accumulate, s02, a0, b2, k, K);
      if (rows > 1) {
        const r1 = out + ((<usize>ldc) << 2);
        dotStore(r1, accumulate, s10, a1, b0, k, K);
        if (cols > 1) dotStore(r1 + 4, accumulate, s11, a1, b1, k, K);
        if (cols > 2) dotStore(r1 + 8, accumulate, s12, a1, b2, k, K);
      }
      if (rows > 2) {
        const r2 = out + ((<usize>(2 * ldc)) << 2);
        dotStore(r2, accumulate, s20, a2, b0, k, K);
        if (cols > 1) dotStore(r2 + 4, accumulate, s21, a2, b1, k, K);
        if (cols > 2) dotStore(r2 + 8, accumulate, s22, a2, b2, k, K);
      }
    }
  }
}

/** One sdotNT result: the lanes of s summed, the K tail [k, K) of x·y added, into C at out. */
function dotStore(out: usize, accumulate: i32, s: v128, x: usize, y: usize, k: i32, K: i32): void {
  let d =
    f32x4.extract_lane(s, 0) +
    f32x4.extract_lane(s, 1) +
    f32x4.extract_lane(s, 2) +
    f32x4.extract_lane(s, 3);
  for (; k < K; k++) d += load<f32>(x + ((<usize>k) << 2)) * load<f32>(y + ((<usize>k) << 2));
  store<f32>(out, accumulate ? load<f32>(out) + d : d);
}

/**
 * sgemm for `count` products whose operands sit at fixed element strides (bA, bB, bC)
 * from one to the next (a batch of small products on one thread: attention's heads).
 */
export function sgemmBatch(
  count: i32,
  M: i32,
  N: i32,
  K: i32,
  a: usize,
  bA: i32,
  rsA: i32,
  csA: i32,
  b: usize,
  bB: i32,
  rsB: i32,
  csB: i32,
  c: usize,
  bC: i32,
  ldc: i32,
  work: usize,
): void {
  for (let q = 0; q < count; q++) {
    const at = <usize>q;
    gemm(
      M,
      N,
      K,
      a + ((at * <usize>bA) << 2),
      rsA,
      csA,
      0,
      b + ((at * <usize>bB) << 2),
      rsB,
      csB,
      c + ((at * <usize>bC) << 2),
      ldc,
      0,
      work,
    );
  }
}

/** Rows of C up to which the product runs without packing (smallMDots, smallMRows). */
const SMALL_M: i32 = 4;

/**
 * C = A·B for M ≤ SMALL_M when B's columns run along k (B = Wᵀ of a linear layer): each C[m][n]
 * is one dot product of contiguous rows, in four f32x4 accumulators, B read once.
 */
function smallMDots(
  M: i32,
  N: i32,
  K: i32,
  a: usize,
  rsA: i32,
  b: usize,
  csB: i32,
  c: usize,
  ldc: i32,
  accumulate: i32,
): void {
  for (let n = 0; n < N; n++) {
    const bn = b + ((<usize>(n * csB)) << 2);
    for (let m = 0; m < M; m++) {
      const am = a + ((<usize>(m * rsA)) << 2);
      let s0 = f32x4.splat(0),
        s1 = f32x4.splat(0),
        s2 = f32x4.splat(0),
        s3 = f32x4.splat(0);
      let k = 0;
      for (; k + 16 <= K; k += 16) {
        const pa = am + ((<usize>k) << 2),
          pb = bn + ((<usize>k) << 2);
        s0 = madd(v128.load(pa), v128.load(pb), s0);
        s1 = madd(v128.load(pa, 16), v128.load(pb, 16), s1);
        s2 = madd(v128.load(pa, 32), v128.load(pb, 32), s2);
        s3 = madd(v128.load(pa, 48), v128.load(pb, 48), s3);
      }
      for (; k + 4 <= K; k += 4)
        s0 = madd(v128.load(am + ((<usize>k) << 2)), v128.load(bn + ((<usize>k) << 2)), s0);
      const s = f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3));
      let sum =
        f32x4.extract_lane(s, 0) +
        f32x4.extract_lane(s, 1) +
        (f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3));
      for (; k < K; k++)
        sum += load<f32>(am + ((<usize>k) << 2)) * load<f32>(bn + ((<usize>k) << 2));
      const q = c + ((<usize>(m * ldc + n)) << 2);
      store<f32>(q, accumulate != 0 ? load<f32>(q) + sum : sum);
    }
  }
}

/** C = A·B for M ≤ SMALL_M when B's rows are contiguous: C's row += a[m][k] · B's row k. */
function smallMRows(
  M: i32,
  N: i32,
  K: i32,
  a: usize,
  rsA: i32,
  b: usize,
  rsB: i32,
  c: usize,
  ldc: i32,
  accumulate: i32,
): void {
  for (let m = 0; m < M; m++) {
    const cm = c + ((<usize>(m * ldc)) << 2);
    if (accumulate == 0) memory.fill(cm, 0, (<usize>N) << 2);
    const am = a + ((<usize>(m * rsA)) << 2);
    for (let k = 0; k < K; k++) {
      const s = load<f32>(am + ((<usize>k) << 2));
      const av = f32x4.splat(s);
      const bk = b + ((<usize>(k * rsB)) << 2);
      let n = 0;
      for (; n + 4 <= N; n += 4) {
        const q = cm + ((<usize>n) << 2);
        v128.store(q, madd(av, v128.load(bk + ((<usize>n) << 2)), v128.load(q)));
      }
      for (; n < N; n++) {
        const q = cm + ((<usize>n) << 2);
        store<f32>(q, load<f32>(q) + s * load<f32>(bk + ((<usize>n) << 2)));
      }
    }
  }
}

/**
 * Where element (k, n) of a B [K, N] sits, in floats, in the order the GEMM packs B: blocks of
 * NC columns, each cut into K blocks, each a run of NR-column panels (packB's layout). A
 * producer that writes B in this order (the Winograd input transform) spares the GEMM its
 * packing pass: sgemmPackedAB.
 */
export function packedBIndex(K: i32, N: i32, k: i32, n: i32): i32 {
  const jc = (n / NC) * NC;
  const kStep = kStepFor(K);
  const pc = (k / kStep) * kStep;
  const kc = min(kStep, K - pc);
  const nc = min(NC, N - jc);
  const paddedCols = ((nc + NR - 1) / NR) * NR;
  return jc * K + paddedCols * pc + ((n - jc) / NR) * kc * NR + (k - pc) * NR + ((n - jc) % NR);
}

/**
 * In packedBIndex's layout, element (k + 1, n) follows (k, n) at NR floats while k + 1 stays in
 * k's block of K: the end of that block, so a writer walking k can step instead of recomputing.
 */
export function packedBBlockEnd(K: i32, k: i32): i32 {
  const kStep = kStepFor(K);
  return min((k / kStep) * kStep + kStep, K);
}

/** Bytes between (k, n) and (k + 1, n) within a block of packedBIndex's layout. */
export const PACKED_B_K_BYTES: usize = NR * 4;

/** Floats of a B [K, N] in packedBIndex's layout (columns rounded up to whole panels). */
export function packedBFloats(K: i32, N: i32): i32 {
  return K * (((N + NR - 1) / NR) * NR);
}

/** sgemm with A packed by packWholeA and B laid out by packedBIndex beforehand. */
export function sgemmPackedAB(
  M: i32,
  N: i32,
  K: i32,
  packedA: usize,
  packedB: usize,
  c: usize,
  ldc: i32,
  accumulate: i32,
  work: usize,
): void {
  gemm(M, N, K, 0, 0, 0, packedA, packedB, -1, 0, c, ldc, accumulate, work);
}

/**
 * Packs all of B [K, N] (strides rsB, csB) into dst in packedBIndex's layout (packedBFloats(K,
 * N) floats), as sgemm would pack it block by block: for several products that share one B
 * (a recurrent layer's weights at every step), run by sgemmPackedB.
 */
export function packWholeB(b: usize, rsB: i32, csB: i32, K: i32, N: i32, dst: usize): void {
  const kStep = kStepFor(K);
  for (let jc = 0; jc < N; jc += NC)
    for (let pc = 0; pc < K; pc += kStep)
      packB(
        b,
        rsB,
        csB,
        pc,
        jc,
        min(kStep, K - pc),
        min(NC, N - jc),
        dst + ((<usize>packedBIndex(K, N, pc, jc)) << 2),
      );
}

/**
 * Whether sgemm packs B for an M-row product: above SMALL_M rows. Below, it takes B as it is
 * (smallMDots, smallMRows), so a B packed beforehand would change the sums' order.
 */
export function gemmPacksB(M: i32): i32 {
  return M > SMALL_M ? 1 : 0;
}

/** sgemm with B packed beforehand by packWholeB(…, K, N, packedB): the same bits. */
export function sgemmPackedB(
  M: i32,
  N: i32,
  K: i32,
  a: usize,
  rsA: i32,
  csA: i32,
  packedB: usize,
  c: usize,
  ldc: i32,
  accumulate: i32,
  work: usize,
): void {
  gemm(M, N, K, a, rsA, csA, 0, packedB, -1, 0, c, ldc, accumulate, work);
}

/** sgemm with A packed beforehand by packWholeA(…, M, K, packed). */
export function sgemmPackedA(
  M: i32,
  N: i32,
  K: i32,
  packed: usize,
  b: usize,
  rsB: i32,
  csB: i32,
  c: usize,
  ldc: i32,
  accumulate: i32,
  work: usize,
): void {
  gemm(M, N, K, 0, 0, 0, packed, b, rsB, csB, c, ldc, accumulate, work);
}

function gemm(
  M: i32,
  N: i32,
  K: i32,
  a: usize,
  rsA: i32,
  csA: i32,
  packed: usize,
  b: usize,
  rsB: i32,
  csB: i32,
  c: usize,
  ldc: i32,
  accumulate: i32,
  work: usize,
): void {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (accumulate == 0) {
      for (let i = 0; i < M; i++) memory.fill(c + ((<usize>(i * ldc)) << 2), 0, (<usize>N) << 2);
    }
    return;
  }
  // A few rows (a batch of one to four): packing B would cost more than the product reads.
  if (packed == 0 && M <= SMALL_M && csA == 1 && rsB == 1) {
    smallMDots(M, N, K, a, rsA, b, csB, c, ldc, accumulate);
    return;
  }
  if (packed == 0 && M <= SMALL_M && csA == 1 && csB == 1) {
    smallMRows(M, N, K, a, rsA, b, rsB, c, ldc, accumulate);
    return;
  }
  // Packing A costs four times the bytes of packing B (splats), and a short last panel wastes
  // micro-kernel work: when computing Cᵀ = Bᵀ·Aᵀ costs less by both, do that, writing C
  // transposed. Every element is the same sum in the same order either way, so the bits agree.
  if (packed == 0 && rsB >= 0 && gemmSwaps(M, N, K)) {
    blocked(N, M, K, b, csB, rsB, 0, a, csA, rsA, c, ldc, accumulate, true, work);
    return;
  }
  blocked(M, N, K, a, rsA, csA, packed, b, rsB, csB, c, ldc, accumulate, false, work);
}

/** Whether an unpacked M x N x K product runs as Cᵀ = Bᵀ·Aᵀ (3 % cheaper by blockedCost). */
export function gemmSwaps(M: i32, N: i32, K: i32): bool {
  return blockedCost(N, M, K) * 100 < blockedCost(M, N, K) * 97;
}

/**
 * What blocked() spends on an M x N x K product, in units of about 1/180 ns of the plain
 * build at one thread: bytes of packing (A as splats, once per NC columns; B once; each read
 * and written) at ~20 GB/s, and the micro-kernel's multiply-adds, short panels included, at
 * ~45 GFLOP/s.
 */
function blockedCost(M: i32, N: i32, K: i32): f64 {
  const m = <f64>M,
    n = <f64>N,
    k = <f64>K;
  const packBytes = 20 * m * k * <f64>((N + NC - 1) / NC) + 8 * k * n;
  const padded = <f64>paddedRows(M) * <f64>(((N + NR - 1) / NR) * NR);
  return 9 * packBytes + 8 * k * padded;
}

/** The GotoBLAS loops: C (or Cᵀ when tr) = A·B with A and B strided or packed beforehand. */
function blocked(
  M: i32,
  N: i32,
  K: i32,
  a: usize,
  rsA: i32,
  csA: i32,
  packed: usize,
  b: usize,
  rsB: i32,
  csB: i32,
  c: usize,
  ldc: i32,
  accumulate: i32,
  tr: bool,
  work: usize,
): void {
  const bPack = work;
  const aPack = work + ((<usize>(KC * NC)) << 2);
  const spill = aPack + ((<usize>(MC * KC)) << 4); // per-call, so threads never share it
  const kStep = kStepFor(K),
    rowsPadded = paddedRows(M);
  for (let jc = 0; jc < N; jc += NC) {
    const nc = min(NC, N - jc);
    for (let pc = 0; pc < K; pc += kStep) {
      const kc = min(kStep, K - pc);
      const add = accumulate != 0 || pc > 0;
      // rsB = −1: b is already in packedBIndex's layout; this block starts at (pc, jc).
      let bBlock = bPack;
      if (rsB < 0) bBlock = b + ((<usize>packedBIndex(K, N, pc, jc)) << 2);
      else packB(b, rsB, csB, pc, jc, kc, nc, bPack);
      for (let ic = 0; ic < M; ic += MC) {
        const mc = min(MC, M - ic);
        let aBlock = aPack;
        if (packed == 0) packA(a, rsA, csA, ic, pc, mc, kc, aPack);
        else aBlock = packed + ((<usize>(pc * rowsPadded + ic * kc)) << 4);
        for (let ir = 0; ir < mc; ir += MR) {
          const ap = aBlock + ((<usize>((ir / MR) * kc * MR)) << 4);
          const rows = min(MR, mc - ir);
          for (let jr = 0; jr < nc; jr += NR) {
            const bp = bBlock + ((<usize>((jr / NR) * kc * NR)) << 2);
            const cols = min(NR, nc - jr);
            const i = ic + ir,
              j = jc + jr;
            const cp = c + ((<usize>(tr ? j * ldc + i : i * ldc + j)) << 2);
            micro(ap, bp, kc, cp, ldc, rows, cols, add, tr, spill);
          }
        }
      }
    }
  }
}
