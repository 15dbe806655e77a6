// Zero-γ initialization: with the last BatchNorm of every residual block starting at γ = 0,
// each block starts as the identity, so a deep residual network starts as a shallow one and
// trains like one; with γ = 1 every block adds its (random) branch from the first step, and
// the deeper the network the harder its start.
import * as nk from '../../index.js';
import { type Experiment, band, mean, num, pm, row } from '../experiment.js';
import { accuracy, disposeModel, trainModel } from '../kit.js';
import { lineChart } from '../plot.js';

const { nn } = nk;

interface Run {
  depths: number[];
  /** Mean training loss over the last tenth of the steps, per depth, for γ = 0 and γ = 1. */
  lossZero: number[];
  lossOne: number[];
  accZero: number[];
  accOne: number[];
}

const budget = (mode: string) =>
  mode === 'full'
    ? { width: 12, depths: [1, 4, 12], steps: 1000 }
    : mode === 'quick'
      ? { width: 8, depths: [1, 3, 9], steps: 300 }
      : { width: 4, depths: [1, 2], steps: 10 };

/** Stem (conv stride 2, BN, ReLU), `depth` BasicBlocks, global average pooling, Linear. */
function resnet(width: number, depth: number, zeroGamma: boolean): nk.nn.Module {
  const bn = (c: number) => new nn.BatchNorm2d(c);
  const blocks = Array.from({ length: depth }, () => new nn.BasicBlock(width, width, 1, bn));
  if (zeroGamma) for (const b of blocks) (b.bn2 as nk.nn.BatchNorm2d).weight!.data.fill(0);
  return new nn.Sequential(
    new nn.Conv2d(1, width, 3, { stride: 2, padding: 1, bias: false }),
    bn(width),
    new nn.ReLU(),
    ...blocks,
    new nn.AdaptiveAvgPool2d(1),
    new nn.Flatten(),
    new nn.Linear(width, 10),
  );
}

/** Relative loss advantage of γ = 0 at depth index i: (L₁ − L₀) / L₁. */
const advantage = (r: Run, i: number) => (r.lossOne[i] - r.lossZero[i]) / r.lossOne[i];

