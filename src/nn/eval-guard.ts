// The usual shape of an evaluation loop that forgot model.eval(): a BatchNorm layer running
// in training mode inside noGrad(). It normalizes by each test batch's statistics and moves
// its running statistics with test data; the first time it happens, normkit says so.
import { isNode } from '../platform.js';
import type { Module } from './module.js';

let enabled = true;
let warned = false;

/** Turns the warning on or off (on by default); returns the previous setting. */
export function setBatchNormEvalGuard(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

/** Called by a BatchNorm layer that runs in training mode with gradients off. */
export function noteTrainingUnderNoGrad(layer: Module): void {
  if (!enabled || warned) return;
  warned = true;
  const where = layer.path ? ` at '${layer.path}'` : '';
  const msg =
    `normkit: ${layer.describe()}${where} ran in training mode inside noGrad(): it normalized ` +
    `by that batch's statistics and moved its running statistics with it. To evaluate, call ` +
    `model.eval() first (and model.train() before training again). Silence this with ` +
    `setBatchNormEvalGuard(false).`;
  if (isNode) process.emitWarning(msg, { code: 'NORMKIT_BATCHNORM_TRAINING_IN_NOGRAD' });
  else console.warn(msg);
}
