// Dropout before BatchNorm shifts the variance BatchNorm sees between training and eval
// (dropout scales it up in training only), so its running statistics do not fit at test
// time; dropout placed only after the last BatchNorm avoids the shift.
import * as nk from '../../index.js';
import { type Experiment, mean, pm, row, overlapNote } from '../experiment.js';
import { accuracy, disposeModel, inputStats, trainModel } from '../kit.js';
import { barChart } from '../plot.js';

const { nn } = nk;
const P = 0.5;
type Variant = 'dropout before BN' | 'dropout after the last BN';
const VARIANTS: Variant[] = ['dropout before BN', 'dropout after the last BN'];

interface Run {
  /** Per BatchNorm: eval-mode variance of its input / its running variance (channel mean). */
  ratio: Record<Variant, number[]>;
  accuracy: Record<Variant, number>;
}

function build(v: Variant): nk.nn.Module {
  const block = (i: number, o: number) => [
    new nn.Linear(i, o, { bias: false }),
    new nn.BatchNorm1d(o),
    new nn.ReLU(),
  ];
  return v === 'dropout before BN'
    ? new nn.Sequential(
        new nn.Flatten(),
        ...block(784, 256),
        new nn.Dropout(P),
        ...block(256, 256),
        new nn.Dropout(P),
        new nn.Linear(256, 10),
      )
    : new nn.Sequential(
        new nn.Flatten(),
        ...block(784, 256),
        ...block(256, 256),
        new nn.Dropout(P),
        new nn.Linear(256, 10),
      );
}

export const dropoutOrder: Experiment<Run> = {
  name: 'dropout-order',
  claim:
    'Dropout before a BatchNorm shifts the variance of its input between training and eval, so ' +
    'its running variance is wrong at test time; dropout only after the last BatchNorm avoids ' +
    'the shift and does at least as well.',
  source: 'Li, Chen, Hu & Yang 2019 (Understanding the disharmony between dropout and BN)',
  setup: (mode) =>
    `An MLP 784-256-256-10 with BatchNorm before each ReLU and dropout p = ${P}, either after ` +
    'each ReLU (so the second BatchNorm follows a dropout) or only before the classifier; SGD ' +
    `lr 0.05, momentum 0.9, batch 64, ${mode === 'full' ? 3000 : mode === 'quick' ? 600 : 20} ` +
    'steps; then, per BatchNorm, the exact eval-mode variance of its input over the training ' +
    'set against its running variance, and test accuracy.',
  rule:
    'Reproduced if, in the mean over seeds, the BatchNorm that follows a dropout sees an eval ' +
    'variance at least 10 % away from its running variance, every BatchNorm of the other ' +
    'variant within 5 %, and dropout-after-BN test accuracy is no more than 0.5 points lower. ' +
    'Mixed if the variance part holds and the accuracy part does not; not reproduced otherwise.',
  quickSeconds: 4,
  measure(ctx) {
    const steps = ctx.mode === 'full' ? 3000 : ctx.mode === 'quick' ? 600 : 20;
    const run: Run = { ratio: {} as Run['ratio'], accuracy: {} as Run['accuracy'] };
    for (const [i, v] of VARIANTS.entries()) {
      nk.manualSeed(ctx.seed);
      const model = build(v);
      trainModel(model, ctx.data.train, {
        lr: 0.05,
        steps,
        batchSize: 64,
        seed: ctx.seed,
        progress: (f) => ctx.progress((i + f) / VARIANTS.length),
      });
      const bns = model
        .namedModules()
        .filter(([, m]) => m instanceof nn.BatchNorm1d)
        .map(([, m]) => m as nk.nn.BatchNorm1d);
      run.ratio[v] = bns.map((bn) => {
        const st = inputStats(model, bn, ctx.data.train);
        const rv = bn.runningVar!.data;
        return mean(Array.from(st.variance, (s2, c) => s2 / rv[c]));
      });
      run.accuracy[v] = accuracy(model, ctx.data.test);
      disposeModel(model);
    }
    return run;
  },
  judge(runs) {
    const before = runs.map((r) => r.ratio['dropout before BN'][1]);
    const after = runs.flatMap((r) => r.ratio['dropout after the last BN']);
    const shift = Math.abs(1 - mean(before)) >= 0.1;
    const clean = after.every((q) => Math.abs(1 - q) <= 0.05);
    const acc = (v: Variant) => runs.map((r) => r.accuracy[v]);
    const accOk =
      100 * (mean(acc('dropout after the last BN')) - mean(acc('dropout before BN'))) >= -0.5;
    return {
      verdict: shift && clean ? (accOk ? 'reproduced' : 'mixed') : 'not reproduced',
      because:
        `The BatchNorm after a dropout sees ${pm(before)} of its running variance at eval; ` +
        `without dropout before them the ratios are ${pm(after)}. Test accuracy ` +
        `${pm(acc('dropout before BN'))} with dropout before BN, ${pm(acc('dropout after the last BN'))} ` +
        `with dropout after the last BN${overlapNote(acc('dropout before BN'), acc('dropout after the last BN'))}.`,
      summary: VARIANTS.flatMap((v) => [
        ...runs[0].ratio[v].map((_, j) =>
          row(
            `${v}: BatchNorm ${j + 1}, eval variance / running variance`,
            runs.map((r) => r.ratio[v][j]),
          ),
        ),
        row(`${v}: test accuracy`, acc(v)),
      ]),
    };
  },
  figures(runs) {
    return [
      barChart({
        title: 'Eval-time input variance over running variance, per BatchNorm',
        rows: VARIANTS.flatMap((v) =>
          runs[0].ratio[v].map((_, j) => ({
            category: `BatchNorm ${j + 1}`,
            y: mean(runs.map((r) => r.ratio[v][j])),
            series: v,
          })),
        ),
        y: 'variance ratio (1 = no shift)',
        category: 'layer',
      }),
    ];
  },
};
