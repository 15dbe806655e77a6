import { rng } from '../random.js';
import { empty } from '../tensor/tensor.js';
import type { Tensor } from '../tensor/tensor.js';
import { mul } from './arith.js';
import { expectTensor } from './util.js';

/** Zeroes each element with probability p and scales the rest by 1/(1-p) (inverted dropout). */
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  expectTensor('dropout', 'input', x);
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout: expected probability p in [0, 1], got ${p}`);
  if (!training || p === 0) return x;
  const mask = empty(x.shape, x.dtype);
  const M = mask.data;
  const scale = p === 1 ? 0 : 1 / (1 - p);
  for (let i = 0; i < M.length; i++) M[i] = rng.uniform() < p ? 0 : scale;
  return mul(x, mask);
}
