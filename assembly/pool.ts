// Max pooling over planes of [N·C, H, W] (see src/kernels/js/pool.ts): y and, for the
// backward pass, the flat in-plane index of each window's maximum (stored as f32).

export function maxPool2d(
  x: usize,
  planes: i32,
  H: i32,
  W: i32,
  kh: i32,
  kw: i32,
  sh: i32,
  sw: i32,
  ph: i32,
  pw: i32,
  oh: i32,
  ow: i32,
  y: usize,
  idx: usize,
): void {
  let q: usize = 0;
  for (let p = 0; p < planes; p++) {
    const base = x + ((<usize>(p * H * W)) << 2);
    for (let oy = 0; oy < oh; oy++) {
      const y0 = oy * sh - ph;
      const ya = max(y0, 0),
        yb = min(y0 + kh, H);
      for (let ox = 0; ox < ow; ox++) {
        const x0 = ox * sw - pw;
        const xa = max(x0, 0),
          xb = min(x0 + kw, W);
        let best: f32 = -Infinity;
        let bi = ya * W + xa;
        for (let yy = ya; yy < yb; yy++) {
          const row = base + ((<usize>(yy * W)) << 2);
          for (let xx = xa; xx < xb; xx++) {
            const v = load<f32>(row + ((<usize>xx) << 2));
            if (v > best || isNaN(v)) {
              best = v;
              bi = yy * W + xx;
            }
          }
        }
        store<f32>(y + q, best);
        store<f32>(idx + q, <f32>bi);
        q += 4;
      }
    }
  }
}

/** dx (zeroed here) receives each dy at its window's argmax. */
export function maxPool2dGrad(
  dy: usize,
  idx: usize,
  planes: i32,
  HW: i32,
  per: i32,
  dx: usize,
): void {
  memory.fill(dx, 0, (<usize>(planes * HW)) << 2);
  for (let p = 0; p < planes; p++) {
    const base = dx + ((<usize>(p * HW)) << 2);
    const off = (<usize>(p * per)) << 2;
    for (let j = 0; j < per; j++) {
      const q = off + ((<usize>j) << 2);
      const t = base + ((<usize>(<i32>load<f32>(idx + q))) << 2);
      store<f32>(t, load<f32>(t) + load<f32>(dy + q));
    }
  }
}
