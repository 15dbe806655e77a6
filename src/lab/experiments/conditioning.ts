// Two ways BatchNorm is said to ease optimization: standardizing a layer's inputs turns their
// covariance into a correlation matrix, which is better conditioned; and it makes the loss
// landscape smoother along the gradient (Santurkar et al. 2018).
import * as nk from '../../index.js';
import { type Experiment, type Mode, mean, num, pm, row, overlapNote } from '../experiment.js';
import { symmetricEigenvalues } from '../eigen.js';
import { type Norm, disposeModel, mlp, probeForward, trainModel } from '../kit.js';
import { lineChart } from '../plot.js';

const NORMS: Norm[] = ['batch', 'none'];
const STEP_SIZES = [0.05, 0.1, 0.2, 0.4];

interface Run {
  /** log10 condition numbers of the second layer's input covariance and correlation. */
  logCondCovariance: number;
  logCondCorrelation: number;
  /** Per norm, per checkpoint: loss range and largest gradient change along −∇L. */
  steps: number[];
  lossRange: Record<Norm, number[]>;
  gradChange: Record<Norm, number[]>;
}

const plan = (mode: Mode) =>
  mode === 'tiny'
    ? { samples: 256, steps: 20, checkpoints: 2 }
    : { samples: 2000, steps: mode === 'full' ? 2000 : 400, checkpoints: 8 };

/** Inputs of the model's second Linear (after the first ReLU) on n training images. */
function hiddenInputs(
  model: nk.nn.Module,
  images: Float32Array,
  n: number,
): { x: Float64Array; F: number } {
  const second = model.namedModules().filter(([, m]) => m instanceof nk.nn.Linear)[1][1];
  let x = new Float64Array(0),
    F = 0;
  const h = second.registerForwardPreHook((_m, inputs) => {
    const t = inputs[0] as nk.Tensor;
    F = t.shape[1];
    x = Float64Array.from(t.data);
  });
  nk.tidy(() => probeForward(model, nk.tensor(images.subarray(0, n * 784), [n, 1, 28, 28])));
  h.remove();
  return { x, F };
}

/** log10 λmax/λmin of the covariance and of the correlation matrix (constant units left out). */
function conditioning(x: Float64Array, n: number, F: number): { cov: number; corr: number } {
  const mu = new Float64Array(F);
  for (let i = 0; i < n; i++) for (let f = 0; f < F; f++) mu[f] += x[i * F + f] / n;
  const cov = new Float64Array(F * F);
  for (let i = 0; i < n; i++)
    for (let a = 0; a < F; a++) {
      const da = x[i * F + a] - mu[a];
      for (let b = a; b < F; b++) cov[a * F + b] += (da * (x[i * F + b] - mu[b])) / (n - 1);
    }
  const live = Array.from({ length: F }, (_, f) => f).filter((f) => cov[f * F + f] > 1e-10);
  const k = live.length;
  const c = new Float64Array(k * k),
    r = new Float64Array(k * k);
  live.forEach((a, i) =>
    live.forEach((b, j) => {
      const v = a <= b ? cov[a * F + b] : cov[b * F + a];
      c[i * k + j] = v;
      r[i * k + j] = v / Math.sqrt(cov[a * F + a] * cov[b * F + b]);
    }),
  );
  const cond = (m: Float64Array) => {
    const e = symmetricEigenvalues(m, k);
    return Math.log10(e[k - 1] / Math.max(e[0], 1e-12 * e[k - 1]));
  };
  return { cov: cond(c), corr: cond(r) };
}

/** Loss range and largest gradient change for steps of several sizes along −∇L on one batch. */
function smoothness(
  model: nk.nn.Module,
  x: nk.Tensor,
  labels: Uint8Array,
): { range: number; change: number } {
  const params = model.parameters();
  const saved = Object.entries(model.stateDict()).map(([k, t]) => [k, t.toArray()] as const);
  const lossAndGrad = () => {
    for (const p of params) p.grad = null;
    const loss = nk.tidy(() => {
      const l = nk.crossEntropy(model.call(x), labels);
      l.backward();
      return l.item();
    });
    const g = params.map((p) => p.grad!.toArray());
    return { loss, g };
  };
  const restore = () => {
    const sd = model.stateDict();
    for (const [k, v] of saved) sd[k].data.set(v);
  };
  const base = lossAndGrad();
  restore();
  const losses: number[] = [];
  let change = 0;
  for (const eta of STEP_SIZES) {
    params.forEach((p, i) => p.data.set(p.data.map((v, j) => v - eta * base.g[i][j])));
    const r = lossAndGrad();
    losses.push(r.loss);
    let d = 0;
    r.g.forEach((gi, i) => gi.forEach((v, j) => (d += (v - base.g[i][j]) ** 2)));
    change = Math.max(change, Math.sqrt(d));
    restore();
  }
  for (const p of params) p.grad = null;
  return { range: Math.max(...losses) - Math.min(...losses), change };
}

