// BatchNorm speeds training up: each network at its own best learning rate, the one with
// BatchNorm reaches a target accuracy in a fraction of the steps.
import * as nk from '../../index.js';
import type { Split } from '../../data/fashion-mnist.js';
import { type Experiment, type Mode, mean, num, pm, row, overlapNote } from '../experiment.js';
import { type Norm, accuracy, cnn, disposeModel, mlp, trainModel } from '../kit.js';
import { lineChart } from '../plot.js';

const NORMS: Norm[] = ['batch', 'none'];

interface Run {
  target: number;
  lrs: number[];
  /** Per norm: the best rate, its steps and seconds to the target (Infinity: never), its curve. */
  best: Record<Norm, { lr: number; steps: number; seconds: number; curve: [number, number][] }>;
}

const plan = (mode: Mode) =>
  mode === 'tiny'
    ? { model: 'mlp', lrs: [0.03, 0.3], steps: 20, every: 5, target: 0.3 }
    : mode === 'quick'
      ? { model: 'mlp', lrs: [0.01, 0.03, 0.1, 0.3, 1], steps: 800, every: 20, target: 0.8 }
      : {
          model: 'cnn',
          lrs: [0.003, 0.01, 0.03, 0.1, 0.3, 1],
          steps: 1500,
          every: 50,
          target: 0.85,
        };

const probeSet = (test: Split, n: number): Split => ({
  images: test.images.subarray(0, n * 784),
  labels: test.labels.subarray(0, n),
  count: Math.min(n, test.count),
});

export const convergence: Experiment<Run> = {
  name: 'convergence',
  claim:
    'BatchNorm speeds up training: at each variant’s own best learning rate, the network with ' +
    'BatchNorm reaches a target test accuracy in a fraction of the steps (the "2–3x faster" ' +
    'of the tutorials; the paper reports 14x for Inception).',
  source: 'Ioffe & Szegedy 2015, section 4.2',
  setup: (mode) => {
    const p = plan(mode);
    return (
      `${p.model === 'mlp' ? 'A 4-layer MLP (width 128)' : 'The README CNN (width 8)'} with and ` +
      `without BatchNorm, SGD (momentum 0.9, batch 64) at each rate in {${p.lrs.join(', ')}} for ` +
      `up to ${p.steps} steps; test accuracy on 1,000 test images every ${p.every} steps; each ` +
      `variant at the rate that reaches ${p.target} soonest.`
    );
  },
  rule:
    'Reproduced if, in the mean over seeds, the network without BatchNorm needs at least 2x the ' +
    'steps of the one with it to reach the target (never reaching it counts as infinitely ' +
    'many); mixed if 1.2x to 2x; not reproduced below 1.2x.',
  quickSeconds: 11,
  measure(ctx) {
    const p = plan(ctx.mode);
    const probe = probeSet(ctx.data.test, 1000);
    const best = {} as Run['best'];
    let done = 0;
    for (const norm of NORMS) {
      for (const lr of p.lrs) {
        nk.manualSeed(ctx.seed);
        const model =
          p.model === 'mlp' ? mlp({ depth: 4, width: 128, norm }) : cnn({ width: 8, norm });
        const curve: [number, number][] = [];
        let reached = Infinity,
          seconds = Infinity,
          trainingMs = 0,
          t0 = performance.now();
        trainModel(model, ctx.data.train, {
          lr,
          steps: p.steps,
          batchSize: 64,
          seed: ctx.seed,
          onStep: (s) => {
            if ((s + 1) % p.every !== 0 || reached < Infinity) return;
            trainingMs += performance.now() - t0;
            const a = accuracy(model, probe);
            curve.push([s + 1, a]);
            if (a >= p.target) {
              reached = s + 1;
              seconds = trainingMs / 1000;
            }
            t0 = performance.now();
          },
        });
        // The rate that gets there soonest; if none does, the one that got closest.
        const cand = { lr, steps: reached, seconds, curve };
        const top = (c: typeof cand) => Math.max(0, ...c.curve.map(([, a]) => a));
        const prev = best[norm];
        if (
          !prev ||
          cand.steps < prev.steps ||
          (cand.steps === prev.steps && top(cand) > top(prev))
        )
          best[norm] = cand;
        disposeModel(model);
        ctx.progress(++done / (NORMS.length * p.lrs.length));
      }
    }
    return { target: p.target, lrs: p.lrs, best };
  },
  judge(runs) {
    const steps = (n: Norm) => runs.map((r) => r.best[n].steps);
    const ratio = mean(steps('none')) / mean(steps('batch'));
    const never = (n: Norm) => steps(n).some((s) => s === Infinity);
    return {
      verdict: ratio >= 2 ? 'reproduced' : ratio >= 1.2 ? 'mixed' : 'not reproduced',
      because:
        `Steps to ${runs[0].target} test accuracy: ${pm(steps('batch'))} with BatchNorm (best lr ` +
        `${pm(runs.map((r) => r.best.batch.lr))}), ${pm(steps('none'))} without (best lr ` +
        `${pm(runs.map((r) => r.best.none.lr))})${never('none') ? ', which did not always get there' : ''}; ` +
        `${num(ratio)}x fewer steps with BatchNorm${overlapNote(steps('batch'), steps('none'))}; training time ${pm(runs.map((r) => r.best.batch.seconds))} s ` +
        `against ${pm(runs.map((r) => r.best.none.seconds))} s.`,
      summary: NORMS.flatMap((n) => [
        row(`${n === 'batch' ? 'BatchNorm' : 'no norm'}: steps to target`, steps(n)),
        row(
          `${n === 'batch' ? 'BatchNorm' : 'no norm'}: training seconds to target`,
          runs.map((r) => r.best[n].seconds),
        ),
        row(
          `${n === 'batch' ? 'BatchNorm' : 'no norm'}: best learning rate`,
          runs.map((r) => r.best[n].lr),
        ),
      ]),
    };
  },
  figures(runs) {
    return [
      lineChart({
        title: `Test accuracy while training, each at its best rate (first seed; target ${runs[0].target})`,
        rows: NORMS.flatMap((n) =>
          runs[0].best[n].curve.map(([x, y]) => ({
            x,
            y,
            series: `${n === 'batch' ? 'BatchNorm' : 'no norm'} (lr ${runs[0].best[n].lr})`,
          })),
        ),
        x: 'training step',
        y: 'test accuracy (fraction, 1,000 images)',
      }),
    ];
  },
};
