// Two weight-decay pitfalls around BatchNorm: decaying γ and β fights the normalization (so
// leave norm parameters and biases out of the decay), and L2 added to Adam's gradient is not
// weight decay (AdamW decouples it).
import * as nk from '../../index.js';
import { type Experiment, mean, pm, row, overlapNote } from '../experiment.js';
import { accuracy, disposeModel, trainModel } from '../kit.js';
import { barChart } from '../plot.js';

const { nn, optim } = nk;
const VARIANTS = [
  'SGD, decay on everything',
  'SGD, no decay on norm parameters and biases',
  'Adam + L2',
  'AdamW',
] as const;
type Variant = (typeof VARIANTS)[number];

interface Run {
  accuracy: Record<Variant, number>;
  /** Mean |γ| over the BatchNorm layers and ‖W‖ of the first Linear at the end. */
  gamma: Record<Variant, number>;
  weightNorm: Record<Variant, number>;
}

function build(): nk.nn.Module {
  return new nn.Sequential(
    new nn.Flatten(),
    new nn.Linear(784, 256, { bias: false }),
    new nn.BatchNorm1d(256),
    new nn.ReLU(),
    new nn.Linear(256, 128, { bias: false }),
    new nn.BatchNorm1d(128),
    new nn.ReLU(),
    new nn.Linear(128, 10),
  );
}

function optimizer(v: Variant, model: nk.nn.Module) {
  switch (v) {
    case 'SGD, decay on everything':
      return new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
    case 'SGD, no decay on norm parameters and biases':
      return new optim.SGD(optim.paramGroupsNoDecayForNorm(model, 5e-4), {
        lr: 0.05,
        momentum: 0.9,
      });
    case 'Adam + L2':
      return new optim.Adam(model.parameters(), { lr: 1e-3, weightDecay: 5e-4 });
    case 'AdamW':
      return new optim.AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.5 });
  }
}

export const weightDecay: Experiment<Run> = {
  name: 'weight-decay',
  claim:
    'Weight decay on BatchNorm’s γ and β does not help (leave norm parameters and biases out ' +
    'of it), and decoupled weight decay (AdamW) does better than L2 added to Adam’s gradient.',
  source:
    'Loshchilov & Hutter 2019 (AdamW); Goyal et al. 2017 and He et al. 2019 (no decay on γ, β)',
  setup: (mode) =>
    'An MLP 784-256-128-10 with BatchNorm; SGD (lr 0.05, momentum 0.9, decay 5e-4) on every ' +
    'parameter or on weights only (paramGroupsNoDecayForNorm); Adam (lr 1e-3) with L2 5e-4 ' +
    'against AdamW (lr 1e-3, decoupled decay 0.5, i.e. 5e-4 of the weights a step); batch 64, ' +
    `${mode === 'full' ? 3000 : mode === 'quick' ? 600 : 20} steps; test accuracy, mean |γ|, ‖W‖ of the first layer.`,
  rule:
    'Reproduced if, in the mean over seeds, excluding norm parameters and biases from the decay ' +
    'costs at most 0.3 points of test accuracy, and AdamW is at least 0.3 points above Adam + L2. ' +
    'Mixed if one of the two holds; not reproduced if neither.',
  quickSeconds: 6,
  measure(ctx) {
    const steps = ctx.mode === 'full' ? 3000 : ctx.mode === 'quick' ? 600 : 20;
    const run = { accuracy: {}, gamma: {}, weightNorm: {} } as Run;
    for (const [i, v] of VARIANTS.entries()) {
      nk.manualSeed(ctx.seed);
      const model = build();
      trainModel(model, ctx.data.train, {
        lr: 0,
        steps,
        batchSize: 64,
        seed: ctx.seed,
        optimizer: (m) => optimizer(v, m),
        progress: (f) => ctx.progress((i + f) / VARIANTS.length),
      });
      run.accuracy[v] = accuracy(model, ctx.data.test);
      const gammas = model
        .namedModules()
        .filter(([, m]) => m instanceof nn.BatchNorm1d)
        .flatMap(([, m]) => Array.from((m as nk.nn.BatchNorm1d).weight!.toArray(), Math.abs));
      run.gamma[v] = mean(gammas);
      let s = 0;
      for (const w of model.parameters()[0].toArray()) s += w * w;
      run.weightNorm[v] = Math.sqrt(s);
      disposeModel(model);
    }
    return run;
  },
  judge(runs) {
    const acc = (v: Variant) => runs.map((r) => r.accuracy[v]);
    const d1 =
      100 *
      (mean(acc('SGD, no decay on norm parameters and biases')) -
        mean(acc('SGD, decay on everything')));
    const d2 = 100 * (mean(acc('AdamW')) - mean(acc('Adam + L2')));
    const first = d1 >= -0.3;
    const second = d2 >= 0.3;
    return {
      verdict: first && second ? 'reproduced' : first || second ? 'mixed' : 'not reproduced',
      because:
        `Leaving norm parameters and biases out of SGD's decay: ${d1 >= 0 ? '+' : ''}${d1.toFixed(2)} ` +
        `points (${pm(acc('SGD, no decay on norm parameters and biases'))} against ${pm(acc('SGD, decay on everything'))})${overlapNote(acc('SGD, no decay on norm parameters and biases'), acc('SGD, decay on everything'))}. ` +
        `AdamW against Adam + L2: ${d2 >= 0 ? '+' : ''}${d2.toFixed(2)} points (${pm(acc('AdamW'))} against ${pm(acc('Adam + L2'))})${overlapNote(acc('AdamW'), acc('Adam + L2'))}.`,
      summary: VARIANTS.flatMap((v) => [
        row(`${v}: test accuracy`, acc(v)),
        row(
          `${v}: mean |γ|`,
          runs.map((r) => r.gamma[v]),
        ),
        row(
          `${v}: ‖W‖ of the first layer`,
          runs.map((r) => r.weightNorm[v]),
        ),
      ]),
    };
  },
  figures(runs) {
    return [
      barChart({
        title: 'Test accuracy by weight-decay scheme',
        rows: runs.flatMap((r, s) =>
          VARIANTS.map((v) => ({ category: v, y: r.accuracy[v], series: `seed ${s}` })),
        ),
        y: 'test accuracy (fraction)',
        category: 'optimizer and decay',
      }),
    ];
  },
};
