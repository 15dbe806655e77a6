// The discriminator's normalization in a GAN. BatchNorm makes the discriminator read the batch:
// GAN code feeds it batches that are all real or all fake, and the batch statistics alone tell
// them apart. Spectral normalization bounds the discriminator's Lipschitz constant instead,
// and is the normalization that made GAN training stable without batch statistics.
import * as nk from '../../index.js';
import { MEAN, STD, type Split } from '../../data/fashion-mnist.js';
import { type Experiment, mean, num, pm, row, sd } from '../experiment.js';
import { cnn, disposeModel, trainModel } from '../kit.js';
import { frechetDistance } from '../embedding.js';
import {
  DISCRIMINATOR_NORMS as NORMS,
  type Gan,
  ganStep,
  imageDiscriminator,
  imageGenerator,
  makeGan,
  ringBatch,
  ringDiscriminator,
  ringGenerator,
  ringQuality,
  sample,
} from '../gan.js';
import { barChart, imageGrid, scatterChart } from '../plot.js';

const { nn } = nk;
const LEAK = [
  'BN, pure batches (training mode)',
  'BN, per sample (eval mode)',
  'BN, half-real batches (training mode)',
  'no BN, per sample',
] as const;

interface Run {
  /** Discriminator accuracy on the test images, as LEAK lists the ways of asking. */
  leak: number[];
  /** Per norm: modes covered (of 8), share of high-quality samples, sd of the D loss over the second half. */
  ringModes: number[];
  ringQuality: number[];
  ringOscillation: number[];
  /** Per norm: 300 generated ring points (x, y) for the figure. */
  ringPoints: number[][][];
  /** Per norm: FID against the test images in the classifier's feature space (null: samples not finite). */
  fid: (number | null)[];
  /** FID of training images against the test images: the floor for this sample size. */
  fidRealFloor: number;
  /** Per norm: 8 generated images in [0, 1] (rounded), for the sample grid. */
  grids: number[][][];
}

const budget = (mode: string) =>
  mode === 'full'
    ? { leakSteps: 600, ringSteps: 3000, dcganSteps: 1500, classifier: 1500, fidN: 2000 }
    : mode === 'quick'
      ? { leakSteps: 150, ringSteps: 800, dcganSteps: 200, classifier: 300, fidN: 1000 }
      : { leakSteps: 4, ringSteps: 10, dcganSteps: 4, classifier: 4, fidN: 200 };

/**
 * A batch of real images: from every class (real) or all of one random class (fake: a
 * generator that collapsed onto one mode). Each image is real either way, so only the batch
 * tells the two apart.
 */
function leakBatch(split: Split, byClass: number[][], fake: boolean, g: nk.Generator): nk.Tensor {
  const pool = fake ? byClass[g.int(byClass.length)] : null;
  const x = new Float32Array(64 * 784);
  for (let k = 0; k < 64; k++) {
    const i = pool ? pool[g.int(pool.length)] : g.int(split.count);
    x.set(split.images.subarray(i * 784, (i + 1) * 784), k * 784);
  }
  return nk.tensor(x, [64, 1, 28, 28]);
}

const classes = (split: Split) =>
  Array.from({ length: 10 }, (_, c) =>
    Array.from({ length: split.count }, (_, i) => i).filter((i) => split.labels[i] === c),
  ).filter((idx) => idx.length > 0);

/** Conv 3×3 16 → [BN] → LeakyReLU → pool → conv 3×3 32 → [BN] → LeakyReLU → pool → Linear to a logit. */
function leakDiscriminator(bn: boolean) {
  const norm = (c: number) => (bn ? [new nn.BatchNorm2d(c)] : []);
  return new nn.Sequential(
    new nn.Conv2d(1, 16, 3, { padding: 1, bias: !bn }),
    ...norm(16),
    new nn.LeakyReLU(0.2),
    new nn.MaxPool2d(2),
    new nn.Conv2d(16, 32, 3, { padding: 1, bias: !bn }),
    ...norm(32),
    new nn.LeakyReLU(0.2),
    new nn.MaxPool2d(2),
    new nn.Flatten(),
    new nn.Linear(32 * 49, 1),
  );
}

