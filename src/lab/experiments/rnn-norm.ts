// Normalization in a recurrent network: LayerNorm inside the LSTM cell normalizes each
// sample at each step by itself, so it works at any sequence length; BatchNorm on the hidden
// state needs statistics per time step (recurrent BN), and a step it never saw in training
// has none: evaluated on sequences longer than those it was trained on, it has to borrow the
// last trained step's statistics.
import * as nk from '../../index.js';
import type { Split } from '../../data/fashion-mnist.js';
import { type Experiment, mean, num, pm, row } from '../experiment.js';
import { accuracy, disposeModel } from '../kit.js';
import { barChart } from '../plot.js';

const { nn } = nk;
const NORMS = ['none', 'LayerNorm in the cell', 'BatchNorm per step'] as const;
type Kind = 'none' | 'layer' | 'batch';
const KINDS: Kind[] = ['none', 'layer', 'batch'];
const T_TRAIN = 20; // rows the network trains on; evaluated on 20 and on all 28

/**
 * An LSTM over rows, gates i f g o as PyTorch's: W_x·x and W_h·h normalized separately, and
 * the cell state before its tanh (Ba et al. 2016 for LayerNorm; Cooijmans et al. 2017 for
 * BatchNorm with statistics per time step).
 */
class NormLstm extends nn.Module {
  readonly ih: nk.nn.Linear;
  readonly hh: nk.nn.Linear;
  readonly head: nk.nn.Linear;
  /** Per step (batch) or shared (layer): norms of W_x·x, W_h·h and c. */
  private readonly norms: [nk.nn.Module, nk.nn.Module, nk.nn.Module][] = [];

  constructor(
    readonly kind: Kind,
    readonly hidden: number,
  ) {
    super();
    const H = hidden;
    this.ih = this.registerModule('ih', new nn.Linear(28, 4 * H));
    this.hh = this.registerModule('hh', new nn.Linear(H, 4 * H, { bias: kind === 'none' }));
    this.head = this.registerModule('head', new nn.Linear(H, 10));
    const make = (c: number) => (kind === 'layer' ? new nn.LayerNorm(c) : new nn.BatchNorm1d(c));
    const count = kind === 'batch' ? T_TRAIN : kind === 'layer' ? 1 : 0;
    for (let t = 0; t < count; t++) {
      const trio = [make(4 * H), make(4 * H), make(H)] as [
        nk.nn.Module,
        nk.nn.Module,
        nk.nn.Module,
      ];
      trio.forEach((m, j) => this.registerModule(`norm${t}_${j}`, m));
      this.norms.push(trio);
    }
  }

  /** x [N, T, 28] → logits from the last step's hidden state. */
  forward(x: nk.Tensor): nk.Tensor {
    const [N, T] = x.shape;
    const H = this.hidden;
    let h = nk.zeros([N, H]),
      c = nk.zeros([N, H]);
    const gi = this.ih.call(x); // [N, T, 4H]
    for (let t = 0; t < T; t++) {
      // A step past the trained ones borrows the last trained step's norms.
      const trio = this.norms[Math.min(t, this.norms.length - 1)];
      const norm = (j: number, v: nk.Tensor) => (trio ? trio[j].call(v) : v);
      const xt = nk.slice(gi, 1, t, t + 1).reshape([N, 4 * H]);
      const g = nk.add(norm(0, xt), norm(1, this.hh.call(h)));
      const gate = (k: number) => nk.slice(g, 1, k * H, (k + 1) * H);
      c = nk.add(nk.mul(nk.sigmoid(gate(1)), c), nk.mul(nk.sigmoid(gate(0)), nk.tanh(gate(2))));
      h = nk.mul(nk.sigmoid(gate(3)), nk.tanh(norm(2, c)));
    }
    return this.head.call(h);
  }
}

/** Rows [0, T) of each image as a sequence [n, T, 28]. */
function rows(split: Split, idx: ArrayLike<number>, T: number): nk.Tensor {
  const out = new Float32Array(idx.length * T * 28);
  for (let i = 0; i < idx.length; i++)
    out.set(split.images.subarray(idx[i] * 784, idx[i] * 784 + T * 28), i * T * 28);
  return nk.tensor(out, [idx.length, T, 28]);
}

function accuracyAt(model: NormLstm, split: Split, T: number): number {
  return accuracy(model, split, 500, (start, n) => [
    rows(
      split,
      Array.from({ length: n }, (_, i) => start + i),
      T,
    ),
  ]);
}

interface Run {
  /** Per variant: test accuracy on the trained length and on all 28 rows. */
  accTrainLength: number[];
  accLonger: number[];
}

const budget = (mode: string) =>
  mode === 'full'
    ? { hidden: 64, steps: 1500 }
    : mode === 'quick'
      ? { hidden: 32, steps: 300 }
      : { hidden: 8, steps: 5 };

