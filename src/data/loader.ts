// Mini-batches with seeded shuffling: the same seed and epoch give the same order.
import { Generator as Rng } from '../random.js';
import { tensor } from '../tensor/create.js';
import type { Tensor } from '../tensor/tensor.js';

export interface Batch {
  x: Tensor;
  labels: Uint8Array;
}

export interface DataLoaderOptions {
  batchSize: number;
  shuffle?: boolean;
  dropLast?: boolean;
  seed?: number;
}

export class DataLoader {
  readonly batchSize: number;
  private readonly itemSize: number;

  constructor(
    readonly inputs: Float32Array,
    readonly labels: Uint8Array,
    readonly itemShape: readonly number[],
    readonly options: DataLoaderOptions,
  ) {
    this.batchSize = options.batchSize;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) {
      throw new Error(
        `DataLoader: expected batchSize to be a positive integer, got ${this.batchSize}`,
      );
    }
    this.itemSize = itemShape.reduce((a, b) => a * b, 1);
    if (inputs.length !== labels.length * this.itemSize) {
      throw new Error(
        `DataLoader: ${labels.length} labels but ${inputs.length / this.itemSize} inputs of shape [${itemShape.join(', ')}]`,
      );
    }
  }

  get size(): number {
    return this.labels.length;
  }

  /** Number of batches per epoch. */
  get length(): number {
    const n = this.size / this.batchSize;
    return this.options.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** The sample order of an epoch (a Fisher–Yates shuffle seeded by seed and epoch). */
  order(epoch: number): Uint32Array {
    const idx = new Uint32Array(this.size);
    for (let i = 0; i < idx.length; i++) idx[i] = i;
    if (this.options.shuffle) {
      const g = new Rng(((this.options.seed ?? 0) * 1000003 + epoch) >>> 0);
      for (let i = idx.length - 1; i > 0; i--) {
        const j = g.int(i + 1);
        [idx[i], idx[j]] = [idx[j], idx[i]];
      }
    }
    return idx;
  }

  /** The b-th batch of an epoch (batches can be fetched lazily, e.g. after a resume). */
  batch(order: Uint32Array, b: number): Batch {
    const start = b * this.batchSize;
    const n = Math.min(this.batchSize, this.size - start);
    const xs = new Float32Array(n * this.itemSize);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const k = order[start + i];
      xs.set(this.inputs.subarray(k * this.itemSize, (k + 1) * this.itemSize), i * this.itemSize);
      labels[i] = this.labels[k];
    }
    return { x: tensor(xs, [n, ...this.itemShape]), labels };
  }

  *epoch(epoch = 0): Generator<Batch> {
    const order = this.order(epoch);
    for (let b = 0; b < this.length; b++) yield this.batch(order, b);
  }
}
