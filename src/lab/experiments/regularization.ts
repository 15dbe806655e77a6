// BatchNorm regularizes: the noise of batch statistics shrinks the gap between training and
// test accuracy, like (and alongside) dropout, and more so at smaller batches.
import * as nk from '../../index.js';
import type { Split } from '../../data/fashion-mnist.js';
import { type Experiment, type Mode, mean, pm, row, overlapNote } from '../experiment.js';
import { accuracy, disposeModel, trainModel } from '../kit.js';
import { barChart } from '../plot.js';

const { nn } = nk;
const VARIANTS = ['none', 'BatchNorm', 'dropout', 'BatchNorm + dropout'] as const;
type Variant = (typeof VARIANTS)[number];

interface Run {
  batchSizes: number[];
  train: Record<Variant, number>;
  test: Record<Variant, number>;
  /** BatchNorm's gap (train − test) at each batch size, same epochs, lr scaled. */
  bnGapByBatch: number[];
}

const plan = (mode: Mode) =>
  mode === 'tiny'
    ? { images: 256, epochs: 2, batchSizes: [16, 64] }
    : {
        images: mode === 'full' ? 5000 : 2000,
        epochs: mode === 'full' ? 40 : 24,
        batchSizes: [16, 64, 256],
      };

function build(v: Variant): nk.nn.Module {
  const bn = v === 'BatchNorm' || v === 'BatchNorm + dropout';
  const drop = v === 'dropout' || v === 'BatchNorm + dropout';
  const layers: nk.nn.Module[] = [new nn.Flatten()];
  let inF = 784;
  for (const w of [256, 256]) {
    layers.push(new nn.Linear(inF, w, { bias: !bn }));
    if (bn) layers.push(new nn.BatchNorm1d(w));
    layers.push(new nn.ReLU());
    inF = w;
  }
  if (drop) layers.push(new nn.Dropout(0.3)); // after the last BatchNorm (see dropout-order)
  layers.push(new nn.Linear(inF, 10));
  return new nn.Sequential(...layers);
}

function subset(s: Split, n: number): Split {
  const count = Math.min(n, s.count);
  return { images: s.images.subarray(0, count * 784), labels: s.labels.subarray(0, count), count };
}

export const regularization: Experiment<Run> = {
  name: 'regularization',
  claim:
    'BatchNorm regularizes: its batch-statistics noise narrows the gap between training and ' +
    'test accuracy, and the noise (and the effect) grows as the batch shrinks.',
  source: 'Ioffe & Szegedy 2015, section 3.4; Luo et al. 2019 (regularization in BN)',
  setup: (mode) => {
    const p = plan(mode);
    return (
      `An MLP 784-256-256-10 trained on ${p.images} training images for ${p.epochs} epochs ` +
      '(batch 64, SGD lr 0.05, momentum 0.9) without normalization, with BatchNorm, with dropout ' +
      '0.3 before the classifier, and with both; train accuracy (eval mode, on those images) ' +
      `minus test accuracy. BatchNorm alone again at batch ${p.batchSizes.join(', ')} (lr 0.05·B/64, same epochs).`
    );
  },
  rule:
    'Reproduced if, in the mean over seeds, BatchNorm’s train–test gap is at least 1 point ' +
    'smaller than without normalization, its test accuracy is higher, and its gap at the ' +
    'smallest batch is smaller than at the largest. Mixed if one or two of these hold; not ' +
    'reproduced if none.',
  quickSeconds: 15,
  measure(ctx) {
    const p = plan(ctx.mode);
    const train = subset(ctx.data.train, p.images);
    const run = {
      batchSizes: p.batchSizes,
      train: {},
      test: {},
      bnGapByBatch: [] as number[],
    } as Run;
    const total = VARIANTS.length + p.batchSizes.length;
    let done = 0;
    const fit = (v: Variant, B: number) => {
      nk.manualSeed(ctx.seed);
      const model = build(v);
      trainModel(model, train, {
        lr: (0.05 * B) / 64,
        steps: Math.floor((p.epochs * train.count) / B),
        batchSize: B,
        seed: ctx.seed,
      });
      const r = { train: accuracy(model, train), test: accuracy(model, ctx.data.test) };
      disposeModel(model);
      ctx.progress(++done / total);
      return r;
    };
    for (const v of VARIANTS) {
      const r = fit(v, 64);
      run.train[v] = r.train;
      run.test[v] = r.test;
    }
    for (const B of p.batchSizes) {
      const r = fit('BatchNorm', B);
      run.bnGapByBatch.push(r.train - r.test);
    }
    return run;
  },
  judge(runs) {
    const gap = (v: Variant) => runs.map((r) => 100 * (r.train[v] - r.test[v]));
    const test = (v: Variant) => runs.map((r) => r.test[v]);
    const last = runs[0].batchSizes.length - 1;
    const conds = [
      mean(gap('none')) - mean(gap('BatchNorm')) >= 1,
      mean(test('BatchNorm')) > mean(test('none')),
      mean(runs.map((r) => r.bnGapByBatch[0])) < mean(runs.map((r) => r.bnGapByBatch[last])),
    ];
    const held = conds.filter(Boolean).length;
    return {
      verdict: held === 3 ? 'reproduced' : held === 0 ? 'not reproduced' : 'mixed',
      because:
        `Train–test gap in points: ${VARIANTS.map((v) => `${v} ${pm(gap(v))}`).join(', ')}${overlapNote(gap('none'), gap('BatchNorm'))}. Test ` +
        `accuracy: ${VARIANTS.map((v) => `${v} ${pm(test(v))}`).join(', ')}. BatchNorm's gap at batch ` +
        `${runs[0].batchSizes.join(' / ')}: ${runs[0].batchSizes.map((_, i) => pm(runs.map((r) => 100 * r.bnGapByBatch[i]))).join(' / ')} points.`,
      summary: [
        ...VARIANTS.flatMap((v) => [
          row(`${v}: train − test accuracy (points)`, gap(v)),
          row(`${v}: test accuracy`, test(v)),
        ]),
        ...runs[0].batchSizes.map((B, i) =>
          row(
            `BatchNorm at batch ${B}: train − test (points)`,
            runs.map((r) => 100 * r.bnGapByBatch[i]),
          ),
        ),
      ],
    };
  },
  figures(runs) {
    return [
      barChart({
        title: 'Train and test accuracy by regularizer',
        rows: VARIANTS.flatMap((v) => [
          { category: v, y: mean(runs.map((r) => r.train[v])), series: 'train (eval mode)' },
          { category: v, y: mean(runs.map((r) => r.test[v])), series: 'test' },
        ]),
        y: 'accuracy (fraction)',
        category: 'variant',
      }),
    ];
  },
};
