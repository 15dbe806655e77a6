// BatchNorm degrades at small batch sizes, where its batch statistics are noisy and unlike the
// running ones; norms that do not depend on the batch (GroupNorm, LayerNorm) and Batch Renorm
// hold up.
import * as nk from '../../index.js';
import { type Experiment, type Mode, band, mean, overlapNote, pm, row } from '../experiment.js';
import { accuracy, disposeModel, trainModel } from '../kit.js';
import { lineChart } from '../plot.js';

const { nn } = nk;
const NORMS = ['BatchNorm', 'GroupNorm', 'LayerNorm', 'BatchRenorm', 'ghost BN (4)'] as const;
type NormName = (typeof NORMS)[number];

interface Run {
  batchSizes: number[];
  /** test[norm][i] at batchSizes[i]; trainAcc: training-mode accuracy over the last 10 % of steps. */
  test: Record<NormName, number[]>;
  trainAcc: Record<NormName, number[]>;
}

const plan = (mode: Mode) =>
  mode === 'tiny'
    ? { batchSizes: [2, 8], images: 64 }
    : { batchSizes: [2, 4, 8, 16, 32, 64], images: mode === 'full' ? 10000 : 4000 };

function norm(name: NormName, c: number): nk.nn.Module {
  switch (name) {
    case 'BatchNorm':
      return new nn.BatchNorm1d(c);
    case 'GroupNorm':
      return new nn.GroupNorm(8, c);
    case 'LayerNorm':
      return new nn.LayerNorm(c);
    case 'BatchRenorm':
      return new nn.BatchRenorm1d(c, {
        schedule: { warmupSteps: 100, rMaxSteps: 500, dMaxSteps: 300 },
      });
    case 'ghost BN (4)':
      return new nn.BatchNorm1d(c, { virtualBatchSize: 4 });
  }
}

function build(name: NormName): nk.nn.Module {
  return new nn.Sequential(
    new nn.Flatten(),
    new nn.Linear(784, 128, { bias: false }),
    norm(name, 128),
    new nn.ReLU(),
    new nn.Linear(128, 128, { bias: false }),
    norm(name, 128),
    new nn.ReLU(),
    new nn.Linear(128, 10),
  );
}

export const smallBatch: Experiment<Run> = {
  name: 'small-batch',
  claim:
    'BatchNorm degrades at small batch sizes; GroupNorm, LayerNorm and Batch Renorm do not ' +
    'depend on the batch (or correct for it) and hold up.',
  source: 'Ioffe 2017 (Batch Renormalization); Wu & He 2018 (Group Normalization)',
  setup: (mode) => {
    const p = plan(mode);
    return (
      `An MLP 784-128-128-10 with each norm (GroupNorm: 8 groups; Batch Renorm: rMax/dMax ` +
      `relaxed over 500/300 steps after 100; ghost BN: virtual batches of 4), one epoch over ` +
      `${p.images} training images at each batch size in {${p.batchSizes.join(', ')}}, SGD with ` +
      'momentum 0.9 and lr 0.05·B/64 (scaled linearly); test accuracy in eval mode, and ' +
      'training-mode accuracy over the last 10 % of steps.'
    );
  },
  rule:
    'Reproduced if, in the mean over seeds, at batch 2 BatchNorm’s test accuracy is at least 3 ' +
    'points below the best of GroupNorm, LayerNorm and Batch Renorm, and at the largest batch ' +
    'it is within 1 point of the best. Mixed if only the first holds; not reproduced otherwise.',
  quickSeconds: 16,
  measure(ctx) {
    const p = plan(ctx.mode);
    const train = { ...ctx.data.train, count: Math.min(p.images, ctx.data.train.count) };
    train.images = ctx.data.train.images.subarray(0, train.count * 784);
    train.labels = ctx.data.train.labels.subarray(0, train.count);
    const run = { batchSizes: p.batchSizes, test: {}, trainAcc: {} } as Run;
    let done = 0;
    for (const name of NORMS) {
      run.test[name] = [];
      run.trainAcc[name] = [];
      for (const B of p.batchSizes) {
        nk.manualSeed(ctx.seed);
        const model = build(name);
        const r = trainModel(model, train, {
          lr: (0.05 * B) / 64,
          steps: Math.floor(train.count / B),
          batchSize: B,
          seed: ctx.seed,
        });
        run.test[name].push(accuracy(model, ctx.data.test));
        run.trainAcc[name].push(
          mean(r.accuracies.slice(-Math.max(1, Math.floor(r.accuracies.length / 10)))),
        );
        disposeModel(model);
        ctx.progress(++done / (NORMS.length * p.batchSizes.length));
      }
    }
    return run;
  },
  judge(runs) {
    const at = (name: NormName, i: number) => runs.map((r) => r.test[name][i]);
    const last = runs[0].batchSizes.length - 1;
    const others: NormName[] = ['GroupNorm', 'LayerNorm', 'BatchRenorm'];
    const bestOther = (i: number) => Math.max(...others.map((n) => mean(at(n, i))));
    const gapSmall = 100 * (bestOther(0) - mean(at('BatchNorm', 0)));
    const gapLarge =
      100 * (Math.max(bestOther(last), mean(at('BatchNorm', last))) - mean(at('BatchNorm', last)));
    const first = gapSmall >= 3;
    const second = gapLarge <= 1;
    const B0 = runs[0].batchSizes[0],
      BL = runs[0].batchSizes[last];
    return {
      verdict: first && second ? 'reproduced' : first ? 'mixed' : 'not reproduced',
      because:
        `At batch ${B0}: BatchNorm ${pm(at('BatchNorm', 0))}, GroupNorm ${pm(at('GroupNorm', 0))}, ` +
        `LayerNorm ${pm(at('LayerNorm', 0))}, Batch Renorm ${pm(at('BatchRenorm', 0))} ` +
        `(BatchNorm ${gapSmall.toFixed(1)} points below the best${overlapNote(at('BatchNorm', 0), at('LayerNorm', 0))}). At batch ${BL}: BatchNorm ` +
        `${pm(at('BatchNorm', last))}, ${gapLarge.toFixed(1)} points below the best.`,
      summary: NORMS.flatMap((n) =>
        runs[0].batchSizes.flatMap((B, i) => [
          row(`${n}, batch ${B}: test accuracy (eval mode)`, at(n, i)),
          row(
            `${n}, batch ${B}: training-mode accuracy, last 10 % of steps`,
            runs.map((r) => r.trainAcc[n][i]),
          ),
        ]),
      ),
    };
  },
  figures(runs) {
    return [
      lineChart({
        title: 'Test accuracy against batch size (one epoch, lr scaled with the batch)',
        rows: NORMS.flatMap((n) =>
          runs[0].batchSizes.map((B, i) => ({
            x: B,
            ...band(runs.map((r) => r.test[n][i])),
            series: n,
          })),
        ),
        x: 'batch size (log scale)',
        y: 'test accuracy (fraction)',
        logX: true,
      }),
    ];
  },
};
