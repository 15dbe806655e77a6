// BatchNorm makes the layer before it scale-invariant: W·α gives the same output and a
// gradient 1/α as large, so without weight decay the weights grow and the effective step
// η/‖W‖² shrinks as training goes on.
import * as nk from '../../index.js';
import { type Experiment, band, mean, num, pm, row } from '../experiment.js';
import { disposeModel, maxAbsDiff, mlp, trainModel } from '../kit.js';
import { lineChart } from '../plot.js';

const { nn } = nk;
const ALPHAS = [0.01, 0.1, 1, 10, 100];
const EPS = 1e-5;

interface Run {
  alphas: number[];
  /** max |y(α) − y(1)| and α·‖∂L/∂W(α)‖ / ‖∂L/∂W(1)‖ per α. */
  outputDiff: number[];
  gradRatio: number[];
  /** max |y(αW, eps) − y(W, eps/α²)| per α: what eps alone explains. */
  epsExplained: number[];
  /** The smallest per-channel variance before BatchNorm at α = 1. */
  minVariance: number;
  steps: number[];
  weightNorm: number[];
  effectiveStep: number[];
  lr: number;
}

function norm(t: nk.Tensor): number {
  let s = 0;
  for (const v of t.toArray()) s += v * v;
  return Math.sqrt(s);
}

function exactPart(seed: number) {
  nk.manualSeed(seed);
  const lin = new nn.Linear(32, 16, { bias: false });
  const model = new nn.Sequential(lin, new nn.BatchNorm1d(16));
  const x = nk.randn([64, 32]);
  const readout = nk.randn([64, 16]);
  const w0 = Array.from(lin.weight.toArray());
  const minVariance = nk.noGrad(() =>
    nk.tidy(() => Math.min(...nk.variance(lin.call(x), 0).toArray())),
  );
  const at = (alpha: number) =>
    nk.tidy(() => {
      lin.weight.data.set(w0.map((v) => v * alpha));
      lin.weight.grad = null;
      const y = model.call(x);
      y.mul(readout).sum().backward();
      return { y: y.toArray(), g: norm(lin.weight.grad!) };
    });
  // y(αW) with eps equals y(W) with eps/α² exactly: the only departure from invariance.
  const withEps = (eps: number) =>
    nk.tidy(() => {
      lin.weight.data.set(w0);
      const bn = new nn.BatchNorm1d(16, { eps });
      const y = bn.call(lin.call(x)).toArray();
      disposeModel(bn);
      return y;
    });
  const base = at(1);
  const outputDiff: number[] = [],
    gradRatio: number[] = [],
    epsExplained: number[] = [];
  for (const a of ALPHAS) {
    const r = at(a);
    outputDiff.push(maxAbsDiff(r.y, base.y));
    gradRatio.push((a * r.g) / base.g);
    epsExplained.push(maxAbsDiff(r.y, withEps(EPS / a ** 2)));
  }
  disposeModel(model);
  nk.dispose([x, readout]);
  return { outputDiff, gradRatio, epsExplained, minVariance };
}

