// BatchNorm's running statistics are an average over past batches, computed with past
// weights: they trail the population statistics of the current weights, cumulative averaging
// (momentum null) most of all, and recalibrating them on the training set closes the gap.
import * as nk from '../../index.js';
import type { Split } from '../../data/fashion-mnist.js';
import { type Experiment, mean, pm, row, overlapNote } from '../experiment.js';
import { accuracy, disposeModel, inputStats, trainModel } from '../kit.js';
import { lineChart } from '../plot.js';

const { nn } = nk;
const MOMENTA: (number | null)[] = [0.1, 0.01, null];
const key = (m: number | null) => (m === null ? 'null' : String(m));

interface Run {
  steps: number[];
  /** Standardized error of the running mean, |r − μ|/σ averaged over channels and layers. */
  meanError: Record<string, number[]>;
  /** Relative error of the running variance, |r − σ²|/σ², averaged likewise. */
  varError: Record<string, number[]>;
  accuracyRunning: Record<string, number>;
  accuracyRecalibrated: Record<string, number>;
}

function build(momentum: number | null): nk.nn.Module {
  return new nn.Sequential(
    new nn.Flatten(),
    new nn.Linear(784, 256, { bias: false }),
    new nn.BatchNorm1d(256, { momentum }),
    new nn.ReLU(),
    new nn.Linear(256, 128, { bias: false }),
    new nn.BatchNorm1d(128, { momentum }),
    new nn.ReLU(),
    new nn.Linear(128, 10),
  );
}

const batchNorms = (model: nk.nn.Module) =>
  model
    .namedModules()
    .filter(([, m]) => m instanceof nn.BatchNorm1d)
    .map(([, m]) => m as nk.nn.BatchNorm1d);

/**
 * The population statistics of every BatchNorm for the current weights, layer by layer: each
 * layer's input is measured with the layers before it already set to theirs. With `keep`
 * false the running statistics are put back afterwards.
 */
function populationStats(model: nk.nn.Module, split: Split, keep: boolean) {
  const bns = batchNorms(model);
  const saved = bns.map((bn) => [bn.runningMean!.toArray(), bn.runningVar!.toArray()]);
  const stats = bns.map((bn) => {
    const st = inputStats(model, bn, split);
    bn.runningMean!.data.set(st.mean);
    bn.runningVar!.data.set(st.variance);
    return st;
  });
  if (!keep) {
    bns.forEach((bn, i) => {
      bn.runningMean!.data.set(saved[i][0]);
      bn.runningVar!.data.set(saved[i][1]);
    });
  }
  return stats;
}

function errors(model: nk.nn.Module, split: Split): { meanErr: number; varErr: number } {
  const pop = populationStats(model, split, false);
  const me: number[] = [],
    ve: number[] = [];
  batchNorms(model).forEach((bn, i) => {
    const rm = bn.runningMean!.data,
      rv = bn.runningVar!.data;
    for (let c = 0; c < bn.numFeatures; c++) {
      const s2 = pop[i].variance[c];
      if (!(s2 > 1e-12)) continue;
      me.push(Math.abs(rm[c] - pop[i].mean[c]) / Math.sqrt(s2));
      ve.push(Math.abs(rv[c] - s2) / s2);
    }
  });
  return { meanErr: mean(me), varErr: mean(ve) };
}

