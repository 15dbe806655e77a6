// Elementwise kernels with NumPy broadcasting. The same-shape and scalar cases get straight
// loops; the general case walks the output with an odometer over broadcast strides.
import { registerKernel } from '../registry.js';
import { broadcastShapes, broadcastStrides, sameShape } from '../../tensor/shape.js';
import type { TypedArray } from '../../tensor/dtype.js';
import { type Tensor, empty, emptyOver } from '../../tensor/tensor.js';
import { erf } from './erf.js';

type Binary = (a: number, b: number) => number;

function broadcastLoop(a: Tensor, b: Tensor, y: Tensor, f: Binary): void {
  const A = a.data,
    B = b.data,
    Y = y.data;
  const out = y.shape;
  const r = out.length;
  const sa = broadcastStrides(a.shape, out);
  const sb = broadcastStrides(b.shape, out);
  const inner = out[r - 1];
  const ia = sa[r - 1],
    ib = sb[r - 1];
  const idx = new Array<number>(r).fill(0);
  let offA = 0,
    offB = 0,
    p = 0;
  const outer = inner === 0 ? 0 : y.size / inner;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) Y[p++] = f(A[offA + j * ia], B[offB + j * ib]);
    for (let d = r - 2; d >= 0; d--) {
      idx[d]++;
      offA += sa[d];
      offB += sb[d];
      if (idx[d] < out[d]) break;
      offA -= sa[d] * out[d];
      offB -= sb[d] * out[d];
      idx[d] = 0;
    }
  }
}

function binaryKernel(
  name: string,
  f: Binary,
  fast?: (A: TypedArray, B: TypedArray, Y: TypedArray) => void,
  differentiable = true,
): void {
  registerKernel({
    name,
    backend: 'js',
    differentiable,
    // attrs.intoDy (gradient helpers: a is a donated dy): y over a when it has y's shape.
    fn: ([a, b], attrs?: { intoDy?: boolean }) => {
      const shape = broadcastShapes(name, a.shape, b.shape);
      const over = attrs?.intoDy === true && sameShape(shape, a.shape) ? a : null;
      const y = emptyOver(shape, a.dtype, over);
      if (a.size === b.size && a.size === y.size && fast !== undefined)
        fast(a.data, b.data, y.data);
      else if (y.size > 0) broadcastLoop(a, b, y, f);
      return y;
    },
  });
}

binaryKernel(
  'Add',
  (a, b) => a + b,
  (A, B, Y) => {
    for (let i = 0; i < Y.length; i++) Y[i] = A[i] + B[i];
  },
);
binaryKernel(
  'Sub',
  (a, b) => a - b,
  (A, B, Y) => {
    for (let i = 0; i < Y.length; i++) Y[i] = A[i] - B[i];
  },
);
binaryKernel(
  'Mul',
  (a, b) => a * b,
  (A, B, Y) => {
    for (let i = 0; i < Y.length; i++) Y[i] = A[i] * B[i];
  },
);
binaryKernel(
  'Div',
  (a, b) => a / b,
  (A, B, Y) => {
    for (let i = 0; i < Y.length; i++) Y[i] = A[i] / B[i];
  },
);
binaryKernel('Pow', (a, b) => Math.pow(a, b));
binaryKernel('Maximum', (a, b) => (a >= b || Number.isNaN(a) ? a : b));
binaryKernel('Minimum', (a, b) => (a <= b || Number.isNaN(a) ? a : b));
binaryKernel('GreaterEqual', (a, b) => (a >= b ? 1 : 0), undefined, false);
binaryKernel('Greater', (a, b) => (a > b ? 1 : 0), undefined, false);
binaryKernel('Equal', (a, b) => (a === b ? 1 : 0), undefined, false);
registerKernel({
  name: 'MaskedFill',
  backend: 'js',
  fn: ([x, mask], { value }: { value: number }) => {
    const y = empty(x.shape, x.dtype);
    if (y.size > 0) broadcastLoop(x, mask, y, (a, m) => (m !== 0 ? value : a));
    return y;
  },
});
// Gradient helpers: dx = dy * f'(x) as one pass (inputs: dy, x).
binaryKernel(
  'ReluGrad',
  (dy, x) => (x > 0 ? dy : 0),
  (D, X, Y) => {
    for (let i = 0; i < Y.length; i++) Y[i] = X[i] > 0 ? D[i] : 0;
  },
  false,
);
registerKernel({
  name: 'LeakyReluGrad',
  backend: 'js',
  differentiable: false,
  fn: ([dy, x], { slope }: { slope: number }) => {
    const dx = empty(x.shape, x.dtype);
    const D = dy.data,
      X = x.data,
      Y = dx.data;
    for (let i = 0; i < Y.length; i++) Y[i] = X[i] > 0 ? D[i] : D[i] * slope;
    return dx;
  },
});
binaryKernel(
  'GeluGrad',
  (dy, x) =>
    dy * (0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI)),
  undefined,
  false,
);

