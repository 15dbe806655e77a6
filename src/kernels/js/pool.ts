// 2-D pooling over [N, C, H, W], each (n, c) plane independently.
import { registerKernel } from '../registry.js';
import { empty } from '../../tensor/tensor.js';

export interface PoolAttrs {
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  ceilMode?: boolean;
  countIncludePad?: boolean;
}

export function poolOutSize(size: number, k: number, s: number, p: number, ceil = false): number {
  const span = size + 2 * p - k;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  // PyTorch: with ceil_mode the last window must start inside the (left-padded) input.
  if (ceil && (out - 1) * s >= size + p) out--;
  return out;
}

// MaxPool2d returns [y, argmax]; argmax holds each window's flat index within its plane
// (exact in float32 for planes below 2^24 elements), which the backward scatters through.
registerKernel({
  name: 'MaxPool2d',
  backend: 'js',
  fn: ([x], a: PoolAttrs) => {
    const [N, C, H, W] = x.shape;
    const [kh, kw] = a.kernel,
      [sh, sw] = a.stride,
      [ph, pw] = a.padding;
    const oh = poolOutSize(H, kh, sh, ph, a.ceilMode),
      ow = poolOutSize(W, kw, sw, pw, a.ceilMode);
    const y = empty([N, C, oh, ow], x.dtype);
    const idx = empty([N, C, oh, ow], x.dtype);
    const X = x.data,
      Y = y.data,
      I = idx.data;
    let q = 0;
    for (let p = 0; p < N * C; p++) {
      const base = p * H * W;
      for (let oy = 0; oy < oh; oy++) {
        const y0 = oy * sh - ph;
        const ya = Math.max(y0, 0),
          yb = Math.min(y0 + kh, H);
        for (let ox = 0; ox < ow; ox++) {
          const x0 = ox * sw - pw;
          const xa = Math.max(x0, 0),
            xb = Math.min(x0 + kw, W);
          let best = -Infinity,
            bi = ya * W + xa;
          for (let yy = ya; yy < yb; yy++) {
            for (let xx = xa; xx < xb; xx++) {
              const v = X[base + yy * W + xx];
              // A value wins if greater or NaN, in window order (PyTorch's rule).
              if (v > best || Number.isNaN(v)) {
                best = v;
                bi = yy * W + xx;
              }
            }
          }
          Y[q] = best;
          I[q++] = bi;
        }
      }
    }
    return [y, idx];
  },
});

registerKernel({
  name: 'MaxPool2dGrad',
  backend: 'js',
  differentiable: false,
  fn: ([dy, idx], { inputShape }: { inputShape: number[] }) => {
    const [N, C, H, W] = inputShape;
    const dx = empty(inputShape, dy.dtype);
    const DX = dx.data,
      DY = dy.data,
      I = idx.data;
    DX.fill(0);
    const per = dy.size / (N * C);
    for (let p = 0; p < N * C; p++) {
      const base = p * H * W;
      for (let j = 0; j < per; j++) DX[base + I[p * per + j]] += DY[p * per + j];
    }
    return dx;
  },
});

/** Visits every (output, input) pair of average pooling with the divisor PyTorch uses. */
function avgWindows(
  shape: readonly number[],
  a: PoolAttrs,
  visit: (
    plane: number,
    out: number,
    inStart: number,
    ya: number,
    yb: number,
    xa: number,
    xb: number,
    div: number,
  ) => void,
): [number, number] {
  const [N, C, H, W] = shape;
  const [kh, kw] = a.kernel,
    [sh, sw] = a.stride,
    [ph, pw] = a.padding;
  const oh = poolOutSize(H, kh, sh, ph, a.ceilMode),
    ow = poolOutSize(W, kw, sw, pw, a.ceilMode);
  for (let p = 0; p < N * C; p++) {
    for (let oy = 0; oy < oh; oy++) {
      const y0 = oy * sh - ph;
      const yEnd = Math.min(y0 + kh, H + ph);
      const ya = Math.max(y0, 0),
        yb = Math.min(y0 + kh, H);
      for (let ox = 0; ox < ow; ox++) {
        const x0 = ox * sw - pw;
        const xEnd = Math.min(x0 + kw, W + pw);
        const xa = Math.max(x0, 0),
          xb = Math.min(x0 + kw, W);
        const div = a.countIncludePad === false ? (yb - ya) * (xb - xa) : (yEnd - y0) * (xEnd - x0);
        visit(p, (p * oh + oy) * ow + ox, p * H * W, ya, yb, xa, xb, div);
      }
    }
  }
  return [oh, ow];
}