export const runningStats: Experiment<Run> = {
  name: 'running-stats',
  claim:
    'Running statistics trail the population statistics of the current weights, cumulative ' +
    'averaging (momentum null) most of all, and recalibrating them on the training set ' +
    'recovers the eval accuracy they cost.',
  source: 'Ioffe & Szegedy 2015, section 3.1; Izmailov et al. 2018 (update_bn for SWA)',
  setup: (mode) =>
    `An MLP 784-256-128-10 with BatchNorm1d (momentum 0.1, 0.01 and null), SGD lr 0.05, ` +
    `momentum 0.9, batch 64, ${mode === 'full' ? 3000 : mode === 'quick' ? 600 : 20} steps; ` +
    '5 (full) or 10 times during training, the running statistics against the exact statistics of ' +
    'every BatchNorm input over the training set with the current weights; at the end, test ' +
    'accuracy with the running statistics and with the exact ones put in their place.',
  rule:
    'Reproduced if, at the end and in the mean over seeds, (a) the running mean’s standardized ' +
    'error is larger with momentum null than with 0.1, and (b) recalibrated statistics give a ' +
    'test accuracy no more than 0.5 points below the running ones for every momentum and at ' +
    'least 1 point above them for momentum null. Mixed if only one of (a), (b) holds.',
  quickSeconds: 10,
  measure(ctx) {
    const total = ctx.mode === 'full' ? 3000 : ctx.mode === 'quick' ? 600 : 20;
    const every = Math.max(1, Math.floor(total / (ctx.mode === 'full' ? 5 : 10)));
    const run: Run = {
      steps: [],
      meanError: {},
      varError: {},
      accuracyRunning: {},
      accuracyRecalibrated: {},
    };
    const train = ctx.data.train;
    for (const [i, momentum] of MOMENTA.entries()) {
      nk.manualSeed(ctx.seed);
      const model = build(momentum);
      const k = key(momentum);
      run.meanError[k] = [];
      run.varError[k] = [];
      const record = (step: number) => {
        const e = errors(model, train);
        run.meanError[k].push(e.meanErr);
        run.varError[k].push(e.varErr);
        if (i === 0) run.steps.push(step);
      };
      trainModel(model, train, {
        lr: 0.05,
        steps: total,
        batchSize: 64,
        seed: ctx.seed,
        onStep: (s) => {
          if ((s + 1) % every === 0) record(s + 1);
        },
        progress: (f) => ctx.progress((i + f) / MOMENTA.length),
      });
      run.accuracyRunning[k] = accuracy(model, ctx.data.test);
      populationStats(model, train, true);
      run.accuracyRecalibrated[k] = accuracy(model, ctx.data.test);
      disposeModel(model);
    }
    return run;
  },
  judge(runs) {
    const last = (r: Run, k: string) => r.meanError[k][r.meanError[k].length - 1];
    const errNull = runs.map((r) => last(r, 'null'));
    const err01 = runs.map((r) => last(r, '0.1'));
    const a = mean(errNull) > mean(err01);
    const gain = (k: string) =>
      runs.map((r) => 100 * (r.accuracyRecalibrated[k] - r.accuracyRunning[k]));
    const b = MOMENTA.every((m) => mean(gain(key(m))) >= -0.5) && mean(gain('null')) >= 1;
    return {
      verdict: a && b ? 'reproduced' : a || b ? 'mixed' : 'not reproduced',
      because:
        `Standardized running-mean error at the end: ${pm(err01)} (momentum 0.1), ` +
        `${pm(runs.map((r) => last(r, '0.01')))} (0.01), ${pm(errNull)} (null)${overlapNote(err01, errNull)}. Test accuracy ` +
        `change from recalibrating, in points: ${MOMENTA.map((m) => `${pm(gain(key(m)))} (${key(m)})`).join(', ')}.`,
      summary: MOMENTA.flatMap((m) => {
        const k = key(m);
        return [
          row(
            `momentum ${k}: running-mean error |r − μ|/σ at the end`,
            runs.map((r) => last(r, k)),
          ),
          row(
            `momentum ${k}: running-variance error |r − σ²|/σ² at the end`,
            runs.map((r) => r.varError[k][r.varError[k].length - 1]),
          ),
          row(
            `momentum ${k}: test accuracy, running statistics`,
            runs.map((r) => r.accuracyRunning[k]),
          ),
          row(
            `momentum ${k}: test accuracy, recalibrated statistics`,
            runs.map((r) => r.accuracyRecalibrated[k]),
          ),
        ];
      }),
    };
  },
  figures(runs) {
    const rows = (pick: (r: Run) => Record<string, number[]>) =>
      MOMENTA.flatMap((m) =>
        runs[0].steps.map((x, i) => ({
          x,
          y: mean(runs.map((r) => pick(r)[key(m)][i])),
          series: `momentum ${key(m)}`,
        })),
      );
    return [
      lineChart({
        title: 'Running mean against the population mean of the current weights',
        rows: rows((r) => r.meanError),
        x: 'training step',
        y: 'mean |running − population| / σ',
        logY: true,
      }),
      lineChart({
        title: 'Running variance against the population variance',
        rows: rows((r) => r.varError),
        x: 'training step',
        y: 'mean |running − population| / σ²',
        logY: true,
      }),
    ];
  },
};
