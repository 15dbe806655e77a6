// Saving every module's training flag and putting it back exactly: what a tool that runs a
// model in eval mode for a moment needs (model.train(flag) would set one flag for all, losing
// a frozen BatchNorm's or a dropout's own).
import type { Module } from './module.js';

/** Records the training flag of `model` and every submodule; the result restores them. */
export function saveTrainingModes(model: Module): () => void {
  const saved = model.namedModules().map(([, m]) => [m, m.training] as const);
  return () => {
    for (const [m, t] of saved) m.training = t;
  };
}
