// Normalizes each row of x viewed as [rows, cols] with the shared statistics helper: the
// core of LayerNorm, GroupNorm and InstanceNorm (they differ only in how rows are formed).
import { registerKernel } from '../registry.js';
import { empty } from '../../tensor/tensor.js';
import { moments, rowLayout } from './stats.js';

// Inputs [x]; outputs [xhat, mean, invstd] (statistics shaped [rows]).
registerKernel({
  name: 'NormalizeRows',
  backend: 'js',
  fn: ([x], { rows, eps }: { rows: number; eps: number }) => {
    const cols = x.size / rows;
    const m = moments(x.data, rowLayout(rows, cols));
    const y = empty(x.shape, x.dtype);
    const mean = empty([rows], x.dtype),
      invstd = empty([rows], x.dtype);
    const X = x.data,
      Y = y.data;
    for (let r = 0; r < rows; r++) {
      const mu = m.mean[r];
      const inv = 1 / Math.sqrt(m.m2[r] / cols + eps);
      mean.data[r] = mu;
      invstd.data[r] = inv;
      for (let i = r * cols; i < (r + 1) * cols; i++) Y[i] = (X[i] - mu) * inv;
    }
    return [y, mean, invstd];
  },
});

// Inputs [dxhat, x, mean, invstd]: dx = invstd·(g − mean(g) − x̂·mean(g·x̂)) per row.
registerKernel({
  name: 'NormalizeRowsBackward',
  backend: 'js',
  differentiable: false,
  fn: ([g, x, mean, invstd]) => {
    const rows = mean.size;
    const cols = x.size / rows;
    const dx = empty(x.shape, x.dtype);
    const G = g.data,
      X = x.data,
      DX = dx.data,
      MU = mean.data,
      IS = invstd.data;
    for (let r = 0; r < rows; r++) {
      const mu = MU[r],
        is = IS[r],
        lo = r * cols,
        hi = lo + cols;
      let sg = 0,
        sgx = 0;
      for (let i = lo; i < hi; i++) {
        sg += G[i];
        sgx += G[i] * (X[i] - mu) * is;
      }
      const mg = sg / cols,
        mgx = sgx / cols;
      for (let i = lo; i < hi; i++) DX[i] = is * (G[i] - mg - (X[i] - mu) * is * mgx);
    }
    return dx;
  },
});
