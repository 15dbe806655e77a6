// im2col and its adjoint col2im for one image and group (see src/kernels/js/conv.ts).

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
        let lo = xoff >= 0 ? 0 : (-xoff + sw - 1) / sw;
        let hi = W - xoff <= 0 ? 0 : (W - xoff + sw - 1) / sw;
        if (hi > ow) hi = ow;
        if (lo > hi) lo = hi;
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
            for (let ox = lo; ox < hi; ox++)
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
        let lo = xoff >= 0 ? 0 : (-xoff + sw - 1) / sw;
        let hi = W - xoff <= 0 ? 0 : (W - xoff + sw - 1) / sw;
        if (hi > ow) hi = ow;
        if (lo > hi) lo = hi;
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