/** (a): a discriminator trained on pure real and pure fake batches, then asked in each way. */
function leakage(data: { train: Split; test: Split }, steps: number, seed: number): number[] {
  const trainClasses = classes(data.train),
    testClasses = classes(data.test);
  const accuracies = (d: nk.nn.Module, bn: boolean) => {
    nk.manualSeed(seed);
    const g = new nk.Generator(seed + 21);
    const opt = new nk.optim.Adam(d.parameters(), { lr: 1e-3 });
    d.train();
    for (let s = 0; s < steps; s++) {
      nk.tidy(() => {
        const loss = nk.add(
          nk.bceWithLogits(d.call(leakBatch(data.train, trainClasses, false, g)), nk.ones([64, 1])),
          nk.bceWithLogits(d.call(leakBatch(data.train, trainClasses, true, g)), nk.zeros([64, 1])),
        );
        opt.zeroGrad();
        loss.backward();
        opt.step();
      });
    }
    // The same 10 real and 10 fake test batches for every way of asking.
    const t = new nk.Generator(seed + 22);
    const batches = Array.from({ length: 10 }, () =>
      [false, true].map((fake) => leakBatch(data.test, testClasses, fake, t)),
    );
    // Training mode under noGrad is the point here, so the guard's warning is turned off.
    const ask = (training: boolean, mixed: boolean) =>
      nk.noGrad(() => {
        d.train(training);
        const guard = nn.setBatchNormEvalGuard(!training);
        let right = 0,
          total = 0;
        for (const [real, fake] of batches) {
          nk.tidy(() => {
            // Half-real batches: the first 32 of each, together.
            const inputs = mixed
              ? [nk.concat([nk.slice(real, 0, 0, 32), nk.slice(fake, 0, 0, 32)], 0)]
              : [real, fake];
            inputs.forEach((x, k) => {
              const logits = d.call(x).data;
              for (let i = 0; i < logits.length; i++) {
                const isReal = mixed ? i < 32 : k === 0;
                if (logits[i] > 0 === isReal) right++;
                total++;
              }
            });
          });
        }
        nn.setBatchNormEvalGuard(guard);
        return right / total;
      });
    // Eval mode first: asking in training mode moves the running statistics.
    const out = bn ? [ask(false, false), ask(true, false), ask(true, true)] : [ask(false, false)];
    nk.dispose(batches.flat());
    disposeModel(d);
    return out;
  };
  const [perSample, perBatch, mixed] = accuracies(leakDiscriminator(true), true);
  const [noBn] = accuracies(leakDiscriminator(false), false);
  return [perBatch, perSample, mixed, noBn];
}

/** Images [n, 1, 28, 28] in normalized units to [−1, 1] (what tanh generates) and back. */
const toUnit = (v: number) => 2 * (v * STD + MEAN) - 1;
const fromUnit = (v: number) => ((v + 1) / 2 - MEAN) / STD;

/** The classifier's 128 features (the last Linear's input) of n images in normalized units. */
function features(classifier: nk.nn.Module, images: Float32Array, n: number): Float64Array {
  const last = (classifier as nk.nn.Sequential).layers.at(-1)!;
  const out = new Float64Array(n * 128);
  let at = 0;
  const h = last.registerForwardPreHook((_m, inputs) => {
    const f = (inputs[0] as nk.Tensor).data;
    out.set(f, at);
    at += f.length;
  });
  classifier.eval();
  try {
    nk.noGrad(() => {
      for (let s = 0; s < n; s += 250) {
        const k = Math.min(250, n - s);
        nk.tidy(
          () =>
            void classifier.call(
              nk.tensor(images.subarray(s * 784, (s + k) * 784), [k, 1, 28, 28]),
            ),
        );
      }
    });
  } finally {
    h.remove();
  }
  return out;
}

