// InstanceNorm normalizes each image by its own statistics, so an affine change of an image's
// intensities (contrast a, brightness b) leaves its output unchanged up to ε; BatchNorm in
// eval mode normalizes by the training set's statistics, so its output moves. A network whose
// first layer is InstanceNorm is therefore immune to contrast and brightness shifts at test
// time; one whose first layer is BatchNorm is not.
import * as nk from '../../index.js';
import type { Split } from '../../data/fashion-mnist.js';
import { type Experiment, mean, num, pm, row } from '../experiment.js';
import {
  accuracy,
  cnn,
  disposeModel,
  mapImages,
  maxAbsDiff,
  probeBatch,
  trainModel,
} from '../kit.js';
import { barChart } from '../plot.js';

const { nn } = nk;
const EPS = 1e-5;
/** Test-time shifts of the normalized images: x → a·x + b. */
const SHIFTS: [number, number][] = [
  [1, 0],
  [0.5, 0],
  [2, 0],
  [1, 0.5],
  [1, -0.5],
  [0.5, 0.5],
];
const label = ([a, b]: [number, number]) => `a ${a}, b ${b}`;

interface Run {
  /** max |IN(a·x + b, ε) − IN(x, ε/a²)| over images with their own random a and b. */
  identity: number;
  /** max |IN(a·x + b) − IN(x)| and the same for BatchNorm2d in eval mode. */
  inDiff: number;
  bnDiff: number;
  /** The same for the trained networks' logits (first layer IN, or BN). */
  netInDiff: number;
  netBnDiff: number;
  /** Test accuracy per shift. */
  accIn: number[];
  accBn: number[];
}

/** Per-image random a ∈ [0.5, 2], b ∈ [−0.5, 0.5] (the same per image, different between images). */
function perImage(x: nk.Tensor, g: nk.Generator): { y: nk.Tensor; a: number[] } {
  const [n] = x.shape;
  const per = x.size / n;
  const a = Array.from({ length: n }, () => 0.5 * 4 ** g.uniform());
  const b = Array.from({ length: n }, () => g.uniform() - 0.5);
  const y = x.toArray().map((v, i) => a[Math.floor(i / per)] * v + b[Math.floor(i / per)]);
  return { y: nk.tensor(y, x.shape), a };
}

/** The exact part: one InstanceNorm2d(1) and one eval-mode BatchNorm2d(1) on real images. */
function exactPart(split: Split, seed: number) {
  const x = probeBatch(split, 16);
  const { y: xs, a } = perImage(x, new nk.Generator(seed + 7));
  const inorm = (t: nk.Tensor, eps: number) => nk.noGrad(() => nk.instanceNorm(t, null, null, eps));
  // IN(a·x + b, ε) = IN(x, ε/a²) for each image: its own ε per image.
  let identity = 0;
  a.forEach((ai, i) => {
    const one = (t: nk.Tensor) => nk.slice(t, 0, i, i + 1);
    identity = Math.max(
      identity,
      maxAbsDiff(inorm(one(xs), EPS).toArray(), inorm(one(x), EPS / ai ** 2).toArray()),
    );
  });
  const inDiff = maxAbsDiff(inorm(xs, EPS).toArray(), inorm(x, EPS).toArray());
  const bn = new nn.BatchNorm2d(1);
  nk.tidy(() => void bn.call(x)); // one training-mode pass: running statistics of these images
  bn.eval();
  const bnDiff = maxAbsDiff(
    nk.noGrad(() => bn.call(xs)).toArray(),
    nk.noGrad(() => bn.call(x)).toArray(),
  );
  disposeModel(bn);
  return { identity, inDiff, bnDiff, x, xs };
}

/** The README CNN with a norm layer in front of it, over the one input channel. */
function withFirstNorm(first: nk.nn.Module, width: number): nk.nn.Module {
  return new nn.Sequential(first, cnn({ width, norm: 'batch' }));
}

