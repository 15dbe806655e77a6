// The BatchNorm doctor: the classic mistakes around batch normalization, found in a model
// (and its optimizer and training set-up when given), each with its severity, the layer's
// path, the reason in one line, and the fix. It changes nothing in the model.
import { tidy } from '../memory/scope.js';
import { noGrad } from '../autograd/grad-mode.js';
import { BatchNormBase } from '../nn/batchnorm.js';
import { Conv2d, Linear } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { saveTrainingModes } from '../nn/training-modes.js';
import { Dropout, ReLU, Sequential, LeakyReLU, GELU } from '../nn/simple.js';
import { Adam } from '../optim/adam.js';
import type { Tensor } from '../tensor/tensor.js';
import { mean, variance } from '../ops/reduce.js';

export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  severity: Severity;
  /** A short name of the check (stable, for filtering). */
  check: string;
  /** Dotted path of the layer ('' for the model or its optimizer). */
  path: string;
  reason: string;
  fix: string;
}

/** The optimizer's parameter groups, as every normkit optimizer has them. */
interface OptimizerLike {
  paramGroups: { params: Tensor[]; weightDecay?: number }[];
}

export interface DoctorOptions {
  optimizer?: OptimizerLike;
  /** A batch like the training data: measures dropout's variance shift. */
  sampleInput?: Tensor;
  /** The training batch size (default: sampleInput's first dimension). */
  batchSize?: number;
  /** 'discriminator' for a GAN's discriminator, where BatchNorm is a known trap. */
  role?: string;
}

const isBN = (m: Module): m is BatchNormBase => m instanceof BatchNormBase;
const isActivation = (m: Module) =>
  m instanceof ReLU || m instanceof LeakyReLU || m instanceof GELU;
const join = (a: string, b: string) => (a ? `${a}.${b}` : b);

/** The layers of every Sequential in the model, with their paths, in order. */
function sequences(model: Module): { path: string; layers: Module[] }[] {
  return model
    .namedModules()
    .filter(([, m]) => m instanceof Sequential)
    .map(([path, m]) => ({ path, layers: (m as Sequential).layers }));
}

/** Variance of BatchNorm `bn`'s input (mean over channels), with only `drop` in training mode. */
function inputVariance(model: Module, bn: BatchNormBase, drop: Module | null, x: Tensor): number {
  let v = 0;
  const h = bn.registerForwardPreHook((_m, inputs) => {
    // Per-channel variance by the shared statistics kernel, averaged over the channels.
    const t = inputs[0] as Tensor;
    const axis = bn.settings.channelAxis === -1 ? t.rank - 1 : 1;
    const dims = t.shape.map((_, i) => i).filter((i) => i !== axis);
    v = mean(variance(t, dims, { correction: 0 })).item();
  });
  const restore = saveTrainingModes(model);
  try {
    model.eval();
    if (drop) drop.training = true;
    noGrad(() => tidy(() => void model.call(x)));
  } finally {
    restore();
    h.remove();
  }
  return v;
}

