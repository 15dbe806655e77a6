// Single-precision GEMM with WebAssembly SIMD: C = A·B (+ C when accumulating), for strided
// A [M, K] and B [K, N] (any transposition is a choice of strides, in elements). Blocked in
// the GotoBLAS way: B is packed into KC x 8 column panels, A into MC x KC row panels of 4,
// and a 4x8 micro-kernel keeps eight f32x4 accumulators in registers.
// All pointers are byte offsets into the shared memory; `work` points at a scratch area of
// at least gemmWorkspaceBytes() bytes.

const MR: i32 = 4;
const NR: i32 = 8;
const KC: i32 = 256;
const MC: i32 = 64;
const NC: i32 = 512;

export function gemmWorkspaceBytes(): i32 {
  return (KC * NC + MC * KC + MR * NR) * 4;
}

/**
 * Stores the 4x4 transpose of rows v0..v3 as four vectors at out, out + step, ... (bytes):
 * vector t holds lane t of each row. The packers use it where the source runs along k.
 */
function storeTransposed4(v0: v128, v1: v128, v2: v128, v3: v128, out: usize, step: usize): void {
  const lo01 = v128.shuffle<f32>(v0, v1, 0, 4, 1, 5),
    lo23 = v128.shuffle<f32>(v2, v3, 0, 4, 1, 5),
    hi01 = v128.shuffle<f32>(v0, v1, 2, 6, 3, 7),
    hi23 = v128.shuffle<f32>(v2, v3, 2, 6, 3, 7);
  v128.store(out, v128.shuffle<f32>(lo01, lo23, 0, 1, 4, 5));
  v128.store(out + step, v128.shuffle<f32>(lo01, lo23, 2, 3, 6, 7));
  v128.store(out + 2 * step, v128.shuffle<f32>(hi01, hi23, 0, 1, 4, 5));
  v128.store(out + 3 * step, v128.shuffle<f32>(hi01, hi23, 2, 3, 6, 7));
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

// Packs A[ic:ic+mc, pc:pc+kc] into panels of MR rows: panel p, element (r, k) at p*kc*MR + k*MR + r.
function packA(a: usize, rsA: i32, csA: i32, ic: i32, pc: i32, mc: i32, kc: i32, dst: usize): void {
  const panels = (mc + MR - 1) / MR;
  for (let p = 0; p < panels; p++) {
    const base = dst + ((<usize>(p * kc * MR)) << 2);
    if (csA == 1 && (p + 1) * MR <= mc) {
      // Rows run along k: 4x4 transposes (MR = 4), four k at a time.
      const r0 = a + ((<usize>((ic + p * MR) * rsA + pc)) << 2);
      const rs = (<usize>rsA) << 2;
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        const q = r0 + ((<usize>k) << 2);
        const v0 = v128.load(q),
          v1 = v128.load(q + rs),
          v2 = v128.load(q + 2 * rs),
          v3 = v128.load(q + 3 * rs);
        storeTransposed4(v0, v1, v2, v3, base + ((<usize>(k * MR)) << 2), MR << 2);
      }
      for (; k < kc; k++)
        for (let r = 0; r < MR; r++)
          store<f32>(
            base + ((<usize>(k * MR + r)) << 2),
            load<f32>(r0 + <usize>r * rs + ((<usize>k) << 2)),
          );
      continue;
    }
    for (let r = 0; r < MR; r++) {
      const i = p * MR + r;
      if (i < mc) {
        const row = a + ((<usize>((ic + i) * rsA + pc * csA)) << 2);
        const step = (<usize>csA) << 2;
        let src = row;
        for (let k = 0; k < kc; k++) {
          store<f32>(base + ((<usize>(k * MR + r)) << 2), load<f32>(src));
          src += step;
        }
      } else {
        for (let k = 0; k < kc; k++) store<f32>(base + ((<usize>(k * MR + r)) << 2), 0);
      }
    }
  }
}

