// Reading IDX files and the Fashion-MNIST sets from disk (Node only: 'normkit/node').
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { type Split, toSplit } from './fashion-mnist.js';
import { type IdxArray, type IdxExpectation, parseIdx } from './idx.js';

export * from './index.js';

/** Reads an IDX file, gzipped or not, optionally checking the shape its header declares. */
export function readIdx(path: string, expect?: IdxExpectation): IdxArray {
  return parseIdx(readFileSync(path), path, gunzipSync, expect);
}

/** The bundled subset: 10,000 training images and the full 10,000-image test set. */
export const BUNDLED_DIR = fileURLToPath(new URL('../../../data/fashion-mnist/', import.meta.url));

function find(dir: string, base: string): string {
  for (const name of [`${base}.gz`, base, base.replace('-idx', '.idx')]) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  throw new Error(`Fashion-MNIST: ${base}(.gz) not found in ${dir}`);
}

export function loadSplit(dir: string, split: 'train' | 't10k', limit?: number): Split {
  const images = readIdx(find(dir, `${split}-images-idx3-ubyte`), { dims: [null, 28, 28] });
  return toSplit(
    images,
    readIdx(find(dir, `${split}-labels-idx1-ubyte`), { dims: [images.shape[0]] }),
    limit,
  );
}

/** Fashion-MNIST from a directory of IDX files (default: the bundled subset). */
export function loadFashionMnist(
  dir = BUNDLED_DIR,
  opts: { trainLimit?: number; testLimit?: number } = {},
): { train: Split; test: Split } {
  return {
    train: loadSplit(dir, 'train', opts.trainLimit),
    test: loadSplit(dir, 't10k', opts.testLimit),
  };
}
