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
  /**
   * Random augmentation of image items [C, H, W], drawn anew for every batch (seeded by seed,
   * epoch and batch, so a resumed run draws the same): `crop` pads by that many pixels with
   * `fill` (default 0) and takes a random H×W window (torchvision's RandomCrop(size,
   * padding)); `flip` mirrors left–right with probability ½ (RandomHorizontalFlip).
   */
  augment?: { crop?: number; flip?: boolean; fill?: number };
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
    const aug = options.augment;
    if (aug !== undefined) {
      if (itemShape.length !== 3) {
        throw new Error(
          `DataLoader: augment expects image items [C, H, W], got item shape [${itemShape.join(', ')}]`,
        );
      }
      const crop = aug.crop ?? 0;
      if (!Number.isInteger(crop) || crop < 0 || crop >= Math.min(itemShape[1], itemShape[2])) {
        throw new Error(
          `DataLoader: expected augment.crop to be an integer from 0 to ${Math.min(itemShape[1], itemShape[2]) - 1}, got ${aug.crop}`,
        );
      }
    }
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

  /**
   * The b-th batch of an epoch (batches can be fetched lazily, e.g. after a resume); `epoch`
   * seeds the augmentation, when there is one.
   */
  batch(order: Uint32Array, b: number, epoch?: number): Batch {
    const aug = this.options.augment;
    if (aug !== undefined && epoch === undefined) {
      // Without it every epoch would draw the same crops and flips for batch b.
      throw new Error(
        'DataLoader.batch: with augment, pass the epoch (batch(order, b, epoch)) so that each ' +
          'epoch draws new crops and flips',
      );
    }
    const start = b * this.batchSize;
    const n = Math.min(this.batchSize, this.size - start);
    const xs = new Float32Array(n * this.itemSize);
    const labels = new Uint8Array(n);
    // A 32-bit seed per (seed, epoch, batch), kept non-negative (>>> 0 after the xor).
    const g =
      aug &&
      new Rng(
        (((((this.options.seed ?? 0) * 1000003 + epoch!) * 10007 + b) >>> 0) ^ 0x5bd1e995) >>> 0,
      );
    for (let i = 0; i < n; i++) {
      const k = order[start + i];
      const item = this.inputs.subarray(k * this.itemSize, (k + 1) * this.itemSize);
      if (g)
        augmentInto(
          item,
          xs.subarray(i * this.itemSize, (i + 1) * this.itemSize),
          this.itemShape,
          aug!,
          g,
        );
      else xs.set(item, i * this.itemSize);
      labels[i] = this.labels[k];
    }
    return { x: tensor(xs, [n, ...this.itemShape]), labels };
  }

  *epoch(epoch = 0): Generator<Batch> {
    const order = this.order(epoch);
    for (let b = 0; b < this.length; b++) yield this.batch(order, b, epoch);
  }
}

/** One item [C, H, W] shifted by a random crop of the padded image, maybe mirrored, into out. */
function augmentInto(
  item: Float32Array,
  out: Float32Array,
  [C, H, W]: readonly number[],
  aug: NonNullable<DataLoaderOptions['augment']>,
  g: Rng,
): void {
  const p = aug.crop ?? 0;
  // The window's top-left corner in the padded image, as an offset from the original's.
  const dy = p > 0 ? g.int(2 * p + 1) - p : 0,
    dx = p > 0 ? g.int(2 * p + 1) - p : 0;
  const flip = aug.flip === true && g.uniform() < 0.5;
  const fill = aug.fill ?? 0;
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < H; y++) {
      const sy = y + dy;
      for (let x = 0; x < W; x++) {
        const sx = (flip ? W - 1 - x : x) + dx;
        out[(c * H + y) * W + x] =
          sy >= 0 && sy < H && sx >= 0 && sx < W ? item[(c * H + sy) * W + sx] : fill;
      }
    }
  }
}