// C tile (rows x cols, at c with row stride ldc) += or = the MR x NR product of packed panels.
function micro(
  ap: usize,
  bp: usize,
  kc: i32,
  c: usize,
  ldc: i32,
  rows: i32,
  cols: i32,
  add: bool,
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
  let pa = ap,
    pb = bp;
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    const a0 = v128.load32_splat(pa);
    const a1 = v128.load32_splat(pa, 4);
    const a2 = v128.load32_splat(pa, 8);
    const a3 = v128.load32_splat(pa, 12);
    c00 = f32x4.add(c00, f32x4.mul(a0, b0));
    c01 = f32x4.add(c01, f32x4.mul(a0, b1));
    c10 = f32x4.add(c10, f32x4.mul(a1, b0));
    c11 = f32x4.add(c11, f32x4.mul(a1, b1));
    c20 = f32x4.add(c20, f32x4.mul(a2, b0));
    c21 = f32x4.add(c21, f32x4.mul(a2, b1));
    c30 = f32x4.add(c30, f32x4.mul(a3, b0));
    c31 = f32x4.add(c31, f32x4.mul(a3, b1));
    pa += MR * 4;
    pb += NR * 4;
  }
  const rs = (<usize>ldc) << 2;
  if (rows == MR && cols == NR) {
    let r0 = c,
      r1 = c + rs,
      r2 = c + 2 * rs,
      r3 = c + 3 * rs;
    if (add) {
      c00 = f32x4.add(c00, v128.load(r0));
      c01 = f32x4.add(c01, v128.load(r0, 16));
      c10 = f32x4.add(c10, v128.load(r1));
      c11 = f32x4.add(c11, v128.load(r1, 16));
      c20 = f32x4.add(c20, v128.load(r2));
      c21 = f32x4.add(c21, v128.load(r2, 16));
      c30 = f32x4.add(c30, v128.load(r3));
      c31 = f32x4.add(c31, v128.load(r3, 16));
    }
    v128.store(r0, c00);
    v128.store(r0, c01, 16);
    v128.store(r1, c10);
    v128.store(r1, c11, 16);
    v128.store(r2, c20);
    v128.store(r2, c21, 16);
    v128.store(r3, c30);
    v128.store(r3, c31, 16);
    return;
  }
  // Edge tile: spill the accumulators and write the valid part.
  v128.store(tmp, c00);
  v128.store(tmp, c01, 16);
  v128.store(tmp, c10, 32);
  v128.store(tmp, c11, 48);
  v128.store(tmp, c20, 64);
  v128.store(tmp, c21, 80);
  v128.store(tmp, c30, 96);
  v128.store(tmp, c31, 112);
  for (let r = 0; r < rows; r++) {
    for (let s = 0; s < cols; s++) {
      const q = c + <usize>r * rs + ((<usize>s) << 2);
      const v = load<f32>(tmp + ((<usize>(r * NR + s)) << 2));
      store<f32>(q, add ? load<f32>(q) + v : v);
    }
  }
}

/**
 * C[M, N] (row stride ldc, contiguous rows) = A·B, or += when accumulate is 1.
 * Rows [m0, m1) of C only, so threads can split M.
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
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (accumulate == 0) {
      for (let i = 0; i < M; i++) memory.fill(c + ((<usize>(i * ldc)) << 2), 0, (<usize>N) << 2);
    }
    return;
  }
  const bPack = work;
  const aPack = work + ((<usize>(KC * NC)) << 2);
  const spill = aPack + ((<usize>(MC * KC)) << 2); // per-call, so threads never share it
  for (let jc = 0; jc < N; jc += NC) {
    const nc = min(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = min(KC, K - pc);
      const add = accumulate != 0 || pc > 0;
      packB(b, rsB, csB, pc, jc, kc, nc, bPack);
      for (let ic = 0; ic < M; ic += MC) {
        const mc = min(MC, M - ic);
        packA(a, rsA, csA, ic, pc, mc, kc, aPack);
        for (let jr = 0; jr < nc; jr += NR) {
          const bp = bPack + ((<usize>((jr / NR) * kc * NR)) << 2);
          const cols = min(NR, nc - jr);
          for (let ir = 0; ir < mc; ir += MR) {
            const ap = aPack + ((<usize>((ir / MR) * kc * MR)) << 2);
            const cp = c + ((<usize>((ic + ir) * ldc + jc + jr)) << 2);
            micro(ap, bp, kc, cp, ldc, min(MR, mc - ir), cols, add, spill);
          }
        }
      }
    }
  }
}
