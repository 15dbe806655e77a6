// The claim: BatchNorm keeps gradients flowing through a deep plain network, where without it
// they vanish or explode from the last layer to the first. (Mean-field theory, Yang et al.
// 2019, predicts BatchNorm itself makes gradients explode with depth at initialization: the
// rule below is the tutorial claim, and the measurement decides.)
import * as nk from '../../index.js';
import { type Experiment, type Mode, mean, num, pm, row, overlapNote } from '../experiment.js';
import { type Norm, disposeModel, mlp, trainModel } from '../kit.js';
import { lineChart } from '../plot.js';

interface Run {
  depths: number[];
  /** norms[`${depth}/${norm}/${when}`][layer]: ‖∂L/∂W‖ of each Linear, first to last. */
  norms: Record<string, number[]>;
}

const plan = (mode: Mode) =>
  mode === 'tiny'
    ? { depths: [6, 10], steps: 10 }
    : { depths: [20, 50], steps: mode === 'full' ? 500 : 100 };

/** Per-layer weight-gradient norms of the Linear layers on one batch. */
function gradNorms(model: nk.nn.Module, x: nk.Tensor, labels: Uint8Array): number[] {
  const weights = model
    .namedParameters()
    .filter(([k, p]) => k.endsWith('weight') && p.rank === 2)
    .map(([, p]) => p);
  for (const p of model.parameters()) p.grad = null;
  nk.tidy(() => nk.crossEntropy(model.call(x), labels).backward());
  const out = weights.map((w) => {
    let s = 0;
    for (const v of w.grad!.toArray()) s += v * v;
    return Math.sqrt(s);
  });
  for (const p of model.parameters()) p.grad = null;
  return out;
}

const spread = (v: number[]) => Math.max(...v) / Math.max(1e-300, Math.min(...v));

export const gradientFlow: Experiment<Run> = {
  name: 'gradient-flow',
  claim:
    'BatchNorm keeps gradients healthy in deep plain networks: per-layer gradient norms stay ' +
    'within a small range with it, while without it they vanish or explode across the layers.',
  source: 'Ioffe & Szegedy 2015, section 3.3; contested by Yang et al. 2019 (mean-field theory)',
  setup: (mode) => {
    const p = plan(mode);
    return (
      `Plain MLPs of ${p.depths.join(' and ')} layers (width 64, PyTorch's default init), with ` +
      `BatchNorm before each ReLU and without; ‖∂L/∂W‖ of every Linear on one training batch ` +
      `of 64 at initialization and after ${p.steps} steps of SGD (lr 0.01, momentum 0.9).`
    );
  },
  rule:
    'Reproduced if, at initialization in the deepest network, the largest-to-smallest ratio of ' +
    'per-layer gradient norms is at most 100 with BatchNorm and at least 1e4 without (mean of ' +
    'log10 over seeds); mixed if only one holds; not reproduced if neither.',
  quickSeconds: 2,
  measure(ctx) {
    const p = plan(ctx.mode);
    const norms: Record<string, number[]> = {};
    const batch = ctx.data.train.images.subarray(0, 64 * 784);
    const labels = ctx.data.train.labels.slice(0, 64);
    const x = nk.tensor(batch, [64, 1, 28, 28]);
    const norms2: Norm[] = ['batch', 'none'];
    let done = 0;
    for (const depth of p.depths) {
      for (const norm of norms2) {
        nk.manualSeed(ctx.seed);
        const model = mlp({ depth, width: 64, norm });
        model.train();
        norms[`${depth}/${norm}/init`] = gradNorms(model, x, labels);
        trainModel(model, ctx.data.train, {
          lr: 0.01,
          steps: p.steps,
          batchSize: 64,
          seed: ctx.seed,
        });
        model.train();
        norms[`${depth}/${norm}/trained`] = gradNorms(model, x, labels);
        disposeModel(model);
        ctx.progress(++done / (p.depths.length * norms2.length));
      }
    }
    x.dispose();
    return { depths: p.depths, norms };
  },
  judge(runs) {
    const deepest = Math.max(...runs[0].depths);
    const logSpread = (key: string) => runs.map((r) => Math.log10(spread(r.norms[key])));
    const bn = logSpread(`${deepest}/batch/init`);
    const none = logSpread(`${deepest}/none/init`);
    const bnOk = mean(bn) <= 2;
    const noneOk = mean(none) >= 4;
    const summary = runs[0].depths.flatMap((d) =>
      (['batch', 'none'] as Norm[]).flatMap((n) => [
        row(
          `depth ${d}, ${n === 'batch' ? 'BatchNorm' : 'no norm'}: log10 max/min ‖∂L/∂W‖ at init`,
          logSpread(`${d}/${n}/init`),
        ),
        row(
          `depth ${d}, ${n === 'batch' ? 'BatchNorm' : 'no norm'}: log10 first/last ‖∂L/∂W‖ at init`,
          runs.map((r) => {
            const v = r.norms[`${d}/${n}/init`];
            return Math.log10(v[0] / v[v.length - 1]);
          }),
        ),
        row(
          `depth ${d}, ${n === 'batch' ? 'BatchNorm' : 'no norm'}: log10 max/min ‖∂L/∂W‖ after training`,
          logSpread(`${d}/${n}/trained`),
        ),
      ]),
    );
    return {
      verdict: bnOk && noneOk ? 'reproduced' : bnOk || noneOk ? 'mixed' : 'not reproduced',
      because:
        `At depth ${deepest}, at initialization, per-layer gradient norms span ` +
        `10^${pm(bn)} with BatchNorm and 10^${pm(none)} without${overlapNote(bn, none)}` +
        `${
          bnOk
            ? ''
            : ` (with BatchNorm over the 10^2 of the rule: first/last layer ratio 10^${num(
                mean(
                  runs.map((r) => {
                    const v = r.norms[`${deepest}/batch/init`];
                    return Math.log10(v[0] / v[v.length - 1]);
                  }),
                ),
              )})`
        }.`,
      summary,
    };
  },
  figures(runs) {
    return runs[0].depths.map((d) => {
      const rows = (['batch', 'none'] as Norm[]).flatMap((n) =>
        (['init', 'trained'] as const).flatMap((when) =>
          runs[0].norms[`${d}/${n}/${when}`].map((_, l) => ({
            x: l + 1,
            y: Math.exp(mean(runs.map((r) => Math.log(r.norms[`${d}/${n}/${when}`][l])))),
            series: `${n === 'batch' ? 'BatchNorm' : 'no norm'}, ${when === 'init' ? 'at init' : 'after training'}`,
          })),
        ),
      );
      return lineChart({
        title: `Per-layer gradient norm, ${d}-layer plain MLP`,
        rows,
        x: 'layer (1 = first)',
        y: '‖∂L/∂W‖ (log scale)',
        logY: true,
      });
    });
  },
};
