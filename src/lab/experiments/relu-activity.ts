// With BatchNorm right before each ReLU, about half of the units are active (the normalized
// pre-activation is centred), in every layer and throughout training.
import * as nk from '../../index.js';
import { type Experiment, mean, pm, row } from '../experiment.js';
import { type Norm, disposeModel, mlp, probeBatch, probeForward, trainModel } from '../kit.js';
import { lineChart } from '../plot.js';

const DEPTH = 5;

interface Run {
  steps: number[];
  /** active[norm][layer][k]: fraction of ReLU outputs > 0 on the probe batch at steps[k]. */
  active: Record<Norm, number[][]>;
  /** dead[norm][layer]: units never active on the probe batch at the end. */
  dead: Record<Norm, number[]>;
}

/** Fraction of positive outputs and units never positive, per ReLU, on one batch in eval mode. */
function probe(model: nk.nn.Module, x: nk.Tensor): { active: number[]; dead: number[] } {
  const relus = model.namedModules().filter(([, m]) => m instanceof nk.nn.ReLU);
  const active: number[] = [],
    dead: number[] = [];
  const handles = relus.map(([, m]) =>
    m.registerForwardHook((_m, _in, out) => {
      const [N, F] = out.shape;
      const d = out.data;
      let on = 0;
      let never = 0;
      for (let f = 0; f < F; f++) {
        let any = false;
        for (let n = 0; n < N; n++) {
          if (d[n * F + f] > 0) {
            on++;
            any = true;
          }
        }
        if (!any) never++;
      }
      active.push(on / (N * F));
      dead.push(never);
    }),
  );
  probeForward(model, x);
  for (const h of handles) h.remove();
  return { active, dead };
}

export const reluActivity: Experiment<Run> = {
  name: 'relu-activity',
  claim:
    'With BatchNorm right before each ReLU about half of the units are active, in every layer ' +
    'and throughout training; without it the active fraction drifts from layer to layer.',
  source: 'Ioffe & Szegedy 2015, section 3.2 (normalized, centred pre-activations)',
  setup: (mode) =>
    `A ${DEPTH}-layer MLP (width 128) with and without BatchNorm before each ReLU, SGD lr 0.05, ` +
    `momentum 0.9, batch 64, ${mode === 'full' ? 2000 : mode === 'quick' ? 400 : 20} steps; ` +
    'forward hooks on every ReLU count positive outputs on 512 test images in eval mode, ' +
    'about 20 times over training; dead units are never positive on those images at the end.',
  rule:
    'Reproduced if, with BatchNorm, every layer’s active fraction stays within 0.5 ± 0.1 at every ' +
    'recorded step (mean over seeds); mixed if within 0.5 ± 0.2; not reproduced otherwise.',
  quickSeconds: 2,
  measure(ctx) {
    const steps = ctx.mode === 'full' ? 2000 : ctx.mode === 'quick' ? 400 : 20;
    const every = Math.max(1, Math.floor(steps / 20));
    const x = probeBatch(ctx.data.test);
    const out: Run = {
      steps: [],
      active: { batch: [], none: [] },
      dead: { batch: [], none: [] },
    };
    const norms: Norm[] = ['batch', 'none'];
    for (const [i, norm] of norms.entries()) {
      nk.manualSeed(ctx.seed);
      const model = mlp({ depth: DEPTH, width: 128, norm });
      const perLayer: number[][] = Array.from({ length: DEPTH - 1 }, () => []);
      const record = (step: number) => {
        const p = probe(model, x);
        p.active.forEach((a, l) => perLayer[l].push(a));
        if (i === 0) out.steps.push(step);
        return p;
      };
      record(0);
      trainModel(model, ctx.data.train, {
        lr: 0.05,
        steps,
        batchSize: 64,
        seed: ctx.seed,
        onStep: (s) => {
          if ((s + 1) % every === 0) record(s + 1);
        },
        progress: (f) => ctx.progress((i + f) / norms.length),
      });
      out.active[norm] = perLayer;
      out.dead[norm] = probe(model, x).dead;
      disposeModel(model);
    }
    x.dispose();
    return out;
  },
  judge(runs) {
    const layers = runs[0].active.batch.length;
    const meanCurve = (norm: Norm, l: number) =>
      runs[0].steps.map((_, k) => mean(runs.map((r) => r.active[norm][l][k])));
    let worst = 0;
    for (let l = 0; l < layers; l++)
      for (const v of meanCurve('batch', l)) worst = Math.max(worst, Math.abs(v - 0.5));
    let worstNone = 0;
    for (let l = 0; l < layers; l++)
      for (const v of meanCurve('none', l)) worstNone = Math.max(worstNone, Math.abs(v - 0.5));
    const final = (norm: Norm, l: number) =>
      runs.map((r) => r.active[norm][l][r.active[norm][l].length - 1]);
    return {
      verdict: worst <= 0.1 ? 'reproduced' : worst <= 0.2 ? 'mixed' : 'not reproduced',
      because:
        `With BatchNorm the active fraction stayed within 0.5 ± ${worst.toFixed(3)} in every ` +
        `layer and step; without it, within 0.5 ± ${worstNone.toFixed(3)}. Dead units at the end: ` +
        `${pm(runs.map((r) => r.dead.batch.reduce((a, b) => a + b, 0)))} with BatchNorm, ` +
        `${pm(runs.map((r) => r.dead.none.reduce((a, b) => a + b, 0)))} without (of ${layers * 128}).`,
      summary: [
        ...Array.from({ length: layers }, (_, l) =>
          row(`layer ${l + 1}: active fraction at the end, BatchNorm`, final('batch', l)),
        ),
        ...Array.from({ length: layers }, (_, l) =>
          row(`layer ${l + 1}: active fraction at the end, no norm`, final('none', l)),
        ),
        row(
          'dead units at the end, BatchNorm',
          runs.map((r) => r.dead.batch.reduce((a, b) => a + b, 0)),
        ),
        row(
          'dead units at the end, no norm',
          runs.map((r) => r.dead.none.reduce((a, b) => a + b, 0)),
        ),
      ],
    };
  },
  figures(runs) {
    const layers = runs[0].active.batch.length;
    const rows = (norm: Norm) =>
      Array.from({ length: layers }, (_, l) =>
        runs[0].steps.map((x, k) => ({
          x,
          y: mean(runs.map((r) => r.active[norm][l][k])),
          series: `layer ${l + 1}`,
        })),
      ).flat();
    return [
      lineChart({
        title: 'Active ReLU fraction per layer, with BatchNorm',
        rows: rows('batch'),
        x: 'training step',
        y: 'fraction of ReLU outputs > 0',
      }),
      lineChart({
        title: 'Active ReLU fraction per layer, without normalization',
        rows: rows('none'),
        x: 'training step',
        y: 'fraction of ReLU outputs > 0',
      }),
    ];
  },
};
