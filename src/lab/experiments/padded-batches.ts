// Variable-length sequences padded to a common length: BatchNorm over [N, C, L] counts the
// padding as data, so its statistics (and the running statistics kept for inference) are
// biased towards the padding value, and late positions are normalized over few real
// sequences. MaskedBatchNorm1d takes statistics over the real positions only; LayerNorm
// normalizes each position by itself and never mixes sequences.
import * as nk from '../../index.js';
import type { Split } from '../../data/fashion-mnist.js';
import { type Experiment, mean, num, pm, row } from '../experiment.js';
import { accuracy, disposeModel } from '../kit.js';
import { lineChart } from '../plot.js';

const { nn } = nk;
const T = 28; // each image as 28 steps (rows) of 28 features (pixels)
const MIN_LEN = 4;
const NORMS = ['BatchNorm1d', 'MaskedBatchNorm1d', 'LayerNorm'] as const;
type NormName = (typeof NORMS)[number];

interface Run {
  /** Per norm: mean over channels of |running mean − true mean| / true sd (LayerNorm: none). */
  meanError: number[];
  /** Per norm: mean over channels of |running var / true var − 1|. */
  varError: number[];
  accuracy: number[];
  /** Expected real sequences per position in a batch of 64. */
  effectiveBatch: number[];
}

/** Rows as a sequence [N, 28 features, 28 steps], rows at or past each length set to 0. */
function sequences(images: Float32Array, idx: ArrayLike<number>, lengths: number[]): nk.Tensor {
  const n = idx.length;
  const out = new Float32Array(n * T * T);
  for (let i = 0; i < n; i++) {
    const img = images.subarray(idx[i] * 784, (idx[i] + 1) * 784);
    for (let t = 0; t < lengths[i]; t++)
      for (let f = 0; f < T; f++) out[i * 784 + f * T + t] = img[t * T + f];
  }
  return nk.tensor(out, [n, T, T]);
}

const maskOf = (lengths: number[]) =>
  nk.tensor(
    lengths.flatMap((len) => Array.from({ length: T }, (_, t) => (t < len ? 1 : 0))),
    [lengths.length, T],
  );

/** The norm over the 28 input features, then two convolutions and a mean over real steps. */
class SeqNet extends nn.Module {
  readonly norm: nk.nn.Module;
  readonly body: nk.nn.Sequential;
  readonly head: nk.nn.Linear;

  constructor(
    readonly kind: NormName,
    width: number,
  ) {
    super();
    this.norm = this.registerModule(
      'norm',
      kind === 'LayerNorm'
        ? new nn.LayerNorm(T)
        : kind === 'MaskedBatchNorm1d'
          ? new nn.MaskedBatchNorm1d(T)
          : new nn.BatchNorm1d(T),
    );
    this.body = this.registerModule(
      'body',
      new nn.Sequential(
        new nn.Conv1d(T, width, 3, { padding: 1 }),
        new nn.ReLU(),
        new nn.Conv1d(width, width, 3, { padding: 1 }),
        new nn.ReLU(),
      ),
    );
    this.head = this.registerModule('head', new nn.Linear(width, 10));
  }

  forward(x: nk.Tensor, mask: nk.Tensor): nk.Tensor {
    const y =
      this.kind === 'LayerNorm'
        ? this.norm.call(x.permute([0, 2, 1])).permute([0, 2, 1])
        : this.kind === 'MaskedBatchNorm1d'
          ? this.norm.call(x, mask)
          : this.norm.call(x);
    const m = mask.reshape([mask.shape[0], 1, T]);
    const h = this.body.call(y.mul(m));
    const pooled = nk.div(nk.sum(h.mul(m), 2), nk.sum(m, 2));
    return this.head.call(pooled);
  }
}

const lengthsFor = (n: number, g: nk.Generator) =>
  Array.from({ length: n }, () => MIN_LEN + g.int(T - MIN_LEN + 1));

