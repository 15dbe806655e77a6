// Depth: without BatchNorm a deep plain network does not train at all; BatchNorm makes it
// trainable, and residual connections with BatchNorm train at every depth.
import * as nk from '../../index.js';
import { type Experiment, type Mode, mean, pm, row } from '../experiment.js';
import { accuracy, disposeModel, trainModel } from '../kit.js';
import { barChart } from '../plot.js';

const { nn } = nk;
const KINDS = ['plain', 'plain + BN', 'residual', 'residual + BN'] as const;
type Kind = (typeof KINDS)[number];

interface Run {
  depths: number[];
  /** test[kind][i] at depths[i] (conv layers in the body, plus stem and classifier). */
  test: Record<Kind, number[]>;
}

const plan = (mode: Mode) =>
  mode === 'tiny'
    ? { depths: [4, 8], steps: 10, width: 4 }
    : { depths: [8, 20, 32], steps: mode === 'full' ? 600 : 200, width: 8 };

/** Stem (stride 2 twice, to 7x7), (depth − 2)/2 blocks of two 3x3 convs, pooling, Linear. */
function build(kind: Kind, depth: number, w: number): nk.nn.Module {
  const bn = kind.endsWith('BN');
  const norm = (c: number): nk.nn.Module => (bn ? new nn.BatchNorm2d(c) : new nn.Identity());
  const blocks: nk.nn.Module[] = [];
  for (let i = 0; i < (depth - 2) / 2; i++) {
    blocks.push(
      kind.startsWith('residual')
        ? new nn.BasicBlock(w, w, 1, norm)
        : new nn.Sequential(
            new nn.Conv2d(w, w, 3, { padding: 1, bias: !bn }),
            norm(w),
            new nn.ReLU(),
            new nn.Conv2d(w, w, 3, { padding: 1, bias: !bn }),
            norm(w),
            new nn.ReLU(),
          ),
    );
  }
  return new nn.Sequential(
    new nn.Conv2d(1, w, 3, { stride: 2, padding: 1, bias: !bn }),
    norm(w),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    ...blocks,
    new nn.AdaptiveAvgPool2d(1),
    new nn.Flatten(),
    new nn.Linear(w, 10),
  );
}

export const depth: Experiment<Run> = {
  name: 'depth',
  claim:
    'Without BatchNorm a deep plain network does not train; BatchNorm makes it trainable, and ' +
    'residual connections with BatchNorm train at every depth.',
  source: 'Ioffe & Szegedy 2015; He et al. 2016 (ResNet: BN after every convolution)',
  setup: (mode) => {
    const p = plan(mode);
    return (
      `Convolutional networks of ${p.depths.join(' / ')} layers (width ${p.width}, a stride-2 ` +
      `stem and max-pool to 7x7, then blocks of two 3x3 convolutions, plain or residual ` +
      `(BasicBlock), with or without BatchNorm), SGD lr 0.05, momentum 0.9, batch 64, ` +
      `${p.steps} steps; test accuracy.`
    );
  },
  rule:
    'Reproduced if, at the deepest depth and in the mean over seeds, the plain network without ' +
    'BatchNorm stays below 30 % test accuracy, the plain one with BatchNorm exceeds 60 %, and ' +
    'residual + BatchNorm is within 2 points of the best variant at every depth. Mixed if one ' +
    'or two hold; not reproduced if none.',
  quickSeconds: 40,
  measure(ctx) {
    const p = plan(ctx.mode);
    const run = { depths: p.depths, test: {} } as Run;
    let done = 0;
    for (const kind of KINDS) {
      run.test[kind] = [];
      for (const d of p.depths) {
        nk.manualSeed(ctx.seed);
        const model = build(kind, d, p.width);
        trainModel(model, ctx.data.train, {
          lr: 0.05,
          steps: p.steps,
          batchSize: 64,
          seed: ctx.seed,
        });
        run.test[kind].push(accuracy(model, ctx.data.test));
        disposeModel(model);
        ctx.progress(++done / (KINDS.length * p.depths.length));
      }
    }
    return run;
  },
  judge(runs) {
    const at = (k: Kind, i: number) => runs.map((r) => r.test[k][i]);
    const last = runs[0].depths.length - 1;
    const conds = [
      mean(at('plain', last)) < 0.3,
      mean(at('plain + BN', last)) > 0.6,
      runs[0].depths.every(
        (_, i) =>
          100 * (Math.max(...KINDS.map((k) => mean(at(k, i)))) - mean(at('residual + BN', i))) <= 2,
      ),
    ];
    const held = conds.filter(Boolean).length;
    const D = runs[0].depths[last];
    return {
      verdict: held === 3 ? 'reproduced' : held === 0 ? 'not reproduced' : 'mixed',
      because: `At depth ${D}: ${KINDS.map((k) => `${k} ${pm(at(k, last))}`).join(', ')}.`,
      summary: KINDS.flatMap((k) =>
        runs[0].depths.map((d, i) => row(`${k}, depth ${d}: test accuracy`, at(k, i))),
      ),
    };
  },
  figures(runs) {
    return [
      barChart({
        title: 'Test accuracy by depth, plain or residual, with or without BatchNorm',
        rows: KINDS.flatMap((k) =>
          runs[0].depths.map((d, i) => ({
            category: `depth ${d}`,
            y: mean(runs.map((r) => r.test[k][i])),
            series: k,
          })),
        ),
        y: 'test accuracy (fraction)',
        category: 'depth (conv layers)',
      }),
    ];
  },
};
