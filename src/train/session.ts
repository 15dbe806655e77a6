// Saving and restoring a training run: model state, optimizer state, RNG state, history.
import { loadCheckpoint, saveCheckpoint, type StoredArray } from '../io/checkpoint.js';
import { tensor } from '../tensor/create.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Module } from '../nn/module.js';
import type { GroupBase, Optimizer, OptimizerState } from '../optim/optimizer.js';
import { rng } from '../random.js';
import type { ModelConfig } from './models.js';

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  testLoss: number;
  testAccuracy: number;
  /** On the images held out of training (--validation), when there are any. */
  validationLoss?: number;
  validationAccuracy?: number;
  seconds: number;
}

export interface RunMeta {
  config: ModelConfig & Record<string, unknown>;
  epochsDone: number;
  history: EpochRecord[];
}

export function saveRun(
  path: string,
  model: Module,
  opt: Optimizer<GroupBase> | null,
  meta: RunMeta,
): void {
  const arrays: Record<string, StoredArray> = {};
  for (const [k, t] of Object.entries(model.stateDict()))
    arrays[`model/${k}`] = { shape: [...t.shape], dtype: t.dtype, data: t.data };
  let optimizer: unknown = null;
  if (opt !== null) {
    const sd = opt.stateDict();
    const steps: Record<string, number> = {};
    for (const [i, s] of Object.entries(sd.state)) {
      steps[i] = s.step;
      for (const [name, b] of Object.entries(s.buffers)) {
        arrays[`optim/${i}/${name}`] = {
          shape: b.shape,
          dtype: 'float32',
          data: Float32Array.from(b.data),
        };
      }
    }
    optimizer = { paramGroups: sd.paramGroups, steps };
  }
  saveCheckpoint(path, arrays, { ...meta, optimizer, rng: rng.state() });
}

export function readRun(path: string): {
  meta: RunMeta & { optimizer: any; rng: number[] };
  arrays: Record<string, StoredArray>;
} {
  const { meta, arrays } = loadCheckpoint(path);
  if (!meta || typeof meta !== 'object' || !meta.config)
    throw new Error(`${path}: checkpoint has no run metadata`);
  return { meta, arrays };
}

/** Loads model (strict) and, when given, optimizer and RNG state. Checked before applied. */
export function restoreRun(
  run: ReturnType<typeof readRun>,
  model: Module,
  opt: Optimizer<GroupBase> | null,
): void {
  const sd: Record<string, Tensor> = {};
  for (const [k, a] of Object.entries(run.arrays)) {
    if (k.startsWith('model/')) sd[k.slice(6)] = tensor(a.data, a.shape, { dtype: a.dtype });
  }
  const optState: OptimizerState | null =
    opt && run.meta.optimizer
      ? {
          paramGroups: run.meta.optimizer.paramGroups,
          state: Object.fromEntries(
            Object.entries(run.meta.optimizer.steps as Record<string, number>).map(([i, step]) => {
              const buffers: Record<string, { shape: number[]; data: ArrayLike<number> }> = {};
              for (const [k, a] of Object.entries(run.arrays)) {
                const prefix = `optim/${i}/`;
                if (k.startsWith(prefix))
                  buffers[k.slice(prefix.length)] = { shape: a.shape, data: a.data };
              }
              return [i, { step, buffers }];
            }),
          ),
        }
      : null;
  // Both checked before either changes: a bad optimizer state must not leave a loaded model.
  if (opt && optState) opt.checkStateDict(optState);
  model.loadStateDict(sd);
  if (opt && optState) opt.loadStateDict(optState);
  if (Array.isArray(run.meta.rng)) rng.setState(run.meta.rng.map((v) => (v === null ? NaN : v)));
  for (const t of Object.values(sd)) t.dispose();
}
