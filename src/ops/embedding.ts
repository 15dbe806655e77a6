// Embedding lookup: rows of a [V, D] weight picked by integer indices (held in a float tensor,
// as every normkit tensor is float). The gradient scatters dy back into the rows it came
// from, adding where an index repeats, and leaves the padding row at zero (PyTorch).
import { apply } from '../autograd/apply.js';
import { registerGradient, registerKernel } from '../kernels/registry.js';
import { empty } from '../tensor/tensor.js';
import { zeros } from '../tensor/create.js';
import { fmt } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { expectTensor } from './util.js';

/** weight[indices]: output shape [...indices.shape, D]. paddingIdx's row gets no gradient. */
export function embedding(
  weight: Tensor,
  indices: Tensor,
  opts: { paddingIdx?: number | null; name?: string } = {},
): Tensor {
  const name = opts.name ?? 'embedding';
  expectTensor(name, 'weight', weight);
  expectTensor(name, 'indices', indices);
  if (weight.rank !== 2)
    throw new Error(`${name}: expected weight [V, D], got ${fmt(weight.shape)}`);
  const V = weight.shape[0];
  const I = indices.data;
  for (let i = 0; i < I.length; i++) {
    const k = I[i];
    if (!Number.isInteger(k) || k < 0 || k >= V) {
      throw new Error(
        `${name}: expected integer indices in [0, ${V - 1}], got ${k} at flat position ${i} of indices ${fmt(indices.shape)}`,
      );
    }
  }
  return apply('Embedding', [weight, indices], { paddingIdx: opts.paddingIdx ?? null });
}

registerKernel({
  name: 'Embedding',
  backend: 'js',
  fn: ([w, idx]) => {
    const D = w.shape[1];
    const y = empty([...idx.shape, D], w.dtype);
    const W = w.data,
      I = idx.data,
      Y = y.data;
    for (let i = 0; i < I.length; i++) Y.set(W.subarray(I[i] * D, (I[i] + 1) * D), i * D);
    return y;
  },
});

registerKernel({
  name: 'EmbeddingBackward',
  backend: 'js',
  differentiable: false,
  fn: ([dy, idx], { rows, paddingIdx }: { rows: number; paddingIdx: number | null }) => {
    const D = dy.shape[dy.rank - 1];
    const g = zeros([rows, D], { dtype: dy.dtype });
    const G = g.data,
      I = idx.data,
      DY = dy.data;
    for (let i = 0; i < I.length; i++) {
      if (I[i] === paddingIdx) continue;
      const o = I[i] * D;
      for (let d = 0; d < D; d++) G[o + d] += DY[i * D + d];
    }
    return g;
  },
});

registerGradient('Embedding', (dy, { inputs: [w, idx], attrs }) => [
  apply('EmbeddingBackward', [dy, idx], { rows: w.shape[0], paddingIdx: attrs.paddingIdx }),
  null,
]);
