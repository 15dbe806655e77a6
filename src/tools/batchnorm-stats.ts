// BatchNorm's statistics as things to manage: re-estimate them after the weights changed
// (recalibrateBatchNorm, PyTorch's torch.optim.swa_utils.update_bn), estimate them on another
// domain's unlabeled data (adaptBatchNorm, AdaBN: Li et al. 2016), and keep or swap them
// (snapshotBatchNormStats / restoreBatchNormStats). A failed call leaves every statistic as
// it was.
import { noGrad } from '../autograd/grad-mode.js';
import { tidy } from '../memory/scope.js';
import { BatchNormBase } from '../nn/batchnorm.js';
import type { Module } from '../nn/module.js';
import { Tensor } from '../tensor/tensor.js';

/** What a batch may be: an input tensor, or an object with one in `x` (a DataLoader batch). */
export type BatchLike = Tensor | { x: Tensor };

export interface BatchNormStats {
  runningMean: Float32Array | Float64Array;
  runningVar: Float32Array | Float64Array;
  numBatchesTracked: number;
}

/** Every BatchNorm layer with running statistics, by dotted path. */
function layers(model: Module, fn: string): [string, BatchNormBase][] {
  const out = model
    .namedModules()
    .filter(([, m]) => m instanceof BatchNormBase && m.trackRunningStats)
    .map(([k, m]) => [k || '(root)', m as BatchNormBase] as [string, BatchNormBase]);
  if (out.length === 0) {
    throw new Error(`${fn}: ${model.describe()} has no BatchNorm layer with running statistics`);
  }
  return out;
}

/** Copies of every BatchNorm layer's running statistics, by the layer's dotted path. */
export function snapshotBatchNormStats(model: Module): Record<string, BatchNormStats> {
  return Object.fromEntries(
    layers(model, 'snapshotBatchNormStats').map(([k, bn]) => [
      k,
      {
        runningMean: bn.runningMean!.toArray(),
        runningVar: bn.runningVar!.toArray(),
        numBatchesTracked: bn.numBatchesTracked,
      },
    ]),
  );
}

/** Puts a snapshot back; every layer and size is checked before anything is written. */
export function restoreBatchNormStats(model: Module, snap: Record<string, BatchNormStats>): void {
  const own = layers(model, 'restoreBatchNormStats');
  const problems: string[] = [];
  for (const [k, bn] of own) {
    const s = snap[k];
    if (s === undefined) problems.push(`no statistics for ${k}`);
    else if (s.runningMean?.length !== bn.numFeatures || s.runningVar?.length !== bn.numFeatures)
      problems.push(
        `${k}: expected ${bn.numFeatures} channels, got ${s.runningMean?.length} and ${s.runningVar?.length}`,
      );
  }
  const unknown = Object.keys(snap).filter((k) => !own.some(([o]) => o === k));
  if (unknown.length > 0) problems.push(`unknown layers ${unknown.join(', ')}`);
  if (problems.length > 0) {
    throw new Error(`restoreBatchNormStats(${model.describe()}): ${problems.join('; ')}`);
  }
  for (const [k, bn] of own) {
    bn.runningMean!.data.set(snap[k].runningMean);
    bn.runningVar!.data.set(snap[k].runningVar);
    bn.setNumBatchesTracked(snap[k].numBatchesTracked);
  }
}

/**
 * Re-estimates every BatchNorm layer's running statistics from `batches` with the current
 * weights: statistics reset, then the cumulative average over the batches (each batch counts
 * once, as PyTorch's update_bn does), in training mode without gradients. Each layer's
 * momentum and the model's train/eval mode are as before afterwards. Returns the batches used.
 */
export function recalibrateBatchNorm(model: Module, batches: Iterable<BatchLike>): number {
  return reestimate(model, batches, 'recalibrateBatchNorm');
}

/**
 * AdaBN: the running statistics re-estimated on unlabeled batches of the target domain, so
 * the model normalizes target data by the target's statistics (Li et al. 2016). Keep each
 * domain's statistics with snapshotBatchNormStats and swap them with restoreBatchNormStats.
 */
export function adaptBatchNorm(model: Module, targetBatches: Iterable<BatchLike>): number {
  return reestimate(model, targetBatches, 'adaptBatchNorm');
}

function reestimate(model: Module, batches: Iterable<BatchLike>, fn: string): number {
  const bns = layers(model, fn);
  const inputs = [...batches].map((b, i) => {
    const x = b instanceof Tensor ? b : (b as { x?: unknown })?.x;
    if (!(x instanceof Tensor))
      throw new Error(`${fn}: batch ${i} is not a tensor or { x: tensor }`);
    return x;
  });
  if (inputs.length === 0) throw new Error(`${fn}: no batches given`);
  const before = snapshotBatchNormStats(model);
  const wasTraining = model.training;
  const frozen = bns.map(([, bn]) => bn.frozen);
  try {
    for (const [, bn] of bns) {
      bn.frozen = false;
      bn.resetRunningStats();
      bn.cumulativeAverage = true;
    }
    model.train();
    noGrad(() => {
      for (const x of inputs) tidy(() => void model.call(x));
    });
  } catch (e) {
    restoreBatchNormStats(model, before);
    throw new Error(`${fn}: ${(e as Error).message} (statistics left as they were)`);
  } finally {
    bns.forEach(([, bn], i) => {
      bn.cumulativeAverage = false;
      bn.frozen = frozen[i];
    });
    model.train(wasTraining);
  }
  return inputs.length;
}