export const conditioningExperiment: Experiment<Run> = {
  name: 'conditioning',
  claim:
    'Standardizing a layer’s inputs, as BatchNorm does, turns their covariance into a better ' +
    'conditioned correlation matrix, and BatchNorm makes the loss smoother along the gradient: ' +
    'smaller loss changes and gradient changes for the same step.',
  source:
    'LeCun et al. 1998 (Efficient BackProp); Santurkar et al. 2018 (How does BN help optimization?)',
  setup: (mode) => {
    const p = plan(mode);
    return (
      `A 4-layer MLP (width 128) without normalization trained ${p.steps} steps (SGD lr 0.05, ` +
      `momentum 0.9, batch 64): eigenvalues of its second layer’s input covariance and ` +
      `correlation over ${p.samples} training images. The same MLP with and without BatchNorm: at ` +
      `${p.checkpoints} points of training, on one batch of 64, the loss and gradient after steps ` +
      `of ${STEP_SIZES.join(', ')} along −∇L (Santurkar et al.'s loss range and gradient change).`
    );
  },
  rule:
    'Reproduced if, in the mean over seeds, the correlation matrix’s condition number is at ' +
    'least 10x smaller than the covariance’s, and both the loss range and the gradient change ' +
    'averaged over training are at most half as large with BatchNorm as without. Mixed if some ' +
    'of the three hold; not reproduced if none.',
  quickSeconds: 2,
  measure(ctx) {
    const p = plan(ctx.mode);
    const run = { steps: [], lossRange: {}, gradChange: {} } as unknown as Run;
    const batch = nk.tensor(ctx.data.train.images.subarray(0, 64 * 784), [64, 1, 28, 28]);
    const labels = ctx.data.train.labels.slice(0, 64);
    const every = Math.max(1, Math.floor(p.steps / p.checkpoints));
    for (const [i, norm] of NORMS.entries()) {
      nk.manualSeed(ctx.seed);
      const model = mlp({ depth: 4, width: 128, norm });
      run.lossRange[norm] = [];
      run.gradChange[norm] = [];
      trainModel(model, ctx.data.train, {
        lr: 0.05,
        steps: p.steps,
        batchSize: 64,
        seed: ctx.seed,
        onStep: (s) => {
          if ((s + 1) % every !== 0) return;
          const r = smoothness(model, batch, labels);
          run.lossRange[norm].push(r.range);
          run.gradChange[norm].push(r.change);
          if (i === 0) run.steps.push(s + 1);
        },
        progress: (f) => ctx.progress((0.8 * (i + f)) / NORMS.length),
      });
      if (norm === 'none') {
        const n = Math.min(p.samples, ctx.data.train.count);
        const h = hiddenInputs(model, ctx.data.train.images, n);
        const c = conditioning(h.x, n, h.F);
        run.logCondCovariance = c.cov;
        run.logCondCorrelation = c.corr;
      }
      disposeModel(model);
    }
    batch.dispose();
    ctx.progress(1);
    return run;
  },
  judge(runs) {
    const cov = runs.map((r) => r.logCondCovariance),
      corr = runs.map((r) => r.logCondCorrelation);
    const avg = (pick: (r: Run) => number[]) => runs.map((r) => mean(pick(r)));
    const lr = { batch: avg((r) => r.lossRange.batch), none: avg((r) => r.lossRange.none) };
    const gc = { batch: avg((r) => r.gradChange.batch), none: avg((r) => r.gradChange.none) };
    const conds = [
      mean(cov) - mean(corr) >= 1,
      mean(lr.batch) <= 0.5 * mean(lr.none),
      mean(gc.batch) <= 0.5 * mean(gc.none),
    ];
    const held = conds.filter(Boolean).length;
    return {
      verdict: held === 3 ? 'reproduced' : held === 0 ? 'not reproduced' : 'mixed',
      because:
        `Condition number 10^${pm(cov)} for the covariance, 10^${pm(corr)} for the correlation. ` +
        `Loss range along −∇L ${pm(lr.batch)} with BatchNorm against ${pm(lr.none)} without` +
        `${overlapNote(lr.batch, lr.none)}; gradient change ${pm(gc.batch)} against ${pm(gc.none)}${overlapNote(gc.batch, gc.none)} (ratios ${num(mean(lr.batch) / mean(lr.none))} ` +
        `and ${num(mean(gc.batch) / mean(gc.none))}).`,
      summary: [
        row('log10 condition number, input covariance (no norm)', cov),
        row('log10 condition number, input correlation (no norm)', corr),
        row('loss range along −∇L, BatchNorm', lr.batch),
        row('loss range along −∇L, no norm', lr.none),
        row('gradient change along −∇L, BatchNorm', gc.batch),
        row('gradient change along −∇L, no norm', gc.none),
      ],
    };
  },
  figures(runs) {
    const rows = (pick: (r: Run) => Record<Norm, number[]>) =>
      NORMS.flatMap((n) =>
        runs[0].steps.map((x, k) => ({
          x,
          y: mean(runs.map((r) => pick(r)[n][k])),
          series: n === 'batch' ? 'BatchNorm' : 'no norm',
        })),
      );
    return [
      lineChart({
        title: 'Loss range along the gradient (steps 0.05 to 0.4)',
        rows: rows((r) => r.lossRange),
        x: 'training step',
        y: 'max − min loss',
        logY: true,
      }),
      lineChart({
        title: 'Gradient change along the gradient',
        rows: rows((r) => r.gradChange),
        x: 'training step',
        y: 'max ‖∇L(θ − η∇L) − ∇L(θ)‖',
        logY: true,
      }),
    ];
  },
};
