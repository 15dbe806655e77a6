// Input checks every norm layer shares, run before any state changes.
import { fmt } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * The opt-in `checkFinite` of every norm: throws, naming the layer and the first bad element,
 * when x holds NaN or Inf. By default NaN and Inf propagate, as in PyTorch.
 */
export function assertFinite(name: string, x: Tensor): void {
  const X = x.data;
  for (let i = 0; i < X.length; i++) {
    if (!Number.isFinite(X[i])) {
      throw new Error(
        `${name}: input ${fmt(x.shape)} holds ${X[i]} at flat index ${i} (checkFinite)`,
      );
    }
  }
}

/**
 * A norm layer's input must have its parameters' dtype: checked before any state changes,
 * naming the layer (a float64 input would otherwise move a float32 layer's running
 * statistics and fail later, in backward, without saying where).
 */
export function assertInputDType(name: string, x: Tensor, own: Tensor | null): void {
  if (own !== null && x.dtype !== own.dtype) {
    throw new Error(
      `${name}: expected a ${own.dtype} input (the layer's parameters are ${own.dtype}), got ` +
        `${x.dtype} ${fmt(x.shape)}; convert with x.to('${own.dtype}')`,
    );
  }
}

/** A shape argument of a layer's constructor: positive integers only. */
export function checkSizes(name: string, what: string, sizes: readonly number[]): void {
  if (sizes.length === 0 || !sizes.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new Error(`${name}: expected ${what} of positive integers, got ${fmt(sizes)}`);
  }
}
