import type { Tensor } from '../tensor/tensor.js';

/** Index of the largest value in each row of a [N, C] tensor. */
export function argmaxRows(logits: Tensor): Int32Array {
  const [N, C] = logits.shape;
  const L = logits.data;
  const out = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (L[i * C + c] > L[i * C + best]) best = c;
    out[i] = best;
  }
  return out;
}
