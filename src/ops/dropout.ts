import { rng } from '../random.js';
import { empty } from '../tensor/tensor.js';
import type { Tensor } from '../tensor/tensor.js';
import { fmt } from '../tensor/shape.js';
import { mul } from './arith.js';
import { expectTensor } from './util.js';

/** Zeroes each element with probability p and scales the rest by 1/(1-p) (inverted dropout). */
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  expectTensor('dropout', 'input', x);
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout: expected probability p in [0, 1], got ${p}`);
  if (!training || p === 0) return x;
  const mask = empty(x.shape, x.dtype);
  const scale = p === 1 ? 0 : 1 / (1 - p);
  rng.fillMask(mask.data, p, scale);
  return mul(x, mask);
}

/**
 * Zeroes whole channels of [N, C, ...] with probability p, scaling the rest by 1/(1 − p)
 * (PyTorch's Dropout2d / Dropout1d / Dropout3d: one draw per sample and channel).
 */
export function dropoutChannels(x: Tensor, p = 0.5, training = true): Tensor {
  expectTensor('dropoutChannels', 'input', x);
  if (!(p >= 0 && p <= 1))
    throw new Error(`dropoutChannels: expected probability p in [0, 1], got ${p}`);
  if (x.rank < 2)
    throw new Error(`dropoutChannels: expected input [N, C, ...], got ${fmt(x.shape)}`);
  if (!training || p === 0) return x;
  const mask = empty([x.shape[0], x.shape[1], ...x.shape.slice(2).map(() => 1)], x.dtype);
  const scale = p === 1 ? 0 : 1 / (1 - p);
  rng.fillMask(mask.data, p, scale);
  return mul(x, mask);
}
