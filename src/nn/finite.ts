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