export const residualIdentity: Experiment<Run> = {
  name: 'residual-identity',
  claim:
    'Initializing the last BatchNorm of each residual block with γ = 0 (each block starts as ' +
    'the identity) trains deep residual networks better than γ = 1, and the advantage grows ' +
    'with depth.',
  source: 'Goyal et al. 2017 (zero-γ init, section 5.1); Zhang, Dauphin & Ma 2019 (Fixup)',
  setup: (mode) => {
    const b = budget(mode);
    return (
      `A ResNet: conv 3x3 stride 2 (1→${b.width}), BatchNorm, ReLU, then ${b.depths.join(' / ')} ` +
      `BasicBlocks of width ${b.width} (BatchNorm), global average pooling, Linear. γ of each ` +
      "block's second BatchNorm initialized to 0 or 1 (the same seed otherwise). SGD lr 0.1, " +
      `momentum 0.9, batch 64, ${b.steps} steps; the training loss over the last tenth of the ` +
      'steps and test accuracy.'
    );
  },
  rule:
    'Reproduced if, in the mean over seeds, (1) at the largest depth the final training loss ' +
    'with γ = 0 is at most 0.9 × the loss with γ = 1, (2) the relative advantage (L₁ − L₀)/L₁ is ' +
    'larger at the largest depth than at the smallest, and (3) at the largest depth γ = 0 is no ' +
    'more than 0.5 points behind γ = 1 in test accuracy. Mixed if some of these hold.',
  quickSeconds: 39,
  measure(ctx) {
    const b = budget(ctx.mode);
    const out: Run = { depths: b.depths, lossZero: [], lossOne: [], accZero: [], accOne: [] };
    const total = b.depths.reduce((s, d) => s + 2 * (d + 1), 0);
    let done = 0;
    for (const depth of b.depths) {
      for (const zero of [true, false]) {
        nk.manualSeed(ctx.seed);
        const model = resnet(b.width, depth, zero);
        const r = trainModel(model, ctx.data.train, {
          lr: 0.1,
          steps: b.steps,
          batchSize: 64,
          seed: ctx.seed,
          progress: (f) => ctx.progress((done + f * (depth + 1)) / total),
        });
        done += depth + 1;
        const tail = r.losses.slice(-Math.max(1, Math.floor(r.losses.length / 10)));
        (zero ? out.lossZero : out.lossOne).push(mean(tail));
        (zero ? out.accZero : out.accOne).push(accuracy(model, ctx.data.test));
        disposeModel(model);
      }
    }
    return out;
  },
  judge(runs) {
    const last = runs[0].depths.length - 1;
    const avg = (f: (r: Run) => number) => mean(runs.map(f));
    const l0 = avg((r) => r.lossZero[last]),
      l1 = avg((r) => r.lossOne[last]);
    const advDeep = avg((r) => advantage(r, last)),
      advShallow = avg((r) => advantage(r, 0));
    const accGap = 100 * (avg((r) => r.accOne[last]) - avg((r) => r.accZero[last]));
    const held = [l0 <= 0.9 * l1, advDeep > advShallow, accGap <= 0.5].filter(Boolean).length;
    const D = runs[0].depths;
    return {
      verdict: held === 3 ? 'reproduced' : held === 0 ? 'not reproduced' : 'mixed',
      because:
        `At ${D[last]} blocks the final training loss was ${pm(runs.map((r) => r.lossZero[last]))} ` +
        `with γ = 0 and ${pm(runs.map((r) => r.lossOne[last]))} with γ = 1 (ratio ${num(l0 / l1)}); ` +
        `the relative advantage of γ = 0 was ${num(advShallow)} at ${D[0]} block(s) and ` +
        `${num(advDeep)} at ${D[last]}; test accuracy at ${D[last]} blocks ` +
        `${pm(runs.map((r) => 100 * r.accZero[last]))} % (γ = 0) vs ` +
        `${pm(runs.map((r) => 100 * r.accOne[last]))} % (γ = 1).`,
      summary: [
        ...D.map((d, i) =>
          row(
            `final training loss, ${d} blocks, γ = 0`,
            runs.map((r) => r.lossZero[i]),
          ),
        ),
        ...D.map((d, i) =>
          row(
            `final training loss, ${d} blocks, γ = 1`,
            runs.map((r) => r.lossOne[i]),
          ),
        ),
        ...D.map((d, i) =>
          row(
            `test accuracy, ${d} blocks, γ = 0`,
            runs.map((r) => 100 * r.accZero[i]),
            '%',
          ),
        ),
        ...D.map((d, i) =>
          row(
            `test accuracy, ${d} blocks, γ = 1`,
            runs.map((r) => 100 * r.accOne[i]),
            '%',
          ),
        ),
      ],
    };
  },
  figures(runs) {
    const D = runs[0].depths;
    const series = (pick: (r: Run) => number[], name: string) =>
      D.map((x, i) => ({ x, ...band(runs.map((r) => pick(r)[i])), series: name }));
    return [
      lineChart({
        title: 'Final training loss against depth',
        rows: [
          ...series((r) => r.lossZero, 'γ = 0 (identity blocks)'),
          ...series((r) => r.lossOne, 'γ = 1'),
        ],
        x: 'residual blocks',
        y: 'training loss (last tenth of the steps)',
      }),
      lineChart({
        title: 'Test accuracy against depth',
        rows: [
          ...series((r) => r.accZero.map((a) => 100 * a), 'γ = 0 (identity blocks)'),
          ...series((r) => r.accOne.map((a) => 100 * a), 'γ = 1'),
        ],
        x: 'residual blocks',
        y: 'test accuracy (%)',
      }),
    ];
  },
};