/** Per-feature mean and variance over the real rows of every image, one length draw each. */
function trueStats(split: Split, g: nk.Generator) {
  const lengths = lengthsFor(split.count, g);
  const s = new Float64Array(T),
    s2 = new Float64Array(T);
  let n = 0;
  lengths.forEach((len, i) => {
    for (let t = 0; t < len; t++) {
      for (let f = 0; f < T; f++) {
        const v = split.images[i * 784 + t * T + f];
        s[f] += v;
        s2[f] += v * v;
      }
      n++;
    }
  });
  const mu = Array.from(s, (v) => v / n);
  return { mu, variance: Array.from(s2, (v, f) => v / n - mu[f] ** 2) };
}

function train(
  model: SeqNet,
  split: Split,
  steps: number,
  seed: number,
  progress: (f: number) => void,
) {
  const g = new nk.Generator(seed + 11);
  const opt = new nk.optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
  model.train();
  for (let s = 0; s < steps; s++) {
    const idx = Array.from({ length: 64 }, () => g.int(split.count));
    const lengths = lengthsFor(64, g);
    nk.tidy(() => {
      const loss = nk.crossEntropy(
        model.call(sequences(split.images, idx, lengths), maskOf(lengths)),
        idx.map((i) => split.labels[i]),
      );
      opt.zeroGrad();
      loss.backward();
      opt.step();
    });
    progress((s + 1) / steps);
  }
}

/** Test accuracy on the test images cropped to random lengths (one draw per image, in order). */
function testAccuracy(model: SeqNet, split: Split, seed: number): number {
  const g = new nk.Generator(seed + 13);
  return accuracy(model, split, 500, (start, n) => {
    const lengths = lengthsFor(n, g);
    const idx = Array.from({ length: n }, (_, i) => start + i);
    return [sequences(split.images, idx, lengths), maskOf(lengths)];
  });
}

