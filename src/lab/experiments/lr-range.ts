// BatchNorm lets a network train at much higher learning rates: the same network without it
// diverges at rates that BatchNorm takes in its stride.
import * as nk from '../../index.js';
import { type Experiment, type Mode, band, mean, num, overlaps, pm, row } from '../experiment.js';
import { type Norm, accuracy, cnn, disposeModel, geometric, mlp, trainModel } from '../kit.js';
import { lineChart } from '../plot.js';

const NORMS: Norm[] = ['batch', 'none'];

interface Point {
  model: string;
  norm: Norm;
  lr: number;
  testAccuracy: number;
  finalLoss: number;
  stable: boolean;
}

interface Run {
  points: Point[];
}

function plan(mode: Mode) {
  if (mode === 'tiny') return { lrs: [0.01, 0.1, 1], steps: 15, models: ['mlp4'] };
  if (mode === 'quick') return { lrs: geometric(0.003, 3.2, 2), steps: 200, models: ['mlp4'] };
  return { lrs: geometric(0.003, 3.2, 2), steps: 500, models: ['mlp6', 'cnn'] };
}

function build(name: string, norm: Norm): nk.nn.Module {
  if (name === 'cnn') return cnn({ width: 16, norm });
  return mlp({ depth: Number(name.slice(3)), width: 128, norm });
}

/** The largest rate in the grid that trained stably, per model and norm. */
function maxStable(points: Point[], model: string, norm: Norm): number {
  const ok = points.filter((p) => p.model === model && p.norm === norm && p.stable);
  return ok.length === 0 ? 0 : Math.max(...ok.map((p) => p.lr));
}

const label = (model: string) =>
  model === 'cnn' ? 'the README CNN (width 16)' : `a ${model.slice(3)}-layer MLP (width 128)`;

export const lrRange: Experiment<Run> = {
  name: 'lr-range',
  claim:
    'BatchNorm allows much higher learning rates: the largest rate at which a network still ' +
    'trains is several times higher with BatchNorm than without.',
  source: 'Ioffe & Szegedy 2015, section 3.3; Bjorck et al. 2018',
  setup: (mode) => {
    const p = plan(mode);
    return (
      `${p.models.map(label).join(' and ')}, with and without BatchNorm, SGD (momentum 0.9, ` +
      `batch 64) for ${p.steps} steps at each learning rate in {${p.lrs.join(', ')}}; a run is ` +
      'stable when its loss stays finite, ends below where it started, and test accuracy ' +
      'exceeds 20 % (chance is 10 %).'
    );
  },
  rule:
    'Reproduced if the largest stable rate with BatchNorm is at least 4x the largest without ' +
    '(mean over seeds, every model), mixed if at least 2x, not reproduced below.',
  quickSeconds: 8,
  measure(ctx) {
    const p = plan(ctx.mode);
    const points: Point[] = [];
    const total = p.models.length * NORMS.length * p.lrs.length;
    for (const model of p.models) {
      for (const norm of NORMS) {
        for (const lr of p.lrs) {
          nk.manualSeed(ctx.seed);
          const m = build(model, norm);
          const r = trainModel(m, ctx.data.train, {
            lr,
            steps: p.steps,
            batchSize: 64,
            seed: ctx.seed,
          });
          const testAccuracy = accuracy(m, ctx.data.test);
          const finalLoss = r.losses[r.losses.length - 1];
          points.push({
            model,
            norm,
            lr,
            testAccuracy: Number.isFinite(testAccuracy) ? testAccuracy : 0,
            finalLoss: Number.isFinite(finalLoss) ? finalLoss : Infinity,
            stable: !r.diverged && testAccuracy > 0.2,
          });
          disposeModel(m);
          ctx.progress(points.length / total);
        }
      }
    }
    return { points };
  },
  judge(runs) {
    const models = [...new Set(runs[0].points.map((p) => p.model))];
    const summary = [];
    const ratios: number[] = [];
    const parts: string[] = [];
    for (const model of models) {
      const bn = runs.map((r) => maxStable(r.points, model, 'batch'));
      const none = runs.map((r) => maxStable(r.points, model, 'none'));
      const ratio = mean(none) > 0 ? mean(bn) / mean(none) : Infinity;
      ratios.push(ratio);
      const best = (norm: Norm) =>
        runs.map((r) =>
          Math.max(
            ...r.points
              .filter((p) => p.model === model && p.norm === norm)
              .map((p) => p.testAccuracy),
          ),
        );
      summary.push(
        row(`${model}: largest stable lr, BatchNorm`, bn),
        row(`${model}: largest stable lr, no norm`, none),
        row(`${model}: best test accuracy, BatchNorm`, best('batch')),
        row(`${model}: best test accuracy, no norm`, best('none')),
      );
      parts.push(
        `${label(model)}: largest stable rate ${pm(bn)} with BatchNorm against ${pm(none)} ` +
          `without (${num(ratio)}x${overlaps(bn, none) ? '; the seeds overlap' : ''}); best test ` +
          `accuracy ${pm(best('batch'))} against ${pm(best('none'))}`,
      );
    }
    const worst = Math.min(...ratios);
    return {
      verdict: worst >= 4 ? 'reproduced' : worst >= 2 ? 'mixed' : 'not reproduced',
      because: parts.map((t) => t[0].toUpperCase() + t.slice(1)).join('. ') + '.',
      summary,
    };
  },
  figures(runs) {
    const models = [...new Set(runs[0].points.map((p) => p.model))];
    return models.map((model) => {
      const rows = runs[0].points
        .filter((p) => p.model === model)
        .map((p) => {
          const same = runs.map(
            (r) =>
              r.points.find((q) => q.model === model && q.norm === p.norm && q.lr === p.lr)!
                .testAccuracy,
          );
          return {
            x: p.lr,
            ...band(same),
            series: p.norm === 'batch' ? 'BatchNorm' : 'no norm',
          };
        });
      return lineChart({
        title: `Test accuracy against learning rate, ${label(model)}`,
        rows,
        x: 'learning rate (log scale)',
        y: 'test accuracy (fraction)',
        logX: true,
      });
    });
  },
};