const finite = (xs: ArrayLike<number>) => Array.prototype.every.call(xs, Number.isFinite);

export const ganDiscriminator: Experiment<Run> = {
  name: 'gan-discriminator',
  claim:
    'A BatchNorm discriminator fed all-real and all-fake batches reads the batch: it tells a ' +
    'collapsed batch (one class) of real images from a varied one, which no image alone ' +
    'shows; spectral normalization in the ' +
    'discriminator trains GANs more stably and better than batch, layer or no normalization.',
  source:
    'Goodfellow 2016 (NIPS tutorial, on BN in GANs); Salimans et al. 2016; Miyato et al. 2018 ' +
    '(spectral normalization); Metz et al. 2017 and Srivastava et al. 2017 (the 8-Gaussian ring); ' +
    'Heusel et al. 2017 (FID)',
  setup: (mode) => {
    const b = budget(mode);
    return (
      '(a) Leakage: a CNN discriminator (2 × [conv 3×3, BatchNorm2d, LeakyReLU 0.2, max-pool], ' +
      'Linear) learns "real" batches of 64 training images from every class from "fake" ' +
      'batches of 64 training images all of one random class (a generator collapsed onto one ' +
      `mode; every image is real), Adam lr 1e-3, ${b.leakSteps} steps of one real and one fake ` +
      'batch, as GAN code feeds them; then its accuracy on such batches of test images asked per sample (eval mode), ' +
      'on pure batches (training mode) and on half-real batches (training mode), beside the ' +
      'same network without BatchNorm. (b) Ring: 8 Gaussians (sd 0.05) on a circle of radius ' +
      '2; generator MLP 8 → 128 → 128 → 2, discriminator MLP 2 → 128 → 128 → 1 with LeakyReLU ' +
      'and the norm after each hidden Linear (BatchNorm1d, spectralNorm on every Linear, ' +
      `LayerNorm, none); Adam lr 1e-3 β (0.5, 0.999), batch 256, ${b.ringSteps} steps; modes ` +
      'covered (≥ 1 % of 2,500 samples within 3 sd), share of samples within 3 sd of a mode, ' +
      'sd of the D loss over the second half. (c) DCGAN on the Fashion-MNIST training images ' +
      'in [−1, 1]: generator ConvTranspose2d 32 → 32×7×7 → 16×14×14 → 1×28×28 with BatchNorm2d ' +
      'and tanh; discriminator conv 4×4/2 16, LeakyReLU, conv 4×4/2 32, norm (BatchNorm2d, ' +
      'spectralNorm on every layer, GroupNorm(1, 32), none), LeakyReLU, Linear; Adam lr 2e-4 β ' +
      `(0.5, 0.999), batch 64, ${b.dcganSteps} steps. FID of ${b.fidN} samples against ` +
      `${b.fidN} test images in the 128 features of the README CNN (width 8, BatchNorm, ` +
      `${b.classifier} steps), beside the FID of training images against the test images.`
    );
  },
  rule:
    'Reproduced if, in the mean over seeds, (1) the BN discriminator is at least 10 points ' +
    'more accurate on pure batches in training mode than per sample in eval mode; with ' +
    'spectral normalization (2) the ring GAN covers at least as many modes as with each other ' +
    'norm, (3) its D loss oscillates least (lowest sd over the second half), and (4) the DCGAN ' +
    'has the lowest FID. Not reproduced if none holds; mixed otherwise.',
  quickSeconds: 49,
  measure(ctx) {
    const b = budget(ctx.mode);
    const out: Run = {
      leak: leakage(ctx.data, b.leakSteps, ctx.seed),
      ringModes: [],
      ringQuality: [],
      ringOscillation: [],
      ringPoints: [],
      fid: [],
      fidRealFloor: 0,
      grids: [],
    };
    ctx.progress(0.15);
    NORMS.forEach((norm, k) => {
      nk.manualSeed(ctx.seed);
      const gan = makeGan(ringGenerator(), ringDiscriminator(norm), [8], 1e-3);
      const g = new nk.Generator(ctx.seed + 31);
      const losses: number[] = [];
      for (let s = 0; s < b.ringSteps; s++)
        losses.push(nk.tidy(() => ganStep(gan, ringBatch(256, g))));
      const points = sample(gan, 2500);
      const q = finite(points) ? ringQuality(points) : { modes: 0, highQuality: 0 };
      out.ringModes.push(q.modes);
      out.ringQuality.push(q.highQuality);
      const tail = losses.slice(Math.floor(losses.length / 2));
      out.ringOscillation.push(finite(tail) ? sd(tail) : Number.MAX_VALUE);
      out.ringPoints.push(
        Array.from({ length: 300 }, (_, i) => [
          +points[2 * i].toFixed(3),
          +points[2 * i + 1].toFixed(3),
        ]),
      );
      disposeGan(gan);
      ctx.progress(0.15 + (0.25 * (k + 1)) / NORMS.length);
    });
    // The FID's feature space: the README CNN trained on the same images.
    nk.manualSeed(ctx.seed);
    const classifier = cnn({ width: 8, norm: 'batch' });
    trainModel(classifier, ctx.data.train, {
      lr: 0.05,
      steps: b.classifier,
      batchSize: 64,
      seed: ctx.seed,
    });
    const n = Math.min(b.fidN, ctx.data.test.count, ctx.data.train.count);
    const testFeatures = features(classifier, ctx.data.test.images, n);
    out.fidRealFloor = frechetDistance(
      features(classifier, ctx.data.train.images, n),
      n,
      testFeatures,
      n,
      128,
    );
    ctx.progress(0.5);
    const unit = ctx.data.train.images.map(toUnit);
    NORMS.forEach((norm, k) => {
      nk.manualSeed(ctx.seed);
      const gan = makeGan(imageGenerator(), imageDiscriminator(norm), [32, 1, 1], 2e-4);
      const g = new nk.Generator(ctx.seed + 41);
      for (let s = 0; s < b.dcganSteps; s++) {
        nk.tidy(() => {
          const x = new Float32Array(64 * 784);
          for (let i = 0; i < 64; i++) {
            const j = g.int(ctx.data.train.count);
            x.set(unit.subarray(j * 784, (j + 1) * 784), i * 784);
          }
          ganStep(gan, nk.tensor(x, [64, 1, 28, 28]));
        });
      }
      const samples = sample(gan, n);
      out.fid.push(
        finite(samples)
          ? frechetDistance(features(classifier, samples.map(fromUnit), n), n, testFeatures, n, 128)
          : null,
      );
      out.grids.push(
        Array.from({ length: 8 }, (_, i) =>
          Array.from(samples.subarray(i * 784, (i + 1) * 784), (v) => +((v + 1) / 2).toFixed(2)),
        ),
      );
      disposeGan(gan);
      ctx.progress(0.5 + (0.5 * (k + 1)) / NORMS.length);
    });
    disposeModel(classifier);
    return out;
  },
  judge(runs) {
    const m = (f: (r: Run) => number) => mean(runs.map(f));
    const leakGap = 100 * (m((r) => r.leak[0]) - m((r) => r.leak[1]));
    const modes = NORMS.map((_, k) => m((r) => r.ringModes[k]));
    const osc = NORMS.map((_, k) => m((r) => r.ringOscillation[k]));
    const fid = NORMS.map((_, k) => m((r) => r.fid[k] ?? Infinity));
    const others = (xs: number[]) => xs.filter((_, k) => k !== 1);
    const held = [
      leakGap >= 10,
      others(modes).every((v) => modes[1] >= v),
      others(osc).every((v) => osc[1] < v),
      others(fid).every((v) => fid[1] < v),
    ];
    const count = held.filter(Boolean).length;
    const p = (f: (r: Run) => number, scale = 1) => pm(runs.map((r) => scale * f(r)));
    const fidText = (k: number) =>
      runs.some((r) => r.fid[k] === null) ? 'not finite' : p((r) => r.fid[k]!);
    return {
      verdict: count === 4 ? 'reproduced' : count === 0 ? 'not reproduced' : 'mixed',
      because:
        `(a) BN discriminator: ${p((r) => r.leak[0], 100)} % on pure batches, ${p((r) => r.leak[1], 100)} % per sample ` +
        `(gap ${num(leakGap)} points), ${p((r) => r.leak[2], 100)} % on half-real batches; without BN ${p((r) => r.leak[3], 100)} % per sample. ` +
        `(b) Ring modes covered (batch, spectral, layer, none): ${NORMS.map((_, k) => p((r) => r.ringModes[k])).join(', ')}; ` +
        `D-loss sd ${NORMS.map((_, k) => p((r) => r.ringOscillation[k])).join(', ')}. ` +
        `(c) FID ${NORMS.map((_, k) => fidText(k)).join(', ')} (real images: ${p((r) => r.fidRealFloor)}). ` +
        `${count} of the rule's 4 conditions hold.`,
      summary: [
        ...LEAK.map((w, i) =>
          row(
            `(a) accuracy, ${w}`,
            runs.map((r) => 100 * r.leak[i]),
            '%',
          ),
        ),
        ...NORMS.flatMap((norm, k) => [
          row(
            `(b) ${norm}: modes covered of 8`,
            runs.map((r) => r.ringModes[k]),
          ),
          row(
            `(b) ${norm}: high-quality samples`,
            runs.map((r) => 100 * r.ringQuality[k]),
            '%',
          ),
          row(
            `(b) ${norm}: D-loss sd, second half`,
            runs.map((r) => r.ringOscillation[k]),
          ),
        ]),
        ...NORMS.map((norm, k) =>
          row(
            `(c) ${norm}: FID`,
            runs.map((r) => r.fid[k] ?? NaN),
          ),
        ),
        row(
          '(c) FID of training images (floor)',
          runs.map((r) => r.fidRealFloor),
        ),
      ],
    };
  },
  figures(runs) {
    const first = runs[0];
    const m = (f: (r: Run) => number) => mean(runs.map(f));
    return [
      barChart({
        title: '(a) How the BN discriminator is asked decides its accuracy',
        rows: LEAK.map((w, i) => ({
          category: w,
          y: 100 * m((r) => r.leak[i]),
          series: 'test accuracy',
        })),
        y: 'accuracy (%)',
        category: 'asked',
      }),
      scatterChart({
        title: '(b) Ring: 300 generated points per discriminator norm (first seed)',
        rows: first.ringPoints.flatMap((pts, k) =>
          pts.map(([x, y]) => ({ x, y, color: 'generated', panel: NORMS[k] })),
        ),
        x: 'x',
        y: 'y',
        color: '',
        domain: [-3, 3],
      }),
      barChart({
        title: '(b) Ring: modes covered (of 8) and high-quality share (×8)',
        rows: NORMS.flatMap((norm, k) => [
          { category: norm, y: m((r) => r.ringModes[k]), series: 'modes covered' },
          { category: norm, y: 8 * m((r) => r.ringQuality[k]), series: 'high-quality share × 8' },
        ]),
        y: 'value',
        category: 'discriminator norm',
      }),
      barChart({
        title: '(c) DCGAN: FID against the test images (lower is better)',
        rows: [
          ...NORMS.map((norm, k) => ({
            category: norm,
            y: m((r) => r.fid[k] ?? NaN),
            series: 'generated',
          })),
          { category: 'real (training images)', y: m((r) => r.fidRealFloor), series: 'floor' },
        ],
        y: 'FID',
        category: 'discriminator norm',
      }),
      imageGrid({
        title: '(c) DCGAN samples per discriminator norm (first seed)',
        panels: NORMS.map((norm, k) => ({
          panel: norm,
          images: first.grids[k].map((g) => Float32Array.from(g)),
        })),
        size: 28,
      }),
    ];
  },
};

function disposeGan(gan: Gan) {
  disposeModel(gan.g);
  disposeModel(gan.d);
}
