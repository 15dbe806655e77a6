// In-place optimizer updates with PyTorch's formulas (see src/kernels/js/optim.ts), SIMD.
// Scalar tails repeat the SIMD bodies' exact operation order, so an element gives the same bits
// whichever path a thread split puts it on.

export function sgdUpdate(
  p: usize,
  g: usize,
  buf: usize,
  n: i32,
  lr: f32,
  momentum: f32,
  dampening: f32,
  nesterov: i32,
  weightDecay: f32,
  first: i32,
): void {
  // Four at a time, each lane the scalar loop's f32 arithmetic (no fused multiply-add).
  const wd = f32x4.splat(weightDecay),
    mo = f32x4.splat(momentum),
    keep = f32x4.splat(1 - dampening),
    rate = f32x4.splat(lr);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const q = (<usize>i) << 2;
    const pv = v128.load(p + q);
    let d = f32x4.add(v128.load(g + q), f32x4.mul(wd, pv));
    if (buf != 0) {
      const m = first ? d : f32x4.add(f32x4.mul(mo, v128.load(buf + q)), f32x4.mul(keep, d));
      v128.store(buf + q, m);
      d = nesterov ? f32x4.add(d, f32x4.mul(mo, m)) : m;
    }
    v128.store(p + q, f32x4.sub(pv, f32x4.mul(rate, d)));
  }
  for (; i < n; i++) {
    const q = (<usize>i) << 2;
    const pi = load<f32>(p + q);
    let d = load<f32>(g + q) + weightDecay * pi;
    if (buf != 0) {
      const m = first ? d : momentum * load<f32>(buf + q) + (1 - dampening) * d;
      store<f32>(buf + q, m);
      d = nesterov ? d + momentum * m : m;
    }
    store<f32>(p + q, pi - lr * d);
  }
}

export function adamUpdate(
  p: usize,
  g: usize,
  m: usize,
  v: usize,
  n: i32,
  lr: f64,
  beta1: f64,
  beta2: f64,
  eps: f64,
  weightDecay: f64,
  decoupled: i32,
  step: i32,
): void {
  const bc1 = 1 - Math.pow(beta1, <f64>step);
  const bc2 = Math.sqrt(1 - Math.pow(beta2, <f64>step));
  const stepSize = <f32>(lr / bc1);
  const decay = <f32>(decoupled ? 1 - lr * weightDecay : 1);
  const l2 = <f32>(decoupled ? 0 : weightDecay);
  const b1 = f32x4.splat(<f32>beta1),
    c1 = f32x4.splat(<f32>(1 - beta1));
  const b2 = f32x4.splat(<f32>beta2),
    c2 = f32x4.splat(<f32>(1 - beta2));
  const ibc2 = f32x4.splat(<f32>(1 / bc2)),
    ev = f32x4.splat(<f32>eps);
  const dv = f32x4.splat(decay),
    lv = f32x4.splat(l2),
    sv = f32x4.splat(stepSize);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const q = (<usize>i) << 2;
    const pv = v128.load(p + q);
    const gv = f32x4.add(v128.load(g + q), f32x4.mul(lv, pv));
    const mv = f32x4.add(f32x4.mul(b1, v128.load(m + q)), f32x4.mul(c1, gv));
    const vv = f32x4.add(f32x4.mul(b2, v128.load(v + q)), f32x4.mul(c2, f32x4.mul(gv, gv)));
    v128.store(m + q, mv);
    v128.store(v + q, vv);
    const denom = f32x4.add(f32x4.mul(f32x4.sqrt(vv), ibc2), ev);
    v128.store(p + q, f32x4.sub(f32x4.mul(pv, dv), f32x4.div(f32x4.mul(sv, mv), denom)));
  }
  for (; i < n; i++) {
    const q = (<usize>i) << 2;
    const pi = load<f32>(p + q);
    const gi = load<f32>(g + q) + l2 * pi;
    const mi = <f32>beta1 * load<f32>(m + q) + <f32>(1 - beta1) * gi;
    const vi = <f32>beta2 * load<f32>(v + q) + <f32>(1 - beta2) * (gi * gi);
    store<f32>(m + q, mi);
    store<f32>(v + q, vi);
    store<f32>(p + q, pi * decay - (stepSize * mi) / (Mathf.sqrt(vi) * <f32>(1 / bc2) + <f32>eps));
  }
}
