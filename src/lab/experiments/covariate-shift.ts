// Internal covariate shift: the distribution of each layer's input keeps moving as the layers
// before it learn. The original motivation of BatchNorm is that it reduces this movement
// (Santurkar et al. 2018 measured that it hardly does).
import * as nk from '../../index.js';
import { type Experiment, mean, pm, row, overlapNote } from '../experiment.js';
import { type Norm, disposeModel, mlp, probeBatch, probeForward, trainModel } from '../kit.js';
import { lineChart } from '../plot.js';

const NORMS: Norm[] = ['batch', 'none'];
const DEPTH = 5;

interface Run {
  steps: number[];
  /** drift[norm][layer][k]: movement of the layer's input between checkpoints k and k+1. */
  drift: Record<Norm, number[][]>;
}

/** Per-unit mean and variance of each hidden Linear's input on a probe batch (eval mode). */
function snapshot(model: nk.nn.Module, x: nk.Tensor): { mu: Float64Array; v: Float64Array }[] {
  const linears = model
    .namedModules()
    .filter(([, m]) => m instanceof nk.nn.Linear)
    .slice(1);
  const out: { mu: Float64Array; v: Float64Array }[] = [];
  const hs = linears.map(([, m]) =>
    m.registerForwardPreHook((_m, inputs) => {
      const t = inputs[0] as nk.Tensor;
      const mu = Float64Array.from(nk.mean(t, 0).toArray());
      const v = Float64Array.from(nk.variance(t, 0, { correction: 0 }).toArray());
      out.push({ mu, v });
    }),
  );
  probeForward(model, x);
  for (const h of hs) h.remove();
  return out;
}

/** Mean over units of |Δμ|/σ plus |Δ log σ²| (units silent in both snapshots are skipped). */
function drift(
  a: { mu: Float64Array; v: Float64Array },
  b: { mu: Float64Array; v: Float64Array },
): number {
  const terms: number[] = [];
  for (let f = 0; f < a.mu.length; f++) {
    const s = Math.sqrt((a.v[f] + b.v[f]) / 2);
    if (!(s > 1e-6)) continue;
    terms.push(
      Math.abs(b.mu[f] - a.mu[f]) / s + Math.abs(Math.log((b.v[f] + 1e-12) / (a.v[f] + 1e-12))),
    );
  }
  return mean(terms);
}

export const covariateShift: Experiment<Run> = {
  name: 'covariate-shift',
  claim:
    'BatchNorm reduces internal covariate shift: the distribution of each hidden layer’s input ' +
    'moves less during training with it than without.',
  source: 'Ioffe & Szegedy 2015 (the motivation); questioned by Santurkar et al. 2018',
  setup: (mode) =>
    `A ${DEPTH}-layer MLP (width 128) with and without BatchNorm, SGD lr 0.05, momentum 0.9, ` +
    `batch 64, ${mode === 'full' ? 2000 : mode === 'quick' ? 400 : 20} steps; about 20 times, ` +
    'each hidden Linear’s input on 512 test images (eval mode): per unit, |Δmean|/sd + ' +
    '|Δ log variance| between consecutive checkpoints, averaged over units, summed over training.',
  rule:
    'Reproduced if the total drift with BatchNorm, averaged over layers and seeds, is at most ' +
    'half of the drift without it; mixed if smaller but more than half; not reproduced if not smaller.',
  quickSeconds: 2,
  measure(ctx) {
    const steps = ctx.mode === 'full' ? 2000 : ctx.mode === 'quick' ? 400 : 20;
    const every = Math.max(1, Math.floor(steps / 20));
    const x = probeBatch(ctx.data.test);
    const run: Run = { steps: [], drift: { batch: [], none: [] } };
    for (const [i, norm] of NORMS.entries()) {
      nk.manualSeed(ctx.seed);
      const model = mlp({ depth: DEPTH, width: 128, norm });
      let prev = snapshot(model, x);
      const perLayer: number[][] = prev.map(() => []);
      trainModel(model, ctx.data.train, {
        lr: 0.05,
        steps,
        batchSize: 64,
        seed: ctx.seed,
        onStep: (s) => {
          if ((s + 1) % every !== 0) return;
          const next = snapshot(model, x);
          next.forEach((snap, l) => perLayer[l].push(drift(prev[l], snap)));
          prev = next;
          if (i === 0) run.steps.push(s + 1);
        },
        progress: (f) => ctx.progress((i + f) / NORMS.length),
      });
      run.drift[norm] = perLayer;
      disposeModel(model);
    }
    x.dispose();
    return run;
  },
  judge(runs) {
    const total = (norm: Norm) =>
      runs.map((r) => mean(r.drift[norm].map((d) => d.reduce((a, b) => a + b, 0))));
    const bn = total('batch'),
      none = total('none');
    const q = mean(bn) / mean(none);
    const layers = runs[0].drift.batch.length;
    return {
      verdict: q <= 0.5 ? 'reproduced' : q < 1 ? 'mixed' : 'not reproduced',
      because: `Total drift of hidden-layer inputs over training: ${pm(bn)} with BatchNorm, ${pm(none)} without (ratio ${q.toFixed(2)})${overlapNote(bn, none)}.`,
      summary: [
        row('total drift, BatchNorm (mean over layers)', bn),
        row('total drift, no norm (mean over layers)', none),
        ...Array.from({ length: layers }, (_, l) =>
          row(
            `layer ${l + 2} input: total drift, BatchNorm`,
            runs.map((r) => r.drift.batch[l].reduce((a, b) => a + b, 0)),
          ),
        ),
        ...Array.from({ length: layers }, (_, l) =>
          row(
            `layer ${l + 2} input: total drift, no norm`,
            runs.map((r) => r.drift.none[l].reduce((a, b) => a + b, 0)),
          ),
        ),
      ],
    };
  },
  figures(runs) {
    return [
      lineChart({
        title: 'Drift of hidden-layer inputs between checkpoints (mean over layers)',
        rows: NORMS.flatMap((norm) =>
          runs[0].steps.map((x, k) => ({
            x,
            y: mean(runs.map((r) => mean(r.drift[norm].map((d) => d[k])))),
            series: norm === 'batch' ? 'BatchNorm' : 'no norm',
          })),
        ),
        x: 'training step',
        y: 'drift per checkpoint',
        logY: true,
      }),
    ];
  },
};
