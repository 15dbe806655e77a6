// What the experiments share, written with the public API only: the data for a mode, the
// README's CNN and a plain MLP with or without BatchNorm, a seeded training run that notices
// divergence, and accuracy in eval mode.
import * as nk from '../index.js';
import { BUNDLED_DIR, loadFashionMnist } from '../data/node.js';
import type { Split } from '../data/fashion-mnist.js';
import type { LabData, Mode } from './experiment.js';

const { nn } = nk;

/** Quick: the bundled subset with 2,000 test images; tiny: 512 / 256; full: all of `dir`. */
export function loadLabData(mode: Mode, dir?: string): LabData {
  const limits =
    mode === 'tiny'
      ? { trainLimit: 512, testLimit: 256 }
      : mode === 'quick'
        ? { trainLimit: 10000, testLimit: 2000 }
        : {};
  const source = dir ?? BUNDLED_DIR;
  return { ...loadFashionMnist(source, limits), source };
}

export type Norm = 'batch' | 'none';

/** Flatten, then (depth − 1) × [Linear, BatchNorm1d?, ReLU], then Linear to 10 classes. */
export function mlp(o: { depth: number; width: number; norm: Norm; bias?: boolean }): nk.nn.Module {
  const layers: nk.nn.Module[] = [new nn.Flatten()];
  let inF = 784;
  for (let i = 0; i < o.depth - 1; i++) {
    layers.push(new nn.Linear(inF, o.width, { bias: o.bias ?? o.norm === 'none' }));
    if (o.norm === 'batch') layers.push(new nn.BatchNorm1d(o.width));
    layers.push(new nn.ReLU());
    inF = o.width;
  }
  layers.push(new nn.Linear(inF, 10));
  return new nn.Sequential(...layers);
}

/** The README's CNN: 2 × [conv 3x3, BatchNorm?, ReLU, max-pool], Linear 128, Linear 10. */
export function cnn(o: { width: number; norm: Norm }): nk.nn.Module {
  const c = o.width;
  const bias = o.norm === 'none';
  const bn2 = (n: number) => (o.norm === 'batch' ? [new nn.BatchNorm2d(n)] : []);
  const bn1 = (n: number) => (o.norm === 'batch' ? [new nn.BatchNorm1d(n)] : []);
  return new nn.Sequential(
    new nn.Conv2d(1, c, 3, { padding: 1, bias }),
    ...bn2(c),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Conv2d(c, 2 * c, 3, { padding: 1, bias }),
    ...bn2(2 * c),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Flatten(),
    new nn.Linear(2 * c * 49, 128, { bias }),
    ...bn1(128),
    new nn.ReLU(),
    new nn.Linear(128, 10),
  );
}

export interface TrainOptions {
  lr: number;
  steps: number;
  batchSize: number;
  seed: number;
  momentum?: number;
  weightDecay?: number;
  /** Another optimizer than SGD with momentum (lr, momentum and weightDecay are then its own). */
  optimizer?: (model: nk.nn.Module) => { zeroGrad(): void; step(): void };
  /** Called after each step (inside no scope: tensors made here must be disposed). */
  onStep?: (step: number, loss: number) => void;
  progress?: (fraction: number) => void;
}

export interface TrainResult {
  /** Training loss per step (up to the step where it stopped). */
  losses: number[];
  /** Fraction of each step's batch predicted right (training mode, before the update). */
  accuracies: number[];
  /** The loss went non-finite, or ended above where it started. */
  diverged: boolean;
  steps: number;
}

/** SGD with momentum on shuffled mini-batches; stops early at a non-finite loss. */
export function trainModel(model: nk.nn.Module, train: Split, o: TrainOptions): TrainResult {
  const loader = new nk.data.DataLoader(train.images, train.labels, [1, 28, 28], {
    batchSize: o.batchSize,
    shuffle: true,
    dropLast: true,
    seed: o.seed,
  });
  const opt =
    o.optimizer?.(model) ??
    new nk.optim.SGD(model.parameters(), {
      lr: o.lr,
      momentum: o.momentum ?? 0.9,
      weightDecay: o.weightDecay ?? 0,
    });
  model.train();
  const losses: number[] = [];
  const accuracies: number[] = [];
  let epoch = 0;
  let order = loader.order(epoch);
  for (let step = 0, b = 0; step < o.steps; step++, b++) {
    if (b === loader.length) [b, order] = [0, loader.order(++epoch)];
    const loss = nk.tidy(() => {
      const { x, labels } = loader.batch(order, b);
      const logits = model.call(x);
      const l = nk.crossEntropy(logits, labels);
      accuracies.push(countCorrect(logits, labels) / labels.length);
      opt.zeroGrad();
      l.backward();
      opt.step();
      return l.item();
    });
    losses.push(loss);
    o.onStep?.(step, loss);
    o.progress?.((step + 1) / o.steps);
    if (!Number.isFinite(loss)) break;
  }
  const tail = losses.slice(-Math.max(1, Math.floor(losses.length / 10)));
  const end = tail.reduce((a, b) => a + b, 0) / tail.length;
  return {
    losses,
    accuracies,
    diverged: !Number.isFinite(end) || !(end < losses[0]),
    steps: losses.length,
  };
}