export const scaleInvariance: Experiment<Run> = {
  name: 'scale-invariance',
  claim:
    'With BatchNorm after it, a layer is scale-invariant: W·α gives the same output and a ' +
    'gradient 1/α as large, so without weight decay ‖W‖ grows and the effective step η/‖W‖² ' +
    'shrinks during training.',
  source: 'Ioffe & Szegedy 2015, section 3.3; van Laarhoven 2017; Hoffer et al. 2018',
  setup: (mode) =>
    `Exact part: Linear(32→16, no bias)+BatchNorm1d(16) in training mode on a random batch of ` +
    `64, W scaled by α ∈ {${ALPHAS.join(', ')}}. Training part: an MLP (784-128-128-10, ` +
    `BatchNorm, no bias before it), SGD lr 0.1, momentum 0.9, no weight decay, batch 64, ` +
    `${mode === 'full' ? 3000 : mode === 'quick' ? 600 : 40} steps; ‖W‖ of the first layer.`,
  rule:
    'Reproduced if (1) for every α, y(αW) with eps equals y(W) with eps/α² within 1e-4 (the ' +
    'identity behind the claim); (2) for every α with α²·(smallest pre-BN variance) ≥ 1000·eps ' +
    '(eps = 1e-5; there eps shifts outputs by a relative 5e-4 at most; below it the claim does ' +
    'not apply), max |Δy| ≤ 2e-3 and |α·‖∂L/∂W(α)‖/‖∂L/∂W(1)‖ − 1| ≤ 0.01; and (3) ‖W‖ ends ' +
    'larger than it starts in every seed. Mixed if some of these hold.',
  quickSeconds: 2,
  measure(ctx) {
    const exact = exactPart(ctx.seed);
    nk.manualSeed(ctx.seed);
    const model = mlp({ depth: 3, width: 128, norm: 'batch' });
    const first = model.parameters()[0];
    const steps: number[] = [],
      weightNorm: number[] = [],
      effectiveStep: number[] = [];
    const lr = 0.1;
    const total = ctx.mode === 'full' ? 3000 : ctx.mode === 'quick' ? 600 : 40;
    const every = Math.max(1, Math.floor(total / 60));
    const record = (step: number) => {
      const w = norm(first);
      steps.push(step);
      weightNorm.push(w);
      effectiveStep.push(lr / (w * w));
    };
    record(0);
    trainModel(model, ctx.data.train, {
      lr,
      steps: total,
      batchSize: 64,
      seed: ctx.seed,
      onStep: (s) => {
        if ((s + 1) % every === 0) record(s + 1);
      },
      progress: ctx.progress,
    });
    disposeModel(model);
    return { alphas: ALPHAS, ...exact, steps, weightNorm, effectiveStep, lr };
  },
  judge(runs) {
    const applies = (r: Run, i: number) => r.alphas[i] ** 2 * r.minVariance >= 1000 * EPS;
    const identityOk = runs.every((r) => r.epsExplained.every((d) => d <= 1e-4));
    let exactOk = true;
    for (const r of runs) {
      r.alphas.forEach((_, i) => {
        if (!applies(r, i)) return;
        if (r.outputDiff[i] > 2e-3 || Math.abs(r.gradRatio[i] - 1) > 0.01) exactOk = false;
      });
    }
    const grew = runs.map((r) => r.weightNorm[r.weightNorm.length - 1] / r.weightNorm[0]);
    const growOk = grew.every((g) => g > 1);
    const smallest = runs.map((r) => r.outputDiff[0]);
    const held = [identityOk, exactOk, growOk].filter(Boolean).length;
    return {
      verdict: held === 3 ? 'reproduced' : held === 0 ? 'not reproduced' : 'mixed',
      because:
        `y(αW, eps) and y(W, eps/α²) differ by at most ` +
        `${num(Math.max(...runs.flatMap((r) => r.epsExplained)))}. Where the rule applies the output changed by at most ` +
        `${num(Math.max(...runs.flatMap((r) => r.outputDiff.filter((_, i) => applies(r, i)))))} ` +
        `and α·‖g‖ stayed within ${num(Math.max(...runs.flatMap((r) => r.gradRatio.filter((_, i) => applies(r, i)).map((q) => Math.abs(q - 1)))))} ` +
        `of ‖g(1)‖; at α = 0.01 (eps no longer negligible) the output moved by ${pm(smallest)}. ` +
        `‖W‖ grew ${pm(grew)}x over training${growOk ? '' : ', not in every seed'}.`,
      summary: [
        ...ALPHAS.map((a, i) =>
          row(
            `max |Δy| at α = ${a}`,
            runs.map((r) => r.outputDiff[i]),
          ),
        ),
        ...ALPHAS.map((a, i) =>
          row(
            `α‖g(α)‖/‖g(1)‖ at α = ${a}`,
            runs.map((r) => r.gradRatio[i]),
          ),
        ),
        ...ALPHAS.map((a, i) =>
          row(
            `max |y(αW, eps) − y(W, eps/α²)| at α = ${a}`,
            runs.map((r) => r.epsExplained[i]),
          ),
        ),
        row(
          'smallest pre-BN variance at α = 1',
          runs.map((r) => r.minVariance),
        ),
        row('‖W‖ end / start', grew),
      ],
    };
  },
  figures(runs) {
    const steps = runs[0].steps;
    const series = (pick: (r: Run) => number[], name: string) =>
      steps.map((x, i) => ({ x, ...band(runs.map((r) => pick(r)[i])), series: name }));
    return [
      lineChart({
        title: 'Weight norm of the layer before BatchNorm during training (no weight decay)',
        rows: series((r) => r.weightNorm, '‖W‖'),
        x: 'training step',
        y: '‖W‖ (Frobenius)',
      }),
      lineChart({
        title: 'Effective step η/‖W‖²',
        rows: series((r) => r.effectiveStep, 'η/‖W‖²'),
        x: 'training step',
        y: 'η/‖W‖²',
        logY: true,
      }),
      lineChart({
        title: 'Scaling W by α: output change and gradient ratio',
        rows: runs[0].alphas.flatMap((a, i) => [
          { x: a, y: mean(runs.map((r) => r.gradRatio[i])), series: 'α·‖∂L/∂W(α)‖ / ‖∂L/∂W(1)‖' },
          { x: a, y: 1 + mean(runs.map((r) => r.outputDiff[i])), series: '1 + max |Δy|' },
        ]),
        x: 'α (scale of W)',
        y: 'ratio',
        logX: true,
      }),
    ];
  },
};