registerKernel({
  name: 'AvgPool2d',
  backend: 'js',
  fn: ([x], a: PoolAttrs) => {
    const [N, C, H, W] = x.shape;
    const oh = poolOutSize(H, a.kernel[0], a.stride[0], a.padding[0], a.ceilMode);
    const ow = poolOutSize(W, a.kernel[1], a.stride[1], a.padding[1], a.ceilMode);
    const y = empty([N, C, oh, ow], x.dtype);
    const X = x.data,
      Y = y.data;
    avgWindows(x.shape, a, (_p, o, base, ya, yb, xa, xb, div) => {
      let s = 0;
      for (let yy = ya; yy < yb; yy++) for (let xx = xa; xx < xb; xx++) s += X[base + yy * W + xx];
      Y[o] = s / div;
    });
    return y;
  },
});

registerKernel({
  name: 'AvgPool2dGrad',
  backend: 'js',
  differentiable: false,
  fn: ([dy], a: PoolAttrs & { inputShape: number[] }) => {
    const W = a.inputShape[3];
    const dx = empty(a.inputShape, dy.dtype);
    const DX = dx.data,
      DY = dy.data;
    DX.fill(0);
    avgWindows(a.inputShape, a, (_p, o, base, ya, yb, xa, xb, div) => {
      const g = DY[o] / div;
      for (let yy = ya; yy < yb; yy++) for (let xx = xa; xx < xb; xx++) DX[base + yy * W + xx] += g;
    });
    return dx;
  },
});

/** PyTorch's adaptive windows: [floor(i*in/out), ceil((i+1)*in/out)). */
function adaptiveRange(i: number, inSize: number, outSize: number): [number, number] {
  return [Math.floor((i * inSize) / outSize), Math.ceil(((i + 1) * inSize) / outSize)];
}

function adaptiveWindows(
  shape: readonly number[],
  [oh, ow]: number[],
  visit: (out: number, base: number, ya: number, yb: number, xa: number, xb: number) => void,
): void {
  const [N, C, H, W] = shape;
  for (let p = 0; p < N * C; p++) {
    for (let oy = 0; oy < oh; oy++) {
      const [ya, yb] = adaptiveRange(oy, H, oh);
      for (let ox = 0; ox < ow; ox++) {
        const [xa, xb] = adaptiveRange(ox, W, ow);
        visit((p * oh + oy) * ow + ox, p * H * W, ya, yb, xa, xb);
      }
    }
  }
}

registerKernel({
  name: 'AdaptiveAvgPool2d',
  backend: 'js',
  fn: ([x], { outputSize }: { outputSize: [number, number] }) => {
    const [N, C, , W] = x.shape;
    const y = empty([N, C, ...outputSize], x.dtype);
    const X = x.data,
      Y = y.data;
    adaptiveWindows(x.shape, outputSize, (o, base, ya, yb, xa, xb) => {
      let s = 0;
      for (let yy = ya; yy < yb; yy++) for (let xx = xa; xx < xb; xx++) s += X[base + yy * W + xx];
      Y[o] = s / ((yb - ya) * (xb - xa));
    });
    return y;
  },
});

registerKernel({
  name: 'AdaptiveAvgPool2dGrad',
  backend: 'js',
  differentiable: false,
  fn: ([dy], { inputShape }: { inputShape: number[] }) => {
    const W = inputShape[3];
    const dx = empty(inputShape, dy.dtype);
    const DX = dx.data,
      DY = dy.data;
    DX.fill(0);
    adaptiveWindows(inputShape, dy.shape.slice(2), (o, base, ya, yb, xa, xb) => {
      const g = DY[o] / ((yb - ya) * (xb - xa));
      for (let yy = ya; yy < yb; yy++) for (let xx = xa; xx < xb; xx++) DX[base + yy * W + xx] += g;
    });
    return dx;
  },
});