/** Accuracy over a split in eval mode (batches of 500), leaving the model's mode as it was. */
export function accuracy(
  model: nk.nn.Module,
  split: Split,
  batchSize = 500,
  /** The model's inputs for images [start, start + n) (default: those images as [n, 1, 28, 28]). */
  inputs?: (start: number, n: number) => nk.Tensor[],
): number {
  const was = model.training;
  model.eval();
  let correct = 0;
  try {
    nk.noGrad(() => {
      for (let start = 0; start < split.count; start += batchSize) {
        const n = Math.min(batchSize, split.count - start);
        nk.tidy(() => {
          const [x, ...rest] = inputs?.(start, n) ?? [
            nk.tensor(split.images.subarray(start * 784, (start + n) * 784), [n, 1, 28, 28]),
          ];
          correct += countCorrect(model.call(x, ...rest), split.labels.subarray(start, start + n));
        });
      }
    });
  } finally {
    model.train(was);
  }
  return correct / split.count;
}

/** The split with every pixel mapped by f (a shifted domain: contrast, brightness, inversion). */
export function mapImages(split: Split, f: (v: number) => number): Split {
  return { ...split, images: split.images.map(f) };
}

/**
 * The split's first n batches of 64 images, each [64, 1, 28, 28], their pixels mapped by f
 * when given (unlabeled data for BatchNorm's statistics).
 */
export function imageBatches(split: Split, n: number, f?: (v: number) => number): nk.Tensor[] {
  return Array.from({ length: n }, (_, b) => {
    const part = split.images.subarray(b * 64 * 784, (b + 1) * 64 * 784);
    return nk.tensor(f ? part.map(f) : part, [64, 1, 28, 28]);
  });
}

/** Predicted classes of a [N, 10] logits tensor. */
export const predictions = nk.argmaxRows;

/** The first n images of a split as one [n, 1, 28, 28] tensor (a fixed probe batch). */
export function probeBatch(split: Split, n = 512): nk.Tensor {
  const count = Math.min(n, split.count);
  return nk.tensor(split.images.subarray(0, count * 784), [count, 1, 28, 28]);
}

/** Runs x through the model in eval mode without gradients (for hooks that measure). */
export function probeForward(model: nk.nn.Module, x: nk.Tensor): void {
  const was = model.training;
  model.eval();
  try {
    nk.noGrad(() => nk.tidy(() => void model.call(x)));
  } finally {
    model.train(was);
  }
}

export function countCorrect(logits: nk.Tensor, labels: ArrayLike<number>): number {
  const p = predictions(logits);
  let n = 0;
  for (let i = 0; i < p.length; i++) if (p[i] === labels[i]) n++;
  return n;
}

/** A geometric grid from lo to hi (inclusive when it lands there) with a given ratio. */
export function geometric(lo: number, hi: number, ratio: number): number[] {
  const out: number[] = [];
  for (let v = lo; v <= hi * (1 + 1e-9); v *= ratio) out.push(+v.toPrecision(3));
  return out;
}

/** Frees a model's parameters, their gradients and its buffers. */
export function disposeModel(m: nk.nn.Module): void {
  for (const p of m.parameters()) p.grad = null;
  nk.dispose(m.parameters());
  nk.dispose(m.buffers());
}

/** max |a[i] − b[i]| (max |a[i]| without b). */
export function maxAbsDiff(a: ArrayLike<number>, b?: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - (b === undefined ? 0 : b[i])));
  return m;
}

/** The exact mean and unbiased variance of a layer's [N, C] input over a split, in eval mode (float64, Chan). */
export function inputStats(model: nk.nn.Module, layer: nk.nn.Module, split: Split) {
  let n = 0;
  let mu: Float64Array | null = null,
    m2: Float64Array | null = null;
  const h = layer.registerForwardPreHook((_m, inputs) => {
    const x = inputs[0] as nk.Tensor;
    const [N, C] = x.shape;
    const d = x.data;
    mu ??= new Float64Array(C);
    m2 ??= new Float64Array(C);
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let i = 0; i < N; i++) s += d[i * C + c];
      const mb = s / N;
      let q = 0;
      for (let i = 0; i < N; i++) q += (d[i * C + c] - mb) ** 2;
      const delta = mb - mu[c];
      mu[c] += (delta * N) / (n + N);
      m2[c] += q + (delta * delta * n * N) / (n + N);
    }
    n += N;
  });
  accuracy(model, split); // one pass in eval mode feeds the hook
  h.remove();
  return { mean: mu!, variance: m2!.map((v) => v / (n - 1)) };
}
