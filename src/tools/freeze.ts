// Frozen BatchNorm for fine-tuning on small data: the layers keep their running statistics
// and stay in eval mode even when model.train() is called (torchvision's FrozenBatchNorm2d;
// what Keras users get from `layer.trainable = false` since Keras 2.1.3), and their γ and β
// stop learning unless `affine: 'train'`.
import { BatchNormBase } from '../nn/batchnorm.js';
import type { Module } from '../nn/module.js';

export interface FreezeOptions {
  /** 'freeze' (the default): γ and β get no gradient; 'train': they keep learning. */
  affine?: 'freeze' | 'train';
}

function batchNorms(model: Module, fn: string): BatchNormBase[] {
  const bns = model.namedModules().flatMap(([, m]) => (m instanceof BatchNormBase ? [m] : []));
  if (bns.length === 0) throw new Error(`${fn}: ${model.describe()} has no BatchNorm layer`);
  return bns;
}

/** Freezes every BatchNorm layer of the model; returns how many. */
export function freezeBatchNorm(model: Module, opts: FreezeOptions = {}): number {
  const affine = opts.affine ?? 'freeze';
  if (affine !== 'freeze' && affine !== 'train') {
    throw new Error(`freezeBatchNorm: expected affine 'freeze' or 'train', got ${String(affine)}`);
  }
  const bns = batchNorms(model, 'freezeBatchNorm');
  for (const bn of bns) {
    bn.frozen = true;
    bn.train(false);
    for (const p of [bn.weight, bn.bias]) {
      if (p === null) continue;
      p.requiresGrad = affine === 'train';
      if (affine === 'freeze') p.grad = null;
    }
  }
  return bns.length;
}

/** Undoes freezeBatchNorm: the layers follow train()/eval() again and γ, β learn. */
export function unfreezeBatchNorm(model: Module): number {
  const bns = batchNorms(model, 'unfreezeBatchNorm');
  for (const bn of bns) {
    bn.frozen = false;
    for (const p of [bn.weight, bn.bias]) if (p !== null) p.requiresGrad = true;
  }
  model.train(model.training);
  return bns.length;
}
