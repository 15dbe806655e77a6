import type { Module } from '../nn/module.js';
import { Adam, AdamW } from '../optim/adam.js';
import { paramGroupsNoDecayForNorm } from '../optim/groups.js';
import type { GroupBase, Optimizer } from '../optim/optimizer.js';
import { SGD } from '../optim/sgd.js';

export type OptimizerKind = 'sgd' | 'adam' | 'adamw';
export const OPTIMIZERS: OptimizerKind[] = ['sgd', 'adam', 'adamw'];

export function defaultLr(kind: OptimizerKind): number {
  return kind === 'sgd' ? 0.05 : 1e-3;
}

/** Builds the optimizer; normalization parameters and biases get no weight decay. */
export function makeOptimizer(
  kind: OptimizerKind,
  model: Module,
  lr: number,
  weightDecay: number,
): Optimizer<GroupBase> {
  const groups = paramGroupsNoDecayForNorm(model, weightDecay).filter((g) => g.params.length > 0);
  switch (kind) {
    case 'sgd':
      return new SGD(groups, {
        lr,
        momentum: 0.9,
        nesterov: true,
      }) as unknown as Optimizer<GroupBase>;
    case 'adam':
      return new Adam(groups, { lr }) as unknown as Optimizer<GroupBase>;
    case 'adamw':
      return new AdamW(groups, { lr }) as unknown as Optimizer<GroupBase>;
    default:
      throw new Error(`expected optimizer ${OPTIMIZERS.join(' | ')}, got ${String(kind)}`);
  }
}
