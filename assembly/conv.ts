// im2col and its adjoint col2im for one image and group (see src/kernels/js/conv.ts).
import { packWholeA, sdotNT, sgemm, sgemmPackedA } from './gemm';
import { poolPlanes } from './pool';

// Output columns ox whose input column ox·sw + xoff lies inside [0, W) are [colsStart, colsEnd).
function colsStart(xoff: i32, sw: i32): i32 {
  return xoff >= 0 ? 0 : (-xoff + sw - 1) / sw;
}

function colsEnd(xoff: i32, sw: i32, W: i32, ow: i32): i32 {
  return min(ow, W - xoff <= 0 ? 0 : (W - xoff + sw - 1) / sw);
}

export function im2col(
  x: usize,
  C: i32,
  H: i32,
  W: i32,
  kh: i32,
  kw: i32,
  oh: i32,
  ow: i32,
  sh: i32,
  sw: i32,
  ph: i32,
  pw: i32,
  dh: i32,
  dw: i32,
  out: usize,
): void {
  let q = out;
  for (let c = 0; c < C; c++) {
    const xc = x + ((<usize>(c * H * W)) << 2);
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        // Output columns whose input x lies inside [0, W): ox in [lo, hi).
        const xoff = j * dw - pw;
        const hi = colsEnd(xoff, sw, W, ow),
          lo = min(colsStart(xoff, sw), hi);
        for (let oy = 0; oy < oh; oy++) {
          const y = oy * sh - ph + i * dh;
          if (y < 0 || y >= H) {
            memory.fill(q, 0, (<usize>ow) << 2);
            q += (<usize>ow) << 2;
            continue;
          }
          const row = xc + ((<usize>(y * W)) << 2);
          for (let ox = 0; ox < lo; ox++) store<f32>(q + ((<usize>ox) << 2), 0);
          if (sw == 1) {
            memory.copy(
              q + ((<usize>lo) << 2),
              row + ((<usize>(lo + xoff)) << 2),
              (<usize>(hi - lo)) << 2,
            );
          } else {
            let ox = lo;
            // Stride 2 (ResNet's downsampling): four outputs from eight floats, while all
            // eight lie inside the row.
            if (sw == 2)
              for (; ox + 4 <= hi && 2 * ox + xoff + 8 <= W; ox += 4) {
                const src = row + ((<usize>(2 * ox + xoff)) << 2);
                const even = v128.shuffle<f32>(v128.load(src), v128.load(src, 16), 0, 2, 4, 6);
                v128.store(q + ((<usize>ox) << 2), even);
              }
            for (; ox < hi; ox++)
              store<f32>(q + ((<usize>ox) << 2), load<f32>(row + ((<usize>(ox * sw + xoff)) << 2)));
          }
          for (let ox = hi; ox < ow; ox++) store<f32>(q + ((<usize>ox) << 2), 0);
          q += (<usize>ow) << 2;
        }
      }
    }
  }
}

export function col2im(
  src: usize,
  dx: usize,
  C: i32,
  H: i32,
  W: i32,
  kh: i32,
  kw: i32,
  oh: i32,
  ow: i32,
  sh: i32,
  sw: i32,
  ph: i32,
  pw: i32,
  dh: i32,
  dw: i32,
): void {
  let q = src;
  for (let c = 0; c < C; c++) {
    const xc = dx + ((<usize>(c * H * W)) << 2);
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const xoff = j * dw - pw;
        const hi = colsEnd(xoff, sw, W, ow),
          lo = min(colsStart(xoff, sw), hi);
        for (let oy = 0; oy < oh; oy++) {
          const y = oy * sh - ph + i * dh;
          if (y >= 0 && y < H) {
            const row = xc + ((<usize>(y * W)) << 2);
            for (let ox = lo; ox < hi; ox++) {
              const p = row + ((<usize>(ox * sw + xoff)) << 2);
              store<f32>(p, load<f32>(p) + load<f32>(q + ((<usize>ox) << 2)));
            }
          }
          q += (<usize>ow) << 2;
        }
      }
    }
  }
}

// Whole-layer convolution passes for groups = 1, so threads can take whole images (forward,
// backward-input) or whole input channels (backward-weight) and run im2col and GEMM without
// returning to JavaScript. `cols` and `work` are the calling thread's scratch areas.

function isPointwise(kh: i32, kw: i32, sh: i32, sw: i32, ph: i32, pw: i32): bool {
  return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0;
}

/**
 * y[n] = W · im2col(x[n]) (+ bias) for images [n0, n1). With pool (not 0; pool.ts's
 * poolPlanes geometry, whose output replaces y), each image's output is max-pooled (then
 * ReLU'd when relu) from `out`, Cout·oh·ow floats of this thread's scratch.
 */
