// Data movement: permute, concat, slice and its adjoint (pad into zeros).
import { registerKernel } from '../registry.js';
import { sizeOf, stridesOf } from '../../tensor/shape.js';
import { Tensor, empty } from '../../tensor/tensor.js';

registerKernel({
  name: 'Permute',
  backend: 'js',
  fn: ([x], { perm }: { perm: number[] }) => {
    const outShape = perm.map((p) => x.shape[p]);
    const y = empty(outShape, x.dtype);
    const X = x.data,
      Y = y.data;
    const xs = stridesOf(x.shape);
    const src = perm.map((p) => xs[p]); // input stride for each output dim
    const r = outShape.length;
    if (r === 0 || y.size === 0) {
      if (y.size > 0) Y[0] = X[0];
      return y;
    }
    const inner = outShape[r - 1],
      is = src[r - 1];
    const idx = new Array<number>(r).fill(0);
    let off = 0,
      q = 0;
    for (let k = 0; k < y.size / inner; k++) {
      for (let j = 0; j < inner; j++) Y[q++] = X[off + j * is];
      for (let d = r - 2; d >= 0; d--) {
        idx[d]++;
        off += src[d];
        if (idx[d] < outShape[d]) break;
        off -= src[d] * outShape[d];
        idx[d] = 0;
      }
    }
    return y;
  },
});

registerKernel({
  name: 'Concat',
  backend: 'js',
  fn: (xs, { dim }: { dim: number }) => {
    const shape = [...xs[0].shape];
    shape[dim] = xs.reduce((s, t) => s + t.shape[dim], 0);
    const y = empty(shape, xs[0].dtype);
    const Y = y.data;
    const outer = sizeOf(shape.slice(0, dim));
    const inner = sizeOf(shape.slice(dim + 1));
    const rowOut = shape[dim] * inner;
    let col = 0;
    for (const t of xs) {
      const X = t.data;
      const row = t.shape[dim] * inner;
      for (let o = 0; o < outer; o++) Y.set(X.subarray(o * row, (o + 1) * row), o * rowOut + col);
      col += row;
    }
    return y;
  },
});

/** Calls copy once per outer index of `shape` split at dim, with the inner block and row size. */
function eachRow(
  shape: readonly number[],
  dim: number,
  copy: (outer: number, inner: number, row: number) => void,
): void {
  const outer = sizeOf(shape.slice(0, dim));
  const inner = sizeOf(shape.slice(dim + 1));
  for (let o = 0; o < outer; o++) copy(o, inner, shape[dim] * inner);
}

registerKernel({
  name: 'Slice',
  backend: 'js',
  fn: ([x], { dim, start, end }: { dim: number; start: number; end: number }) => {
    const shape = [...x.shape];
    shape[dim] = end - start;
    const y = empty(shape, x.dtype);
    const X = x.data,
      Y = y.data;
    const len = end - start;
    eachRow(x.shape, dim, (o, inner, row) => {
      Y.set(X.subarray(o * row + start * inner, o * row + end * inner), o * len * inner);
    });
    return y;
  },
});

registerKernel({
  name: 'SliceGrad',
  backend: 'js',
  differentiable: false,
  fn: ([dy], { dim, start, inputShape }: { dim: number; start: number; inputShape: number[] }) => {
    const dx = empty(inputShape, dy.dtype);
    const DX = dx.data,
      DY = dy.data;
    DX.fill(0);
    const len = dy.shape[dim];
    eachRow(inputShape, dim, (o, inner, row) => {
      DX.set(DY.subarray(o * len * inner, (o + 1) * len * inner), o * row + start * inner);
    });
    return dx;
  },
});

// A view: the output shares the input's storage (tensors are always contiguous).
registerKernel({
  name: 'Reshape',
  backend: 'js',
  fn: ([x], { shape }: { shape: number[] }) => new Tensor(shape, x.dtype, x.sharedStorage),
});

registerKernel({
  name: 'Clone',
  backend: 'js',
  fn: ([x]) => {
    const y = empty(x.shape, x.dtype);
    y.data.set(x.data);
    return y;
  },
});
