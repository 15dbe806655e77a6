// Fashion-MNIST, runtime-neutral part: class names, input normalization, and turning parsed
// IDX images and labels into a normalized split. Files are read by fashion-mnist-node.ts.
import type { IdxArray } from './idx.js';

export const CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];
/** Mean and standard deviation of the training pixels scaled to [0, 1]. */
export const MEAN = 0.286;
export const STD = 0.353;

export interface Split {
  /** Normalized images, [n, 1, 28, 28] row-major. */
  images: Float32Array;
  labels: Uint8Array;
  count: number;
}

/** Checks parsed IDX images [n, 28, 28] and labels [n], and normalizes the first `limit`. */
export function toSplit(imgs: IdxArray, labs: IdxArray, limit?: number): Split {
  if (imgs.shape.length !== 3 || imgs.shape[1] !== 28 || imgs.shape[2] !== 28) {
    throw new Error(`Fashion-MNIST: expected images [n, 28, 28], got [${imgs.shape.join(', ')}]`);
  }
  if (labs.shape.length !== 1 || labs.shape[0] !== imgs.shape[0]) {
    throw new Error(
      `Fashion-MNIST: ${imgs.shape[0]} images but labels of shape [${labs.shape.join(', ')}]`,
    );
  }
  const count = Math.min(imgs.shape[0], limit ?? Infinity);
  const images = new Float32Array(count * 784);
  for (let i = 0; i < images.length; i++) images[i] = (imgs.data[i] / 255 - MEAN) / STD;
  for (let i = 0; i < count; i++) {
    if (labs.data[i] > 9)
      throw new Error(`Fashion-MNIST: label ${i} is ${labs.data[i]}, expected 0-9`);
  }
  return { images, labels: labs.data.slice(0, count), count };
}
