// Forgetting model.eval(): in training mode BatchNorm normalizes each test batch with that
// batch's own statistics, so a sample's prediction depends on the batch around it, batches of
// one class collapse, the running statistics drift, and a batch of one sample is an error.
import * as nk from '../../index.js';
import type { Split } from '../../data/fashion-mnist.js';
import { type Experiment, pm, row } from '../experiment.js';
import { accuracy, cnn, disposeModel, maxAbsDiff, predictions, trainModel } from '../kit.js';
import { barChart } from '../plot.js';

interface Run {
  evalAccuracy: number;
  /** Accuracy in training mode (under noGrad), batches of 64 in shuffled and class order. */
  trainShuffled: number;
  trainSorted: number;
  evalSorted: number;
  /** Fraction of test samples predicted the same in two different shuffles. */
  agreementTrainMode: number;
  agreementEvalMode: number;
  /** Largest change of a running mean caused by the training-mode passes. */
  runningMeanDrift: number;
  batchOfOneError: string;
}

function predictAll(
  model: nk.nn.Module,
  split: Split,
  order: ArrayLike<number>,
  training: boolean,
) {
  const out = new Int32Array(split.count);
  model.train(training);
  nk.noGrad(() => {
    for (let start = 0; start + 1 < order.length; start += 64) {
      const idx = Array.from(
        { length: Math.min(64, order.length - start) },
        (_, i) => order[start + i],
      );
      if (idx.length < 2) break;
      nk.tidy(() => {
        const xs = new Float32Array(idx.length * 784);
        idx.forEach((k, i) => xs.set(split.images.subarray(k * 784, (k + 1) * 784), i * 784));
        const p = predictions(model.call(nk.tensor(xs, [idx.length, 1, 28, 28])));
        idx.forEach((k, i) => (out[k] = p[i]));
      });
    }
  });
  return out;
}

/** The error a single sample in training mode raises ('' if none). */
function batchOfOne(model: nk.nn.Module, split: Split): string {
  model.train();
  try {
    nk.noGrad(() =>
      nk.tidy(() => model.call(nk.tensor(split.images.subarray(0, 784), [1, 1, 28, 28]))),
    );
    return '';
  } catch (e) {
    return (e as Error).message;
  }
}

function acc(p: Int32Array, split: Split): number {
  let n = 0;
  for (let i = 0; i < split.count; i++) if (p[i] === split.labels[i]) n++;
  return n / split.count;
}

function agreement(a: Int32Array, b: Int32Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) n++;
  return n / a.length;
}

function shuffled(n: number, g: nk.Generator): Uint32Array {
  const o = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = g.int(i + 1);
    [o[i], o[j]] = [o[j], o[i]];
  }
  return o;
}

