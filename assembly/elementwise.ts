// Elementwise passes the CNN's hot path needs, in SIMD.

export function relu(x: usize, y: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4)
    v128.store(y + ((<usize>i) << 2), f32x4.max(v128.load(x + ((<usize>i) << 2)), zero));
  for (; i < n; i++) {
    const v = load<f32>(x + ((<usize>i) << 2));
    store<f32>(y + ((<usize>i) << 2), v > 0 ? v : 0);
  }
}

/** dx = dy where x > 0, else 0. */
export function reluGrad(dy: usize, x: usize, dx: usize, n: i32): void {
  const zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const q = (<usize>i) << 2;
    v128.store(dx + q, v128.and(v128.load(dy + q), f32x4.gt(v128.load(x + q), zero)));
  }
  for (; i < n; i++) {
    const q = (<usize>i) << 2;
    store<f32>(dx + q, load<f32>(x + q) > 0 ? load<f32>(dy + q) : 0);
  }
}
