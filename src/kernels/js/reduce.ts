// Reductions over any set of dims. Accumulation is in float64; variance is two-pass
// (mean first, then squared deviations), never E[x^2] - E[x]^2.
import { registerKernel } from '../registry.js';
import { stridesOf } from '../../tensor/shape.js';
import { type Tensor, empty } from '../../tensor/tensor.js';

const SUM = 0,
  MAX = 1,
  SQDEV = 2;

interface Plan {
  outShape: number[]; // keepDim form
  ostr: number[]; // output stride for each input dim, 0 where reduced
  outSize: number;
  count: number; // elements reduced into each output
}

function plan(shape: readonly number[], dims: number[]): Plan {
  const outShape = shape.map((d, i) => (dims.includes(i) ? 1 : d));
  const os = stridesOf(outShape);
  const ostr = shape.map((_, i) => (dims.includes(i) ? 0 : os[i]));
  let outSize = 1,
    count = 1;
  shape.forEach((d, i) => (dims.includes(i) ? (count *= d) : (outSize *= d)));
  return { outShape, ostr, outSize, count };
}

function walk(x: Tensor, p: Plan, mode: number, acc: Float64Array, mean?: Float64Array): void {
  const X = x.data;
  const shape = x.shape;
  const r = shape.length;
  if (r === 0) {
    const v = X[0];
    acc[0] = mode === SQDEV ? (v - mean![0]) ** 2 : mode === MAX ? Math.max(acc[0], v) : acc[0] + v;
    return;
  }
  const inner = shape[r - 1];
  const io = p.ostr[r - 1];
  const idx = new Array<number>(r).fill(0);
  let o = 0,
    i = 0;
  const outer = inner === 0 ? 0 : x.size / inner;
  for (let k = 0; k < outer; k++) {
    if (mode === SUM) for (let j = 0; j < inner; j++) acc[o + j * io] += X[i++];
    else if (mode === MAX) {
      for (let j = 0; j < inner; j++) {
        const v = X[i++];
        const q = o + j * io;
        if (v > acc[q] || Number.isNaN(v)) acc[q] = v;
      }
    } else {
      for (let j = 0; j < inner; j++) {
        const q = o + j * io;
        const dv = X[i++] - mean![q];
        acc[q] += dv * dv;
      }
    }
    for (let d = r - 2; d >= 0; d--) {
      idx[d]++;
      o += p.ostr[d];
      if (idx[d] < shape[d]) break;
      o -= p.ostr[d] * shape[d];
      idx[d] = 0;
    }
  }
}

function finish(x: Tensor, p: Plan, keepDim: boolean, dims: number[], acc: Float64Array): Tensor {
  const shape = keepDim ? p.outShape : p.outShape.filter((_, i) => !dims.includes(i));
  const y = empty(shape, x.dtype);
  y.data.set(acc);
  return y;
}

registerKernel({
  name: 'Sum',
  backend: 'js',
  fn: ([x], { dims, keepDim }: { dims: number[]; keepDim: boolean }) => {
    const p = plan(x.shape, dims);
    const acc = new Float64Array(p.outSize);
    walk(x, p, SUM, acc);
    return finish(x, p, keepDim, dims, acc);
  },
});

registerKernel({
  name: 'Max',
  backend: 'js',
  fn: ([x], { dims, keepDim }: { dims: number[]; keepDim: boolean }) => {
    const p = plan(x.shape, dims);
    const acc = new Float64Array(p.outSize).fill(-Infinity);
    walk(x, p, MAX, acc);
    return finish(x, p, keepDim, dims, acc);
  },
});

registerKernel({
  name: 'Var',
  backend: 'js',
  fn: (
    [x],
    { dims, keepDim, correction }: { dims: number[]; keepDim: boolean; correction: number },
  ) => {
    const p = plan(x.shape, dims);
    const mean = new Float64Array(p.outSize);
    walk(x, p, SUM, mean);
    for (let i = 0; i < p.outSize; i++) mean[i] /= p.count;
    const acc = new Float64Array(p.outSize);
    walk(x, p, SQDEV, acc, mean);
    const denom = Math.max(0, p.count - correction);
    for (let i = 0; i < p.outSize; i++) acc[i] /= denom;
    return finish(x, p, keepDim, dims, acc);
  },
});