export function convForward(
  x: usize,
  w: usize,
  bias: usize,
  y: usize,
  n0: i32,
  n1: i32,
  Cin: i32,
  H: i32,
  W: i32,
  kh: i32,
  kw: i32,
  oh: i32,
  ow: i32,
  sh: i32,
  sw: i32,
  ph: i32,
  pw: i32,
  dh: i32,
  dw: i32,
  Cout: i32,
  cols: usize,
  work: usize,
  packed: usize,
  pool: usize,
  relu: i32,
  out: usize,
): void {
  const Kd = Cin * kh * kw,
    HWo = oh * ow;
  const direct = isPointwise(kh, kw, sh, sw, ph, pw);
  packWholeA(w, Kd, 1, Cout, Kd, packed); // once for all the images
  for (let n = n0; n < n1; n++) {
    const xn = x + ((<usize>(n * Cin * H * W)) << 2);
    // Pooled: the image's output goes to `out` (this thread's, in cache) and is pooled from there.
    const yn = pool != 0 ? out : y + ((<usize>(n * Cout * HWo)) << 2);
    if (!direct) im2col(xn, Cin, H, W, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw, cols);
    sgemmPackedA(Cout, HWo, Kd, packed, direct ? xn : cols, HWo, 1, yn, HWo, 0, work);
    if (bias != 0) {
      for (let c = 0; c < Cout; c++) {
        const bv = f32x4.splat(load<f32>(bias + ((<usize>c) << 2)));
        const row = yn + ((<usize>(c * HWo)) << 2);
        let i = 0;
        for (; i + 4 <= HWo; i += 4)
          v128.store(row + ((<usize>i) << 2), f32x4.add(v128.load(row + ((<usize>i) << 2)), bv));
        for (; i < HWo; i++)
          store<f32>(
            row + ((<usize>i) << 2),
            load<f32>(row + ((<usize>i) << 2)) + load<f32>(bias + ((<usize>c) << 2)),
          );
      }
    }
    if (pool != 0) poolPlanes(pool, out, n * Cout, Cout, relu);
  }
}

/** dx[n] = col2im(Wᵀ · dy[n]) for images [n0, n1). */
export function convBackwardInput(
  dy: usize,
  w: usize,
  dx: usize,
  n0: i32,
  n1: i32,
  Cin: i32,
  H: i32,
  W: i32,
  kh: i32,
  kw: i32,
  oh: i32,
  ow: i32,
  sh: i32,
  sw: i32,
  ph: i32,
  pw: i32,
  dh: i32,
  dw: i32,
  Cout: i32,
  cols: usize,
  work: usize,
  packed: usize,
): void {
  const Kd = Cin * kh * kw,
    HWo = oh * ow;
  const direct = isPointwise(kh, kw, sh, sw, ph, pw);
  packWholeA(w, 1, Kd, Kd, Cout, packed); // Wᵀ, once for all the images
  for (let n = n0; n < n1; n++) {
    const dyn = dy + ((<usize>(n * Cout * HWo)) << 2);
    const dxn = dx + ((<usize>(n * Cin * H * W)) << 2);
    if (direct) {
      sgemmPackedA(Kd, HWo, Cout, packed, dyn, HWo, 1, dxn, HWo, 0, work);
    } else {
      sgemmPackedA(Kd, HWo, Cout, packed, dyn, HWo, 1, cols, HWo, 0, work);
      memory.fill(dxn, 0, (<usize>(Cin * H * W)) << 2);
      col2im(cols, dxn, Cin, H, W, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw);
    }
  }
}

/**
 * dW[output channels [o0, o1), rows of input channels [c0, c1)] = Σ_n dy[n] · im2col(x[n])ᵀ
 * over all N images in order, so each element's sum has one order whatever the split.
 */
/** Cin·kh·kw up to which the weight gradient takes sdotNT (measured: BENCHMARKS.md). */
const DOT_ROWS: i32 = 27;

export function convBackwardWeight(
  dy: usize,
  x: usize,
  dwt: usize,
  c0: i32,
  c1: i32,
  o0: i32,
  o1: i32,
  N: i32,
  Cin: i32,
  H: i32,
  W: i32,
  kh: i32,
  kw: i32,
  oh: i32,
  ow: i32,
  sh: i32,
  sw: i32,
  ph: i32,
  pw: i32,
  dh: i32,
  dw: i32,
  Cout: i32,
  cols: usize,
  work: usize,
): void {
  const Kd = Cin * kh * kw,
    HWo = oh * ow,
    k2 = kh * kw;
  const rows = (c1 - c0) * k2;
  const direct = isPointwise(kh, kw, sh, sw, ph, pw);
  const out = dwt + ((<usize>(o0 * Kd + c0 * k2)) << 2);
  for (let n = 0; n < N; n++) {
    const dyn = dy + ((<usize>((n * Cout + o0) * HWo)) << 2);
    const xc = x + ((<usize>((n * Cin + c0) * H * W)) << 2);
    if (!direct) im2col(xc, c1 - c0, H, W, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw, cols);
    const b = direct ? xc : cols;
    // A small Cin·kh·kw (a first layer's few input channels): dot products, unpacked. Chosen
    // by the layer's shape, not this thread's rows, so every split gives the same bits.
    if (Kd <= DOT_ROWS) sdotNT(o1 - o0, rows, HWo, dyn, HWo, b, HWo, out, Kd, n > 0 ? 1 : 0);
    else sgemm(o1 - o0, rows, HWo, dyn, HWo, 1, b, 1, HWo, out, Kd, n > 0 ? 1 : 0, work);
  }
}
