// Transfer to a shifted domain through BatchNorm's statistics: re-estimating them on
// unlabeled target data (AdaBN) adapts a network without a single label; with few labels,
// fine-tuning with BatchNorm frozen keeps the statistics from being estimated on tiny
// batches of the target, and with more labels letting them train catches up.
import * as nk from '../../index.js';
import type { Split } from '../../data/fashion-mnist.js';
import { type Experiment, mean, num, pm, row } from '../experiment.js';
import { accuracy, cnn, disposeModel, imageBatches, mapImages, trainModel } from '../kit.js';
import { barChart } from '../plot.js';

const { nn } = nk;
const LABELS = [100, 1000];
const STRATEGIES = ['fine-tune, BN frozen', 'fine-tune, BN training'] as const;

interface Run {
  source: number;
  noAdaptation: number;
  adaBN: number;
  /** [labels index][strategy index] target test accuracy. */
  fineTuned: number[][];
}

/** The target domain: every image inverted about the mean (x → −x) and its contrast halved. */
const toTarget = (split: Split): Split => mapImages(split, (v) => -0.5 * v);

/** The first n images of a split (the labelled target examples). */
const head = (split: Split, n: number): Split => ({
  ...split,
  count: n,
  images: split.images.subarray(0, n * 784),
  labels: split.labels.subarray(0, n),
});

const budget = (mode: string) =>
  mode === 'full'
    ? { width: 16, steps: 1500, tune: 300 }
    : mode === 'quick'
      ? { width: 16, steps: 300, tune: 100 }
      : { width: 4, steps: 10, tune: 5 };

export const transfer: Experiment<Run> = {
  name: 'transfer',
  claim:
    'Adapting a BatchNorm network to a shifted domain: re-estimating its statistics on ' +
    'unlabeled target data (AdaBN) recovers much of the accuracy without labels, and with ' +
    'few target labels fine-tuning with BatchNorm frozen does at least as well as letting ' +
    'BatchNorm train.',
  source:
    'Li et al. 2016 (AdaBN); Yosinski et al. 2014; the usual practice of freezing BN when fine-tuning',
  setup: (mode) => {
    const b = budget(mode);
    return (
      `The README CNN (width ${b.width}, BatchNorm) trained on the source (the images as they ` +
      `are; SGD lr 0.05, momentum 0.9, batch 64, ${b.steps} steps). Target: every image mapped ` +
      'to −0.5·x (inverted about the mean, half the contrast). Strategies, each from the same ' +
      'source model: none; AdaBN (adaptBatchNorm on 20 unlabeled target batches); fine-tuning ' +
      `on ${LABELS.join(' or ')} labelled target images for ${b.tune} steps (SGD lr 0.01, ` +
      'batch 32) with freezeBatchNorm, or with BatchNorm training. Test accuracy on the target.'
    );
  },
  rule:
    'Reproduced if, in the mean over seeds, (1) AdaBN is at least 5 points above no ' +
    'adaptation, (2) with 100 labels fine-tuning with BatchNorm frozen is no more than 0.5 ' +
    'points below fine-tuning with BatchNorm training, and (3) every adaptation beats no ' +
    'adaptation. Mixed if some of these hold.',
  quickSeconds: 8,
  measure(ctx) {
    const b = budget(ctx.mode);
    nk.manualSeed(ctx.seed);
    const source = cnn({ width: b.width, norm: 'batch' });
    trainModel(source, ctx.data.train, {
      lr: 0.05,
      steps: b.steps,
      batchSize: 64,
      seed: ctx.seed,
      progress: (f) => ctx.progress(0.5 * f),
    });
    const targetTrain = toTarget(ctx.data.train),
      targetTest = toTarget(ctx.data.test);
    const out: Run = {
      source: accuracy(source, ctx.data.test),
      noAdaptation: accuracy(source, targetTest),
      adaBN: 0,
      fineTuned: [],
    };
    const ada = nn.cloneModule(source);
    const unlabeled = imageBatches(targetTrain, Math.min(20, Math.floor(targetTrain.count / 64)));
    nk.adaptBatchNorm(ada, unlabeled);
    nk.dispose(unlabeled);
    out.adaBN = accuracy(ada, targetTest);
    disposeModel(ada);
    LABELS.forEach((n, i) => {
      out.fineTuned.push(
        STRATEGIES.map((_, k) => {
          const m = nn.cloneModule(source);
          if (k === 0) nk.freezeBatchNorm(m);
          trainModel(m, head(targetTrain, Math.min(n, targetTrain.count)), {
            lr: 0.01,
            steps: b.tune,
            batchSize: 32,
            seed: ctx.seed,
          });
          const a = accuracy(m, targetTest);
          disposeModel(m);
          ctx.progress(0.5 + (0.5 * (2 * i + k + 1)) / (2 * LABELS.length));
          return a;
        }),
      );
    });
    disposeModel(source);
    return out;
  },
  judge(runs) {
    const m = (f: (r: Run) => number) => 100 * mean(runs.map(f));
    const none = m((r) => r.noAdaptation),
      ada = m((r) => r.adaBN);
    const tuned = LABELS.map((_, i) => STRATEGIES.map((_, k) => m((r) => r.fineTuned[i][k])));
    const held = [
      ada >= none + 5,
      tuned[0][0] >= tuned[0][1] - 0.5,
      [ada, ...tuned.flat()].every((a) => a > none),
    ].filter(Boolean).length;
    const p = (f: (r: Run) => number) => pm(runs.map((r) => 100 * f(r)));
    return {
      verdict: held === 3 ? 'reproduced' : held === 0 ? 'not reproduced' : 'mixed',
      because:
        `Source ${p((r) => r.source)} %; on the target: no adaptation ${p((r) => r.noAdaptation)} %, ` +
        `AdaBN ${p((r) => r.adaBN)} % (${num(ada - none)} points). ` +
        LABELS.map(
          (n, i) =>
            `With ${n} labels: BN frozen ${p((r) => r.fineTuned[i][0])} %, BN training ${p((r) => r.fineTuned[i][1])} %.`,
        ).join(' '),
      summary: [
        row(
          'source accuracy',
          runs.map((r) => 100 * r.source),
          '%',
        ),
        row(
          'target: no adaptation',
          runs.map((r) => 100 * r.noAdaptation),
          '%',
        ),
        row(
          'target: AdaBN (no labels)',
          runs.map((r) => 100 * r.adaBN),
          '%',
        ),
        ...LABELS.flatMap((n, i) =>
          STRATEGIES.map((s, k) =>
            row(
              `target: ${s}, ${n} labels`,
              runs.map((r) => 100 * r.fineTuned[i][k]),
              '%',
            ),
          ),
        ),
      ],
    };
  },
  figures(runs) {
    const m = (f: (r: Run) => number) => 100 * mean(runs.map(f));
    return [
      barChart({
        title: 'Target-domain test accuracy by adaptation strategy',
        rows: [
          { category: 'none', y: m((r) => r.noAdaptation), series: 'no labels' },
          { category: 'AdaBN', y: m((r) => r.adaBN), series: 'no labels' },
          ...LABELS.flatMap((n, i) =>
            STRATEGIES.map((s, k) => ({
              category: s,
              y: m((r) => r.fineTuned[i][k]),
              series: `${n} labels`,
            })),
          ),
        ],
        y: 'target test accuracy (%)',
        category: 'strategy',
      }),
    ];
  },
};