// Each op's loop is its own function literal, so every call site inside stays monomorphic
// (one loop calling a different f per op went megamorphic and ran several times slower).
type UnaryLoop = (X: TypedArray, Y: TypedArray) => void;

function unaryKernel(name: string, make: (attrs: any) => UnaryLoop, differentiable = true): void {
  registerKernel({
    name,
    backend: 'js',
    differentiable,
    fn: ([x], attrs) => {
      const y = empty(x.shape, x.dtype);
      make(attrs)(x.data, y.data);
      return y;
    },
  });
}

unaryKernel('Neg', () => (X, Y) => {
  for (let i = 0; i < X.length; i++) Y[i] = -X[i];
});
unaryKernel('Exp', () => (X, Y) => {
  for (let i = 0; i < X.length; i++) Y[i] = Math.exp(X[i]);
});
unaryKernel('Log', () => (X, Y) => {
  for (let i = 0; i < X.length; i++) Y[i] = Math.log(X[i]);
});
unaryKernel('Sqrt', () => (X, Y) => {
  for (let i = 0; i < X.length; i++) Y[i] = Math.sqrt(X[i]);
});
unaryKernel('Abs', () => (X, Y) => {
  for (let i = 0; i < X.length; i++) Y[i] = Math.abs(X[i]);
});
unaryKernel(
  'Sign',
  () => (X, Y) => {
    for (let i = 0; i < X.length; i++) Y[i] = Math.sign(X[i]);
  },
  false,
);
unaryKernel('Sigmoid', () => (X, Y) => {
  for (let i = 0; i < X.length; i++) {
    const x = X[i];
    Y[i] = x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
  }
});
unaryKernel('Tanh', () => (X, Y) => {
  for (let i = 0; i < X.length; i++) Y[i] = Math.tanh(X[i]);
});
unaryKernel('Gelu', () => (X, Y) => {
  for (let i = 0; i < X.length; i++) Y[i] = 0.5 * X[i] * (1 + erf(X[i] / Math.SQRT2));
});
unaryKernel('LeakyRelu', ({ slope }: { slope: number }) => (X, Y) => {
  for (let i = 0; i < X.length; i++) Y[i] = X[i] > 0 ? X[i] : X[i] * slope;
});
unaryKernel('Clamp', ({ min, max }: { min: number; max: number }) => (X, Y) => {
  for (let i = 0; i < X.length; i++) Y[i] = X[i] < min ? min : X[i] > max ? max : X[i];
});
unaryKernel(
  'ClampMask',
  ({ min, max }: { min: number; max: number }) =>
    (X, Y) => {
      for (let i = 0; i < X.length; i++) Y[i] = X[i] >= min && X[i] <= max ? 1 : 0;
    },
  false,
);
unaryKernel('PowScalar', ({ exponent }: { exponent: number }) => (X, Y) => {
  for (let i = 0; i < X.length; i++) Y[i] = Math.pow(X[i], exponent);
});

/** Y = max(X, 0): NaN stays NaN (PyTorch; the WASM kernel's relu4), −0 becomes +0. Y may be X. */
export function reluInto(X: TypedArray, Y: TypedArray): void {
  for (let i = 0; i < X.length; i++) {
    const v = X[i];
    Y[i] = v > 0 || v !== v ? v : 0;
  }
}

registerKernel({
  name: 'Relu',
  backend: 'js',
  fn: ([x]) => {
    const y = empty(x.shape, x.dtype);
    reluInto(x.data, y.data);
    return y;
  },
});

registerKernel({
  name: 'Cast',
  backend: 'js',
  fn: ([x], { dtype }) => {
    const y = empty(x.shape, dtype);
    y.data.set(x.data);
    return y;
  },
});

registerKernel({
  name: 'Expand',
  backend: 'js',
  fn: ([x], { shape }: { shape: number[] }) => {
    const y = empty(shape, x.dtype);
    if (y.size > 0) broadcastLoop(x, x, y, (a) => a);
    return y;
  },
});
