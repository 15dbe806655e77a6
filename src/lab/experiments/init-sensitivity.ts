// BatchNorm makes training insensitive to the scale of the initial weights: each layer's
// output is renormalized whatever the weights' scale.
import * as nk from '../../index.js';
import { type Experiment, type Mode, band, mean, overlapNote, pm, row } from '../experiment.js';
import { type Norm, accuracy, disposeModel, mlp, trainModel } from '../kit.js';
import { lineChart } from '../plot.js';

const NORMS: Norm[] = ['batch', 'none'];

interface Run {
  gains: number[];
  accuracy: Record<Norm, number[]>;
}

const plan = (mode: Mode) =>
  mode === 'tiny'
    ? { gains: [0.1, 1, 10], steps: 15 }
    : { gains: [0.1, 0.3, 1, 3, 10], steps: mode === 'full' ? 1000 : 300 };

export const initSensitivity: Experiment<Run> = {
  name: 'init-sensitivity',
  claim:
    'With BatchNorm, training is insensitive to the scale of the initial weights; without it, ' +
    'too small or too large an init stalls or breaks training.',
  source: 'Ioffe & Szegedy 2015, section 3.3',
  setup: (mode) => {
    const p = plan(mode);
    return (
      `A 6-layer MLP (width 128) with and without BatchNorm, weights drawn from Kaiming normal ` +
      `(ReLU gain) times g ∈ {${p.gains.join(', ')}}, SGD lr 0.02, momentum 0.9, batch 64, ` +
      `${p.steps} steps; test accuracy.`
    );
  },
  rule:
    'Reproduced if, in the mean over seeds, the spread of test accuracy across init scales ' +
    '(best − worst) is at most 3 points with BatchNorm and at least 3 times as large without; ' +
    'mixed if only the first holds; not reproduced otherwise.',
  quickSeconds: 6,
  measure(ctx) {
    const p = plan(ctx.mode);
    const run: Run = { gains: p.gains, accuracy: { batch: [], none: [] } };
    let done = 0;
    for (const norm of NORMS) {
      for (const g of p.gains) {
        nk.manualSeed(ctx.seed);
        const model = mlp({ depth: 6, width: 128, norm });
        for (const [k, w] of model.namedParameters()) {
          if (!k.endsWith('weight') || w.rank !== 2) continue;
          nk.nn.init.kaimingNormal_(w, { nonlinearity: 'relu' });
          w.data.set(w.data.map((v) => v * g));
        }
        trainModel(model, ctx.data.train, {
          lr: 0.02,
          steps: p.steps,
          batchSize: 64,
          seed: ctx.seed,
        });
        run.accuracy[norm].push(accuracy(model, ctx.data.test));
        disposeModel(model);
        ctx.progress(++done / (NORMS.length * p.gains.length));
      }
    }
    return run;
  },
  judge(runs) {
    const spread = (norm: Norm) =>
      runs.map((r) => 100 * (Math.max(...r.accuracy[norm]) - Math.min(...r.accuracy[norm])));
    const bn = spread('batch'),
      none = spread('none');
    const first = mean(bn) <= 3;
    const second = mean(none) >= 3 * mean(bn);
    return {
      verdict: first && second ? 'reproduced' : first ? 'mixed' : 'not reproduced',
      because: `Test accuracy varies by ${pm(bn)} points across init scales with BatchNorm and by ${pm(none)} points without${overlapNote(bn, none)}.`,
      summary: [
        row('accuracy spread across init scales, BatchNorm (points)', bn),
        row('accuracy spread across init scales, no norm (points)', none),
        ...runs[0].gains.flatMap((g, i) => [
          row(
            `g = ${g}: test accuracy, BatchNorm`,
            runs.map((r) => r.accuracy.batch[i]),
          ),
          row(
            `g = ${g}: test accuracy, no norm`,
            runs.map((r) => r.accuracy.none[i]),
          ),
        ]),
      ],
    };
  },
  figures(runs) {
    return [
      lineChart({
        title: 'Test accuracy against the scale of the initial weights',
        rows: NORMS.flatMap((norm) =>
          runs[0].gains.map((g, i) => ({
            x: g,
            ...band(runs.map((r) => r.accuracy[norm][i])),
            series: norm === 'batch' ? 'BatchNorm' : 'no norm',
          })),
        ),
        x: 'init scale g (× Kaiming normal, log scale)',
        y: 'test accuracy (fraction)',
        logX: true,
      }),
    ];
  },
};
