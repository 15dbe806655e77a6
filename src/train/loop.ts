// One training step, one epoch and evaluation, each step inside tidy() so memory stays flat.
import type { DataLoader } from '../data/loader.js';
import type { Split } from '../data/fashion-mnist.js';
import { tidy } from '../memory/scope.js';
import { noGrad } from '../autograd/grad-mode.js';
import { tensor } from '../tensor/create.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import type { GroupBase, Optimizer } from '../optim/optimizer.js';
import { crossEntropy } from '../ops/loss.js';
import { argmaxRows } from './metrics.js';

export interface StepResult {
  loss: number;
  correct: number;
  count: number;
}

export function trainStep(
  model: Module,
  opt: Optimizer<GroupBase>,
  x: Tensor,
  labels: Uint8Array,
  labelSmoothing = 0,
): StepResult {
  return tidy(() => {
    const logits = model.call(x);
    const loss = crossEntropy(logits, labels, { labelSmoothing });
    opt.zeroGrad();
    loss.backward();
    opt.step();
    const pred = argmaxRows(logits);
    let correct = 0;
    for (let i = 0; i < labels.length; i++) if (pred[i] === labels[i]) correct++;
    return { loss: loss.item(), correct, count: labels.length };
  });
}

export interface EvaluateOptions {
  /** Samples per forward call (default 500). */
  batchSize?: number;
  /**
   * Evaluate in training mode: batch statistics, and the running statistics move, as a loop
   * that never calls eval() does (the playground's "forgot eval()").
   */
  trainMode?: boolean;
  /** Keep the predicted classes of the first this many samples (default 0). */
  keepPredictions?: number;
}

/** Accuracy and mean loss over a split, in eval mode, without recording gradients. */
export function evaluate(
  model: Module,
  split: Split,
  opts: EvaluateOptions = {},
): { loss: number; accuracy: number; predictions: number[] } {
  const batchSize = opts.batchSize ?? 500,
    keep = opts.keepPredictions ?? 0;
  const wasTraining = model.training;
  model.train(opts.trainMode ?? false);
  let lossSum = 0,
    correct = 0;
  const predictions: number[] = [];
  try {
    noGrad(() => {
      for (let start = 0; start < split.count; start += batchSize) {
        const n = Math.min(batchSize, split.count - start);
        tidy(() => {
          const x = tensor(split.images.subarray(start * 784, (start + n) * 784), [n, 1, 28, 28]);
          const labels = split.labels.subarray(start, start + n);
          const logits = model.call(x);
          lossSum += crossEntropy(logits, labels, { reduction: 'sum' }).item();
          const pred = argmaxRows(logits);
          for (let i = 0; i < n; i++) {
            if (pred[i] === labels[i]) correct++;
            if (start + i < keep) predictions.push(pred[i]);
          }
        });
      }
    });
  } finally {
    model.train(wasTraining);
  }
  return { loss: lossSum / split.count, accuracy: correct / split.count, predictions };
}

export interface EpochHooks {
  onStep?: (step: number, total: number, r: StepResult) => void;
  /** Label smoothing of the training loss (crossEntropy's labelSmoothing; default 0). */
  labelSmoothing?: number;
}

export function trainEpoch(
  model: Module,
  opt: Optimizer<GroupBase>,
  loader: DataLoader,
  epoch: number,
  hooks: EpochHooks = {},
): StepResult {
  model.train();
  const order = loader.order(epoch);
  const total: StepResult = { loss: 0, correct: 0, count: 0 };
  for (let b = 0; b < loader.length; b++) {
    const r = tidy(() => {
      const { x, labels } = loader.batch(order, b, epoch);
      return trainStep(model, opt, x, labels, hooks.labelSmoothing);
    });
    total.loss += r.loss * r.count;
    total.correct += r.correct;
    total.count += r.count;
    hooks.onStep?.(b + 1, loader.length, r);
  }
  total.loss /= Math.max(1, total.count);
  return total;
}
