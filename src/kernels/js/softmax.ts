// softmax / logSoftmax along one dim, seen as [outer, D, inner]; max-shifted for stability;
// and their input gradient from the output y in one pass.
import { registerKernel } from '../registry.js';
import { sizeOf } from '../../tensor/shape.js';
import { empty } from '../../tensor/tensor.js';

function softmaxKernel(name: string, log: boolean): void {
  registerKernel({
    name,
    backend: 'js',
    fn: ([x], { dim }: { dim: number }) => {
      const D = x.shape[dim];
      const outer = sizeOf(x.shape.slice(0, dim));
      const inner = sizeOf(x.shape.slice(dim + 1));
      const y = empty(x.shape, x.dtype);
      const X = x.data,
        Y = y.data;
      for (let o = 0; o < outer; o++) {
        for (let i = 0; i < inner; i++) {
          const base = o * D * inner + i;
          let m = -Infinity;
          for (let d = 0; d < D; d++) m = Math.max(m, X[base + d * inner]);
          if (m === -Infinity) m = 0;
          let s = 0;
          for (let d = 0; d < D; d++) s += Math.exp(X[base + d * inner] - m);
          if (log) {
            const ls = Math.log(s) + m;
            for (let d = 0; d < D; d++) Y[base + d * inner] = X[base + d * inner] - ls;
          } else {
            for (let d = 0; d < D; d++) Y[base + d * inner] = Math.exp(X[base + d * inner] - m) / s;
          }
        }
      }
      return y;
    },
  });
}

softmaxKernel('Softmax', false);
softmaxKernel('LogSoftmax', true);

registerKernel({
  name: 'SoftmaxGrad',
  backend: 'js',
  differentiable: false,
  fn: ([dy, y], { dim, log }: { dim: number; log: boolean }) => {
    const D = y.shape[dim];
    const outer = sizeOf(y.shape.slice(0, dim));
    const inner = sizeOf(y.shape.slice(dim + 1));
    const dx = empty(y.shape, y.dtype);
    const G = dy.data,
      Y = y.data,
      X = dx.data;
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const base = o * D * inner + i;
        let s = 0;
        for (let d = 0; d < D; d++) {
          const q = base + d * inner;
          s += log ? G[q] : G[q] * Y[q];
        }
        for (let d = 0; d < D; d++) {
          const q = base + d * inner;
          X[q] = log ? G[q] - Math.exp(Y[q]) * s : Y[q] * (G[q] - s);
        }
      }
    }
    return dx;
  },
});