export const instanceNormContrast: Experiment<Run> = {
  name: 'instance-norm-contrast',
  claim:
    "InstanceNorm's output is unchanged when an image's intensities change by a·x + b (up to " +
    "ε), BatchNorm's is not; a network whose first norm is InstanceNorm keeps its test accuracy " +
    'under contrast and brightness shifts, one whose first norm is BatchNorm loses it.',
  source: 'Ulyanov, Vedaldi & Lempitsky 2016 (instance normalization: contrast invariance)',
  setup: (mode) =>
    'Exact part: InstanceNorm2d(1) and an eval-mode BatchNorm2d(1) on 16 test images, each ' +
    'image given its own a ∈ [0.5, 2] and b ∈ [−0.5, 0.5]. Trained part: the README CNN ' +
    `(width ${mode === 'tiny' ? 4 : 16}, BatchNorm inside) behind InstanceNorm2d(1, affine) or ` +
    `BatchNorm2d(1), SGD lr 0.05, momentum 0.9, batch 64, ${mode === 'full' ? 1500 : mode === 'quick' ? 300 : 20} ` +
    `steps; test accuracy with the whole test set shifted by ${SHIFTS.map(label).join('; ')} ` +
    '(in units of the normalized pixels).',
  rule:
    'Reproduced if (1) IN(a·x + b, ε) equals IN(x, ε/a²) within 1e-5 for every image (the ' +
    'identity behind the claim); (2) with ε = 1e-5, InstanceNorm changes by at most 1e-3 and the ' +
    "IN-first network's logits by at most 1e-2, while BatchNorm changes by at least 0.1; (3) the " +
    "IN-first network's accuracy under every shift is within 0.5 points of its unshifted " +
    "accuracy, and the BN-first network's mean accuracy over the shifted sets is at least 5 " +
    'points below its unshifted accuracy (means over seeds). Mixed if some of these hold.',
  quickSeconds: 11,
  measure(ctx) {
    nk.manualSeed(ctx.seed);
    const exact = exactPart(ctx.data.test, ctx.seed);
    const width = ctx.mode === 'tiny' ? 4 : 16;
    const steps = ctx.mode === 'full' ? 1500 : ctx.mode === 'quick' ? 300 : 20;
    const nets = [new nn.InstanceNorm2d(1, { affine: true }), new nn.BatchNorm2d(1)].map(
      (first, k) => {
        nk.manualSeed(ctx.seed);
        const model = withFirstNorm(first, width);
        trainModel(model, ctx.data.train, {
          lr: 0.05,
          steps,
          batchSize: 64,
          seed: ctx.seed,
          progress: (f) => ctx.progress(0.45 * (k + f)),
        });
        return model;
      },
    );
    const logitsDiff = (m: nk.nn.Module) => {
      m.eval();
      return maxAbsDiff(
        nk.noGrad(() => m.call(exact.xs)).toArray(),
        nk.noGrad(() => m.call(exact.x)).toArray(),
      );
    };
    const accs = nets.map((m) =>
      SHIFTS.map(([a, b]) =>
        accuracy(
          m,
          mapImages(ctx.data.test, (v) => a * v + b),
        ),
      ),
    );
    const run: Run = {
      identity: exact.identity,
      inDiff: exact.inDiff,
      bnDiff: exact.bnDiff,
      netInDiff: logitsDiff(nets[0]),
      netBnDiff: logitsDiff(nets[1]),
      accIn: accs[0],
      accBn: accs[1],
    };
    nets.forEach(disposeModel);
    nk.dispose([exact.x, exact.xs]);
    ctx.progress(1);
    return run;
  },
  judge(runs) {
    const identityOk = runs.every((r) => r.identity <= 1e-5);
    const diffOk = runs.every((r) => r.inDiff <= 1e-3 && r.netInDiff <= 1e-2 && r.bnDiff >= 0.1);
    const inDrop = SHIFTS.map((_, i) => mean(runs.map((r) => 100 * (r.accIn[0] - r.accIn[i]))));
    const bnShifted = mean(runs.map((r) => mean(r.accBn.slice(1))));
    const bnDrop = 100 * (mean(runs.map((r) => r.accBn[0])) - bnShifted);
    const accOk = inDrop.every((d) => Math.abs(d) <= 0.5) && bnDrop >= 5;
    const held = [identityOk, diffOk, accOk].filter(Boolean).length;
    return {
      verdict: held === 3 ? 'reproduced' : held === 0 ? 'not reproduced' : 'mixed',
      because:
        `IN(a·x + b, ε) and IN(x, ε/a²) differ by at most ${num(Math.max(...runs.map((r) => r.identity)))}; ` +
        `per-image shifts moved InstanceNorm by ${pm(runs.map((r) => r.inDiff))} and the IN-first ` +
        `network's logits by ${pm(runs.map((r) => r.netInDiff))}, BatchNorm by ${pm(runs.map((r) => r.bnDiff))}. ` +
        `Under the test-set shifts the IN-first network's accuracy moved by at most ` +
        `${num(Math.max(...inDrop.map(Math.abs)))} points; the BN-first network lost ${num(bnDrop)} points on average.`,
      summary: [
        row(
          'max |IN(a·x + b, ε) − IN(x, ε/a²)|',
          runs.map((r) => r.identity),
        ),
        row(
          'max |Δ| InstanceNorm (per-image a, b)',
          runs.map((r) => r.inDiff),
        ),
        row(
          'max |Δ logits| IN-first network',
          runs.map((r) => r.netInDiff),
        ),
        row(
          'max |Δ| BatchNorm, eval mode',
          runs.map((r) => r.bnDiff),
        ),
        row(
          'max |Δ logits| BN-first network',
          runs.map((r) => r.netBnDiff),
        ),
        ...SHIFTS.map((s, i) =>
          row(
            `IN-first accuracy, ${label(s)}`,
            runs.map((r) => 100 * r.accIn[i]),
            '%',
          ),
        ),
        ...SHIFTS.map((s, i) =>
          row(
            `BN-first accuracy, ${label(s)}`,
            runs.map((r) => 100 * r.accBn[i]),
            '%',
          ),
        ),
      ],
    };
  },
  figures(runs) {
    return [
      barChart({
        title: 'Test accuracy under contrast (a) and brightness (b) shifts',
        rows: SHIFTS.flatMap((s, i) => [
          {
            category: label(s),
            y: 100 * mean(runs.map((r) => r.accIn[i])),
            series: 'InstanceNorm first',
          },
          {
            category: label(s),
            y: 100 * mean(runs.map((r) => r.accBn[i])),
            series: 'BatchNorm first',
          },
        ]),
        y: 'test accuracy (%)',
        category: 'shift x → a·x + b',
      }),
    ];
  },
};
