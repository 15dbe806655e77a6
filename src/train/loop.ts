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

/** Accuracy and mean loss over a split, in eval mode, without recording gradients. */
export function evaluate(
  model: Module,
  split: Split,
  batchSize = 500,
): { loss: number; accuracy: number } {
  const wasTraining = model.training;
  model.eval();
  let lossSum = 0,
    correct = 0;
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
          for (let i = 0; i < n; i++) if (pred[i] === labels[i]) correct++;
        });
      }
    });
  } finally {
    model.train(wasTraining);
  }
  return { loss: lossSum / split.count, accuracy: correct / split.count };
}

export interface EpochHooks {
  onStep?: (step: number, total: number, r: StepResult) => void;
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
      return trainStep(model, opt, x, labels);
    });
    total.loss += r.loss * r.count;
    total.correct += r.correct;
    total.count += r.count;
    hooks.onStep?.(b + 1, loader.length, r);
  }
  total.loss /= Math.max(1, total.count);
  return total;
}