export function doctor(model: Module, opts: DoctorOptions = {}): Finding[] {
  const findings: Finding[] = [];
  const add = (severity: Severity, check: string, path: string, reason: string, fix: string) =>
    findings.push({ severity, check, path, reason, fix });
  const bns = model.namedModules().filter(([, m]) => isBN(m)) as [string, BatchNormBase][];

  for (const { path, layers } of sequences(model)) {
    layers.forEach((m, i) => {
      const next = layers[i + 1];
      const p = join(path, String(i));
      if ((m instanceof Linear || m instanceof Conv2d) && m.bias !== null && next && isBN(next)) {
        add(
          'warning',
          'bias-before-bn',
          p,
          `${m.describe()} has a bias, and the ${next.describe()} after it subtracts it away with the batch mean: a parameter with no effect and no gradient`,
          `create it with { bias: false }`,
        );
      }
      if (m instanceof Dropout && m.p > 0) {
        const target = layers.slice(i + 1).find((l) => isBN(l) || isActivation(l));
        if (target && isBN(target)) {
          let measured = '';
          if (opts.sampleInput) {
            const withDrop = inputVariance(model, target, m, opts.sampleInput);
            const without = inputVariance(model, target, null, opts.sampleInput);
            measured = ` (measured on the sample: its input variance is ${(withDrop / without).toFixed(2)}x as large in training as in eval)`;
          }
          add(
            'warning',
            'dropout-before-bn',
            p,
            `${m.describe()} feeds ${target.describe()}: dropout scales the variance BatchNorm sees in training only, so its running variance is wrong at test time${measured}`,
            'put dropout after the last BatchNorm (before the classifier), or drop it: BatchNorm regularizes already',
          );
        }
      }
      if (isBN(m) && i > 0 && isActivation(layers[i - 1])) {
        add(
          'info',
          'bn-after-activation',
          p,
          `${m.describe()} comes after ${layers[i - 1].describe()}; the paper normalizes the pre-activation (Wx) instead`,
          'both placements train; before the activation lets you drop the bias of the layer before',
        );
      }
    });
  }

  if (opts.optimizer) {
    const norms = new Set<Tensor>();
    for (const [, m] of model.namedModules()) {
      if ((m as { isNormalization?: boolean }).isNormalization)
        for (const t of m.parameters()) norms.add(t);
    }
    const biases = new Set(
      model
        .namedParameters()
        .filter(([k]) => k.endsWith('bias'))
        .map(([, t]) => t),
    );
    const decayed = opts.optimizer.paramGroups.filter((g) => (g.weightDecay ?? 0) > 0);
    const onNorm = decayed.some((g) => g.params.some((t) => norms.has(t)));
    const onBias = decayed.some((g) => g.params.some((t) => biases.has(t)));
    if (onNorm || onBias) {
      add(
        'warning',
        'weight-decay-on-norm',
        '',
        `the optimizer decays ${[onNorm ? 'normalization weights (γ, β)' : '', onBias ? 'biases' : ''].filter(Boolean).join(' and ')}: decaying γ fights the normalization and helps nothing`,
        'build the groups with optim.paramGroupsNoDecayForNorm(model, weightDecay)',
      );
    }
    if (opts.optimizer instanceof Adam && decayed.length > 0 && bns.length > 0) {
      add(
        'warning',
        'adam-l2',
        '',
        'Adam with weightDecay adds L2 to the gradient, which Adam rescales per parameter; on the scale-invariant weights before BatchNorm it is not weight decay',
        'use optim.AdamW (decoupled weight decay)',
      );
    }
  }

  const batch = opts.batchSize ?? opts.sampleInput?.shape[0];
  if (batch !== undefined && bns.length > 0) {
    if (batch < 2) {
      add(
        'error',
        'batch-too-small',
        bns[0][0],
        `BatchNorm cannot train on batches of ${batch}: one value per channel has no variance`,
        'use a batch size of 16 or more, or GroupNorm / LayerNorm',
      );
    } else if (batch < 16) {
      add(
        'warning',
        'small-batch',
        bns[0][0],
        `training batches of ${batch}: BatchNorm's batch statistics are noisy and unlike the running ones (see the lab's small-batch experiment)`,
        'use GroupNorm or LayerNorm, Batch Renorm (nn.BatchRenorm2d), or larger batches',
      );
    }
  }

  for (const [path, m] of model.namedModules()) {
    if ((m as { isRecurrent?: boolean }).isRecurrent) {
      for (const [sub, bn] of m.namedModules(path)) {
        if (isBN(bn))
          add(
            'warning',
            'bn-in-recurrence',
            sub,
            `${bn.describe()} inside the recurrent ${m.describe()}: its statistics mix time steps whose distributions differ`,
            'use LayerNorm in recurrent paths, or BatchNorm per time step (Cooijmans et al. 2017)',
          );
      }
    }
  }
  if (opts.role === 'discriminator') {
    for (const [path, bn] of bns) {
      add(
        'warning',
        'bn-in-discriminator',
        path,
        `${bn.describe()} in a GAN discriminator: batch statistics let real and fake batches leak into each other`,
        'use spectral normalization, LayerNorm or no normalization in the discriminator',
      );
    }
  }

  for (const [path, bn] of bns) {
    const inEval = !bn.training || bn.frozen;
    if (inEval && bn.trackRunningStats && bn.numBatchesTracked === 0) {
      add(
        'error',
        'stats-never-updated',
        path,
        `${bn.describe()} is in eval mode with running statistics that were never updated: it normalizes by mean 0 and variance 1`,
        'train it first, or estimate the statistics with recalibrateBatchNorm(model, batches)',
      );
    }
    if (!bn.trackRunningStats && !bn.training) {
      add(
        'info',
        'no-running-stats',
        path,
        `${bn.describe()} has no running statistics: in eval mode it still uses the batch's, so a prediction depends on the batch`,
        'create it with trackRunningStats: true if single-sample predictions must be stable',
      );
    }
    const m = bn.momentum;
    if (m !== null && bn.settings.momentumWeighs === 'new' && m > 0.5) {
      add(
        'warning',
        'momentum-convention',
        path,
        `${bn.describe()}: momentum ${m} weighs the new batch ${Math.round(100 * m)} %, the Keras/ONNX reading of ${+(1 - m).toFixed(4)}`,
        `use momentum ${+(1 - m).toFixed(4)} (PyTorch style), or convention: 'keras'`,
      );
    }
    if (m !== null && bn.settings.momentumWeighs === 'old' && m < 0.5) {
      add(
        'warning',
        'momentum-convention',
        path,
        `${bn.describe()}: momentum ${m} keeps only ${Math.round(100 * m)} % of the running value, the PyTorch reading of ${+(1 - m).toFixed(4)}`,
        `use momentum ${+(1 - m).toFixed(4)} in this convention`,
      );
    }
  }
  return findings;
}
