// Where BatchNorm goes: the paper puts it before the nonlinearity (on Wx); many practitioners
// put it after the ReLU. The claim tested is the paper's choice: before is not worse.
import * as nk from '../../index.js';
import { type Experiment, mean, overlaps, pm, row } from '../experiment.js';
import { accuracy, disposeModel, trainModel } from '../kit.js';
import { barChart } from '../plot.js';

const { nn } = nk;
type Place = 'before ReLU' | 'after ReLU';
const PLACES: Place[] = ['before ReLU', 'after ReLU'];

interface Run {
  accuracy: Record<Place, number>;
  finalLoss: Record<Place, number>;
}

function build(p: Place): nk.nn.Module {
  const layers: nk.nn.Module[] = [new nn.Flatten()];
  let inF = 784;
  for (const w of [256, 256, 128]) {
    layers.push(new nn.Linear(inF, w, { bias: p === 'after ReLU' }));
    if (p === 'before ReLU') layers.push(new nn.BatchNorm1d(w), new nn.ReLU());
    else layers.push(new nn.ReLU(), new nn.BatchNorm1d(w));
    inF = w;
  }
  layers.push(new nn.Linear(inF, 10));
  return new nn.Sequential(...layers);
}

export const placement: Experiment<Run> = {
  name: 'placement',
  claim:
    'BatchNorm before the nonlinearity, as the paper places it, trains at least as well as ' +
    'BatchNorm after the ReLU.',
  source:
    'Ioffe & Szegedy 2015, section 3.2; the placement debate since (e.g. Mishkin et al. 2017)',
  setup: (mode) =>
    'An MLP 784-256-256-128-10 with BatchNorm before each ReLU (Linear without bias) or after ' +
    `it (Linear with bias), SGD lr 0.05, momentum 0.9, batch 64, ` +
    `${mode === 'full' ? 3000 : mode === 'quick' ? 600 : 20} steps; test accuracy.`,
  rule:
    'Reproduced if BatchNorm before ReLU reaches a test accuracy no more than 0.5 points below ' +
    'BatchNorm after ReLU (mean over seeds); not reproduced otherwise. The verdict says when ' +
    'the seeds overlap.',
  quickSeconds: 4,
  measure(ctx) {
    const steps = ctx.mode === 'full' ? 3000 : ctx.mode === 'quick' ? 600 : 20;
    const run = { accuracy: {}, finalLoss: {} } as Run;
    for (const [i, p] of PLACES.entries()) {
      nk.manualSeed(ctx.seed);
      const model = build(p);
      const r = trainModel(model, ctx.data.train, {
        lr: 0.05,
        steps,
        batchSize: 64,
        seed: ctx.seed,
        progress: (f) => ctx.progress((i + f) / PLACES.length),
      });
      run.accuracy[p] = accuracy(model, ctx.data.test);
      run.finalLoss[p] = mean(r.losses.slice(-Math.max(1, Math.floor(r.losses.length / 10))));
      disposeModel(model);
    }
    return run;
  },
  judge(runs) {
    const acc = (p: Place) => runs.map((r) => r.accuracy[p]);
    const diff = 100 * (mean(acc('before ReLU')) - mean(acc('after ReLU')));
    return {
      verdict: diff >= -0.5 ? 'reproduced' : 'not reproduced',
      because:
        `Test accuracy ${pm(acc('before ReLU'))} before ReLU, ${pm(acc('after ReLU'))} after ` +
        `(${diff >= 0 ? '+' : ''}${diff.toFixed(2)} points for the paper's placement` +
        `${overlaps(acc('before ReLU'), acc('after ReLU')) ? '; the seeds overlap' : ''}).`,
      summary: PLACES.flatMap((p) => [
        row(`BatchNorm ${p}: test accuracy`, acc(p)),
        row(
          `BatchNorm ${p}: final training loss`,
          runs.map((r) => r.finalLoss[p]),
        ),
      ]),
    };
  },
  figures(runs) {
    return [
      barChart({
        title: 'Test accuracy by BatchNorm placement',
        rows: runs.flatMap((r, s) =>
          PLACES.map((p) => ({ category: p, y: r.accuracy[p], series: `seed ${s}` })),
        ),
        y: 'test accuracy (fraction)',
        category: 'BatchNorm placement',
      }),
    ];
  },
};