export const rnnNorm: Experiment<Run> = {
  name: 'rnn-norm',
  claim:
    'In an LSTM, LayerNorm inside the cell trains at least as well as no normalization and ' +
    'works at any length, while BatchNorm on the hidden state needs statistics per time step ' +
    'and falters on sequences longer than those it was trained on.',
  source: 'Ba, Kiros & Hinton 2016 (layer normalization); Cooijmans et al. 2017 (recurrent BN)',
  setup: (mode) => {
    const b = budget(mode);
    return (
      `Each image's first ${T_TRAIN} rows as a sequence of ${T_TRAIN} steps of 28 pixels; an ` +
      `LSTM (hidden ${b.hidden}) with no normalization, LayerNorm on W_x·x, W_h·h and the cell ` +
      'state, or BatchNorm on the same with statistics per time step; the last hidden state to ' +
      `a Linear. SGD lr 0.1, momentum 0.9, batch 64, ${b.steps} steps. Test accuracy on the ` +
      `first ${T_TRAIN} rows and on all 28 (BatchNorm uses step ${T_TRAIN}'s statistics beyond).`
    );
  },
  rule:
    'Reproduced if, in the mean over seeds, (1) the LayerNorm LSTM is no more than 0.5 points ' +
    'below the plain LSTM at the trained length, and (2) going from 20 to 28 rows the ' +
    'BatchNorm LSTM loses at least 3 points more accuracy than the LayerNorm LSTM (or gains ' +
    '3 points less). Mixed if one holds.',
  quickSeconds: 19,
  measure(ctx) {
    const b = budget(ctx.mode);
    const out: Run = { accTrainLength: [], accLonger: [] };
    KINDS.forEach((kind, k) => {
      nk.manualSeed(ctx.seed);
      const model = new NormLstm(kind, b.hidden);
      const opt = new nk.optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
      const g = new nk.Generator(ctx.seed + 19);
      model.train();
      for (let s = 0; s < b.steps; s++) {
        const idx = Array.from({ length: 64 }, () => g.int(ctx.data.train.count));
        nk.tidy(() => {
          const loss = nk.crossEntropy(
            model.call(rows(ctx.data.train, idx, T_TRAIN)),
            idx.map((i) => ctx.data.train.labels[i]),
          );
          opt.zeroGrad();
          loss.backward();
          opt.step();
        });
        ctx.progress((k + (0.9 * (s + 1)) / b.steps) / 3);
      }
      out.accTrainLength.push(accuracyAt(model, ctx.data.test, T_TRAIN));
      out.accLonger.push(accuracyAt(model, ctx.data.test, 28));
      disposeModel(model);
    });
    ctx.progress(1);
    return out;
  },
  judge(runs) {
    const m = (f: (r: Run) => number) => 100 * mean(runs.map(f));
    const at = KINDS.map((_, k) => m((r) => r.accTrainLength[k]));
    const longer = KINDS.map((_, k) => m((r) => r.accLonger[k]));
    const change = KINDS.map((_, k) => longer[k] - at[k]);
    const held = [at[1] >= at[0] - 0.5, change[1] - change[2] >= 3].filter(Boolean).length;
    return {
      verdict: held === 2 ? 'reproduced' : held === 0 ? 'not reproduced' : 'mixed',
      because:
        `At ${T_TRAIN} rows: ` +
        NORMS.map((n, k) => `${n} ${pm(runs.map((r) => 100 * r.accTrainLength[k]))} %`).join(', ') +
        `. On all 28 rows the accuracy changed by ${NORMS.map((n, k) => `${num(change[k])} (${n})`).join(', ')} points.`,
      summary: [
        ...NORMS.map((n, k) =>
          row(
            `${n}: test accuracy, ${T_TRAIN} rows`,
            runs.map((r) => 100 * r.accTrainLength[k]),
            '%',
          ),
        ),
        ...NORMS.map((n, k) =>
          row(
            `${n}: test accuracy, 28 rows`,
            runs.map((r) => 100 * r.accLonger[k]),
            '%',
          ),
        ),
      ],
    };
  },
  figures(runs) {
    return [
      barChart({
        title: `LSTM test accuracy on the trained length (${T_TRAIN} rows) and longer (28)`,
        rows: NORMS.flatMap((n, k) => [
          {
            category: n,
            y: 100 * mean(runs.map((r) => r.accTrainLength[k])),
            series: `${T_TRAIN} rows`,
          },
          { category: n, y: 100 * mean(runs.map((r) => r.accLonger[k])), series: '28 rows' },
        ]),
        y: 'test accuracy (%)',
        category: 'normalization',
      }),
    ];
  },
};
