// Fashion-MNIST: the bundled subset (10,000 training images, the full test set) or the full
// set from a directory of IDX files (--data DIR).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readIdx } from './idx.js';

export const CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
/** Mean and standard deviation of the training pixels scaled to [0, 1]. */
export const MEAN = 0.286;
export const STD = 0.353;

export const BUNDLED_DIR = fileURLToPath(new URL('../../../data/fashion-mnist/', import.meta.url));

export interface Split {
  /** Normalized images, [n, 1, 28, 28] row-major. */
  images: Float32Array;
  labels: Uint8Array;
  count: number;
}

function find(dir: string, base: string): string {
  for (const name of [`${base}.gz`, base, base.replace('-idx', '.idx')]) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  throw new Error(`Fashion-MNIST: ${base}(.gz) not found in ${dir}`);
}

export function loadSplit(dir: string, split: 'train' | 't10k', limit?: number): Split {
  const imgs = readIdx(find(dir, `${split}-images-idx3-ubyte`));
  const labs = readIdx(find(dir, `${split}-labels-idx1-ubyte`));
  if (imgs.shape.length !== 3 || imgs.shape[1] !== 28 || imgs.shape[2] !== 28) {
    throw new Error(`Fashion-MNIST: expected images [n, 28, 28], got [${imgs.shape.join(', ')}]`);
  }
  if (labs.shape.length !== 1 || labs.shape[0] !== imgs.shape[0]) {
    throw new Error(`Fashion-MNIST: ${imgs.shape[0]} images but labels of shape [${labs.shape.join(', ')}]`);
  }
  const count = Math.min(imgs.shape[0], limit ?? Infinity);
  const images = new Float32Array(count * 784);
  for (let i = 0; i < images.length; i++) images[i] = (imgs.data[i] / 255 - MEAN) / STD;
  for (let i = 0; i < count; i++) {
    if (labs.data[i] > 9) throw new Error(`Fashion-MNIST: label ${i} is ${labs.data[i]}, expected 0-9`);
  }
  return { images, labels: labs.data.slice(0, count), count };
}

export function loadFashionMnist(dir = BUNDLED_DIR, opts: { trainLimit?: number; testLimit?: number } = {}): { train: Split; test: Split } {
  return { train: loadSplit(dir, 'train', opts.trainLimit), test: loadSplit(dir, 't10k', opts.testLimit) };
}
