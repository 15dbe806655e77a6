// Which normalization a Transformer encoder uses, and where: post-LN (the original) puts the
// norm after each residual addition; pre-LN inside the branch, which keeps the residual path
// an identity and trains more stably at high learning rates; RMSNorm drops the mean and
// matches LayerNorm; BatchNorm over tokens mixes the batch's sequences and does worse.
import * as nk from '../../index.js';
import { type Experiment, mean, num, pm, row } from '../experiment.js';
import { accuracy, disposeModel, trainModel } from '../kit.js';
import { lineChart } from '../plot.js';

const { nn } = nk;
type Variant = 'post-LN' | 'pre-LN' | 'pre-RMSNorm' | 'pre-BatchNorm' | 'none';
const VARIANTS: Variant[] = ['post-LN', 'pre-LN', 'pre-RMSNorm', 'pre-BatchNorm', 'none'];
const D = 32,
  HEADS = 4,
  LAYERS = 2;

/** BatchNorm over the features of every token: [N, L, d] seen as N·L samples of d. */
class TokenBatchNorm extends nn.Module {
  readonly bn: nk.nn.BatchNorm1d;
  constructor(d: number) {
    super();
    this.bn = this.registerModule('bn', new nn.BatchNorm1d(d));
  }
  forward(x: nk.Tensor): nk.Tensor {
    const [N, L, d] = x.shape;
    return this.bn.call(x.reshape([N * L, d])).reshape([N, L, d]);
  }
}

function makeNorm(v: Variant): nk.nn.Module {
  if (v === 'pre-RMSNorm') return new nn.RMSNorm(D);
  if (v === 'pre-BatchNorm') return new TokenBatchNorm(D);
  if (v === 'none') return new nn.Identity();
  return new nn.LayerNorm(D);
}

/** One encoder layer: self-attention and a feed-forward block, the norms where `v` puts them. */
class Layer extends nn.Module {
  readonly attn: nk.nn.MultiheadAttention;
  readonly ff: nk.nn.Sequential;
  readonly n1: nk.nn.Module;
  readonly n2: nk.nn.Module;
  constructor(readonly v: Variant) {
    super();
    this.attn = this.registerModule(
      'attn',
      new nn.MultiheadAttention(D, HEADS, { batchFirst: true }),
    );
    this.ff = this.registerModule(
      'ff',
      new nn.Sequential(new nn.Linear(D, 2 * D), new nn.ReLU(), new nn.Linear(2 * D, D)),
    );
    this.n1 = this.registerModule('n1', makeNorm(v));
    this.n2 = this.registerModule('n2', makeNorm(v));
  }
  forward(x: nk.Tensor): nk.Tensor {
    const sa = (t: nk.Tensor) => this.attn.run(t, t, t, { needWeights: false }).output;
    if (this.v === 'post-LN') {
      const a = this.n1.call(nk.add(x, sa(x)));
      return this.n2.call(nk.add(a, this.ff.call(a)));
    }
    const a = nk.add(x, sa(this.n1.call(x)));
    return nk.add(a, this.ff.call(this.n2.call(a)));
  }
}

/** Rows as tokens: embedding, positional encoding, two layers, mean over tokens, Linear. */
class Encoder extends nn.Module {
  readonly embed: nk.nn.Linear;
  readonly layers: Layer[];
  readonly head: nk.nn.Linear;
  private readonly pe: nk.Tensor;
  constructor(v: Variant) {
    super();
    this.embed = this.registerModule('embed', new nn.Linear(28, D));
    this.layers = Array.from({ length: LAYERS }, (_, i) =>
      this.registerModule(`layer${i}`, new Layer(v)),
    );
    this.head = this.registerModule('head', new nn.Linear(D, 10));
    this.pe = this.registerBuffer('pe', nn.positionalEncoding(28, D))!;
  }
  forward(x: nk.Tensor): nk.Tensor {
    let h = nk.add(this.embed.call(x.reshape([x.shape[0], 28, 28])), this.pe);
    for (const l of this.layers) h = l.call(h);
    return this.head.call(nk.mean(h, 1));
  }
}

interface Run {
  lrs: number[];
  /** [variant][learning rate] test accuracy (0.1 for a run whose loss went non-finite). */
  acc: number[][];
}

const budget = (mode: string) =>
  mode === 'full'
    ? { lrs: [1e-3, 3e-3, 1e-2], steps: 1000 }
    : mode === 'quick'
      ? { lrs: [1e-3, 1e-2], steps: 150 }
      : { lrs: [1e-3, 1e-2], steps: 4 };