export const evalMode: Experiment<Run> = {
  name: 'eval-mode',
  claim:
    'A BatchNorm network evaluated without model.eval() normalizes each test batch by its own ' +
    'statistics: predictions depend on the batch, single-class batches collapse, the running ' +
    'statistics drift, and one sample alone is an error.',
  source: 'Ioffe & Szegedy 2015, section 3.1 (inference uses population statistics)',
  setup: (mode) =>
    `The README CNN (width ${mode === 'tiny' ? 4 : 16}) trained with ` +
    `SGD (lr 0.05, momentum 0.9, batch 64) for ${mode === 'full' ? 1500 : mode === 'quick' ? 300 : 20} ` +
    'steps, then the test set predicted in batches of 64, in eval mode and in training mode under ' +
    'noGrad(), in two random orders and sorted by class.',
  rule:
    'Reproduced if, in the mean over seeds, training-mode accuracy on class-sorted batches is at ' +
    'least 10 points below eval-mode accuracy, training-mode predictions agree between two ' +
    'shuffles for fewer than 99 % of samples (eval mode: 100 %), and a batch of one sample in ' +
    'training mode raises the batch-of-one error.',
  quickSeconds: 6,
  measure(ctx) {
    nk.manualSeed(ctx.seed);
    const width = ctx.mode === 'tiny' ? 4 : 16;
    const steps = ctx.mode === 'full' ? 1500 : ctx.mode === 'quick' ? 300 : 20;
    const model = cnn({ width, norm: 'batch' });
    trainModel(model, ctx.data.train, {
      lr: 0.05,
      steps,
      batchSize: 64,
      seed: ctx.seed,
      progress: (f) => ctx.progress(0.8 * f),
    });
    const test = ctx.data.test;
    const evalAccuracy = accuracy(model, test);
    const saved = Object.entries(model.stateDict()).map(([k, t]) => [k, t.toArray()] as const);
    const g = new nk.Generator(ctx.seed + 1);
    const [o1, o2] = [shuffled(test.count, g), shuffled(test.count, g)];
    const sortedOrder = Uint32Array.from({ length: test.count }, (_, i) => i).sort(
      (a, b) => test.labels[a] - test.labels[b] || a - b,
    );
    const e1 = predictAll(model, test, o1, false);
    const e2 = predictAll(model, test, o2, false);
    const eSorted = predictAll(model, test, sortedOrder, false);
    const runningMean = model.namedBuffers().find(([k]) => k.endsWith('running_mean'))![1];
    const meanBefore = runningMean.toArray();
    // The pitfall on purpose: the guard that warns about it is quiet meanwhile.
    const guard = nk.nn.setBatchNormEvalGuard(false);
    const forgot = (() => {
      try {
        return {
          t1: predictAll(model, test, o1, true),
          t2: predictAll(model, test, o2, true),
          tSorted: predictAll(model, test, sortedOrder, true),
          drift: maxAbsDiff(runningMean.toArray(), meanBefore),
          batchOfOneError: batchOfOne(model, test),
        };
      } finally {
        nk.nn.setBatchNormEvalGuard(guard);
      }
    })();
    const { t1, t2, tSorted } = forgot;
    ctx.progress(0.95);
    const sd = model.stateDict();
    for (const [k, v] of saved) sd[k].data.set(v); // undo the drift before the model goes
    disposeModel(model);
    ctx.progress(1);
    return {
      evalAccuracy,
      trainShuffled: acc(t1, test),
      trainSorted: acc(tSorted, test),
      evalSorted: acc(eSorted, test),
      agreementTrainMode: agreement(t1, t2),
      agreementEvalMode: agreement(e1, e2),
      runningMeanDrift: forgot.drift,
      batchOfOneError: forgot.batchOfOneError,
    };
  },
  judge(runs) {
    const m = (f: (r: Run) => number) => runs.map(f);
    const avg = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const drop = avg(m((r) => r.evalAccuracy)) - avg(m((r) => r.trainSorted));
    const agreeTrain = avg(m((r) => r.agreementTrainMode));
    const agreeEval = Math.min(...m((r) => r.agreementEvalMode));
    const errored = runs.every((r) =>
      /Expected more than 1 value per channel/.test(r.batchOfOneError),
    );
    const checks = [drop >= 0.1, agreeTrain < 0.99 && agreeEval === 1, errored];
    const passed = checks.filter(Boolean).length;
    return {
      verdict: passed === 3 ? 'reproduced' : passed === 0 ? 'not reproduced' : 'mixed',
      because:
        `Eval mode ${pm(m((r) => r.evalAccuracy))}; training mode on class-sorted batches ` +
        `${pm(m((r) => r.trainSorted))} (${(100 * drop).toFixed(1)} points lower), on shuffled ` +
        `batches ${pm(m((r) => r.trainShuffled))}; two shuffles agree on ${pm(m((r) => r.agreementTrainMode))} ` +
        `of predictions in training mode, ${pm(m((r) => r.agreementEvalMode))} in eval mode; a batch ` +
        `of one ${errored ? 'raised' : 'did not raise'} the batch-of-one error` +
        `${errored ? ` ("${runs[0].batchOfOneError}")` : ''}.`,
      summary: [
        row(
          'test accuracy, eval mode',
          m((r) => r.evalAccuracy),
        ),
        row(
          'test accuracy, eval mode, class-sorted batches',
          m((r) => r.evalSorted),
        ),
        row(
          'test accuracy, training mode, shuffled batches',
          m((r) => r.trainShuffled),
        ),
        row(
          'test accuracy, training mode, class-sorted batches',
          m((r) => r.trainSorted),
        ),
        row(
          'prediction agreement between shuffles, training mode',
          m((r) => r.agreementTrainMode),
        ),
        row(
          'prediction agreement between shuffles, eval mode',
          m((r) => r.agreementEvalMode),
        ),
        row(
          'largest running-mean drift from the training-mode passes',
          m((r) => r.runningMeanDrift),
        ),
      ],
    };
  },
  figures(runs) {
    const cats: [string, (r: Run) => number, (r: Run) => number][] = [
      ['shuffled batches', (r) => r.evalAccuracy, (r) => r.trainShuffled],
      ['class-sorted batches', (r) => r.evalSorted, (r) => r.trainSorted],
    ];
    const avg = (f: (r: Run) => number) => runs.reduce((a, r) => a + f(r), 0) / runs.length;
    return [
      barChart({
        title: 'Test accuracy in eval mode and with eval() forgotten (training mode)',
        rows: cats.flatMap(([category, e, t]) => [
          { category, y: avg(e), series: 'eval mode' },
          { category, y: avg(t), series: 'training mode' },
        ]),
        y: 'test accuracy (fraction)',
        category: 'test batches of 64',
      }),
    ];
  },
};