export const paddedBatches: Experiment<Run> = {
  name: 'padded-batches',
  claim:
    'On padded variable-length sequences BatchNorm counts the padding as data, so its running ' +
    'statistics are biased and late positions are normalized over few real sequences; ' +
    'MaskedBatchNorm1d (statistics over real positions only) recovers the true statistics, ' +
    'and LayerNorm, which never mixes sequences, is unaffected.',
  source: 'Shen et al. 2020 (PowerNorm: BN on padded NLP batches); Ba, Kiros & Hinton 2016',
  setup: (mode) =>
    `Each image as ${T} steps (rows) of ${T} features, cropped to a random length in ` +
    `[${MIN_LEN}, ${T}] and zero-padded. A norm over the ${T} features (BatchNorm1d over ` +
    '[N, C, L], MaskedBatchNorm1d with the padding mask, or LayerNorm per step), then two ' +
    `Conv1d (width ${mode === 'tiny' ? 8 : 32}) with ReLU, a mean over the real steps and a ` +
    `Linear; SGD lr 0.05, momentum 0.9, batch 64, ${mode === 'full' ? 2000 : mode === 'quick' ? 400 : 10} ` +
    'steps. The running statistics against the true per-feature statistics of the real rows; ' +
    'test accuracy on test images cropped the same way.',
  rule:
    "Reproduced if, in the mean over seeds, (1) BatchNorm1d's running-mean error (mean over " +
    "features of |running mean − true mean| / true sd) is at least 5 times MaskedBatchNorm1d's, " +
    "(2) MaskedBatchNorm1d's running-mean error is at most 0.05 and its running-variance error " +
    '(mean |running var / true var − 1|) at most 0.1, and (3) MaskedBatchNorm1d and LayerNorm ' +
    'are each no more than 0.5 points below BatchNorm1d in test accuracy. Mixed if some hold.',
  quickSeconds: 5,
  measure(ctx) {
    const width = ctx.mode === 'tiny' ? 8 : 32;
    const steps = ctx.mode === 'full' ? 2000 : ctx.mode === 'quick' ? 400 : 10;
    const truth = trueStats(ctx.data.train, new nk.Generator(ctx.seed + 17));
    const sd = truth.variance.map(Math.sqrt);
    const out: Run = {
      meanError: [],
      varError: [],
      accuracy: [],
      effectiveBatch: Array.from(
        { length: T },
        (_, t) => (64 * Math.min(T - MIN_LEN + 1, T - t)) / (T - MIN_LEN + 1),
      ),
    };
    NORMS.forEach((kind, k) => {
      nk.manualSeed(ctx.seed);
      const model = new SeqNet(kind, width);
      train(model, ctx.data.train, steps, ctx.seed, (f) => ctx.progress((k + 0.9 * f) / 3));
      if (kind === 'LayerNorm') {
        out.meanError.push(NaN);
        out.varError.push(NaN);
      } else {
        const bn = model.norm as nk.nn.BatchNorm1d;
        const rm = bn.runningMean!.toArray(),
          rv = bn.runningVar!.toArray();
        // Features with (almost) no variance (always-background pixels) are left out.
        const f = sd.map((_, i) => i).filter((i) => sd[i] > 1e-3);
        out.meanError.push(mean(f.map((i) => Math.abs(rm[i] - truth.mu[i]) / sd[i])));
        out.varError.push(mean(f.map((i) => Math.abs(rv[i] / truth.variance[i] - 1))));
      }
      out.accuracy.push(testAccuracy(model, ctx.data.test, ctx.seed));
      disposeModel(model);
    });
    ctx.progress(1);
    return out;
  },
  judge(runs) {
    const m = (f: (r: Run) => number) => mean(runs.map(f));
    const [bnErr, maskedErr] = [0, 1].map((k) => m((r) => r.meanError[k]));
    const maskedVar = m((r) => r.varError[1]);
    const acc = [0, 1, 2].map((k) => 100 * m((r) => r.accuracy[k]));
    const held = [
      bnErr >= 5 * maskedErr,
      maskedErr <= 0.05 && maskedVar <= 0.1,
      acc[1] >= acc[0] - 0.5 && acc[2] >= acc[0] - 0.5,
    ].filter(Boolean).length;
    return {
      verdict: held === 3 ? 'reproduced' : held === 0 ? 'not reproduced' : 'mixed',
      because:
        `Running-mean error (in true sds): BatchNorm1d ${pm(runs.map((r) => r.meanError[0]))}, ` +
        `MaskedBatchNorm1d ${pm(runs.map((r) => r.meanError[1]))} (ratio ${num(bnErr / maskedErr)}); ` +
        `running-variance error ${pm(runs.map((r) => r.varError[0]))} against ` +
        `${pm(runs.map((r) => r.varError[1]))}. Test accuracy: ` +
        NORMS.map((n, k) => `${n} ${pm(runs.map((r) => 100 * r.accuracy[k]))} %`).join(', ') +
        '.',
      summary: [
        ...NORMS.slice(0, 2).map((n, k) =>
          row(
            `${n}: running-mean error (true sds)`,
            runs.map((r) => r.meanError[k]),
          ),
        ),
        ...NORMS.slice(0, 2).map((n, k) =>
          row(
            `${n}: running-variance error`,
            runs.map((r) => r.varError[k]),
          ),
        ),
        ...NORMS.map((n, k) =>
          row(
            `${n}: test accuracy`,
            runs.map((r) => 100 * r.accuracy[k]),
            '%',
          ),
        ),
      ],
    };
  },
  figures(runs) {
    return [
      lineChart({
        title: 'Real sequences per position in a padded batch of 64',
        rows: runs[0].effectiveBatch.map((y, x) => ({ x, y, series: 'expected real sequences' })),
        x: 'position (step)',
        y: 'sequences that reach this step',
      }),
    ];
  },
};