export const transformerNorm: Experiment<Run> = {
  name: 'transformer-norm',
  claim:
    'In a Transformer encoder, pre-LN trains more stably than post-LN at high learning rates, ' +
    'RMSNorm matches LayerNorm, and BatchNorm over tokens does worse than LayerNorm.',
  source:
    'Xiong et al. 2020 (pre-LN); Zhang & Sennrich 2019 (RMSNorm); Shen et al. 2020 (BN in Transformers)',
  setup: (mode) => {
    const b = budget(mode);
    return (
      `Each image's 28 rows as tokens: Linear(28→${D}) plus the sinusoidal positional ` +
      `encoding, ${LAYERS} encoder layers (d ${D}, ${HEADS} heads, feed-forward ${2 * D}, ReLU), ` +
      'mean over tokens, Linear. Norms: post-LN, pre-LN, pre-RMSNorm, pre-BatchNorm over ' +
      `tokens, none. Adam, batch 64, ${b.steps} steps at learning rates ${b.lrs.join(', ')}; ` +
      'test accuracy (a run whose loss goes non-finite counts as chance, 10 %).'
    );
  },
  rule:
    'Reproduced if, in the mean over seeds, (1) at the largest learning rate pre-LN is at ' +
    'least 3 points above post-LN, (2) pre-RMSNorm at its best learning rate is within 1 point ' +
    'of pre-LN at its best, and (3) pre-BatchNorm at its best is at least 1 point below pre-LN ' +
    'at its best. Mixed if some of these hold.',
  quickSeconds: 29,
  measure(ctx) {
    const b = budget(ctx.mode);
    const out: Run = { lrs: b.lrs, acc: [] };
    const total = VARIANTS.length * b.lrs.length;
    VARIANTS.forEach((v, k) => {
      out.acc.push(
        b.lrs.map((lr, j) => {
          nk.manualSeed(ctx.seed);
          const model = new Encoder(v);
          const r = trainModel(model, ctx.data.train, {
            lr,
            steps: b.steps,
            batchSize: 64,
            seed: ctx.seed,
            optimizer: (m) => new nk.optim.Adam(m.parameters(), { lr }),
            progress: (f) => ctx.progress((k * b.lrs.length + j + f) / total),
          });
          const a = Number.isFinite(r.losses[r.losses.length - 1])
            ? accuracy(model, ctx.data.test)
            : 0.1;
          disposeModel(model);
          return a;
        }),
      );
    });
    return out;
  },
  judge(runs) {
    const acc = (k: number, j: number) => 100 * mean(runs.map((r) => r.acc[k][j]));
    const best = (k: number) => Math.max(...runs[0].lrs.map((_, j) => acc(k, j)));
    const top = runs[0].lrs.length - 1;
    const [post, pre, rms, bn] = [0, 1, 2, 3];
    const held = [
      acc(pre, top) >= acc(post, top) + 3,
      Math.abs(best(rms) - best(pre)) <= 1,
      best(bn) <= best(pre) - 1,
    ].filter(Boolean).length;
    return {
      verdict: held === 3 ? 'reproduced' : held === 0 ? 'not reproduced' : 'mixed',
      because:
        `At learning rate ${runs[0].lrs[top]}: post-LN ${pm(runs.map((r) => 100 * r.acc[post][top]))} %, ` +
        `pre-LN ${pm(runs.map((r) => 100 * r.acc[pre][top]))} %. Best over learning rates: ` +
        VARIANTS.map((v, k) => `${v} ${num(best(k))} %`).join(', ') +
        '.',
      summary: VARIANTS.flatMap((v, k) =>
        runs[0].lrs.map((lr, j) =>
          row(
            `${v}, lr ${lr}: test accuracy`,
            runs.map((r) => 100 * r.acc[k][j]),
            '%',
          ),
        ),
      ),
    };
  },
  figures(runs) {
    return [
      lineChart({
        title: 'Test accuracy against the learning rate (Adam)',
        rows: VARIANTS.flatMap((v, k) =>
          runs[0].lrs.map((x, j) => ({
            x,
            y: 100 * mean(runs.map((r) => r.acc[k][j])),
            series: v,
          })),
        ),
        x: 'learning rate',
        y: 'test accuracy (%)',
        logX: true,
      }),
    ];
  },
};
