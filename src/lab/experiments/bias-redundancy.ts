// A bias right before BatchNorm is subtracted away with the batch mean: it changes no output
// and gets no gradient, so it is dead weight.
import * as nk from '../../index.js';
import { type Experiment, pm, row } from '../experiment.js';
import { disposeModel, maxAbsDiff } from '../kit.js';
import { barChart } from '../plot.js';

const { nn } = nk;

interface Run {
  layers: string[];
  /** max |y(bias b) − y(bias 0)| per layer pair, and max |y| for scale. */
  outputDiff: number[];
  outputMax: number[];
  /** max |∂L/∂b| and max |∂L/∂W| per layer pair. */
  biasGrad: number[];
  weightGrad: number[];
  savedParameters: number;
}

const maxAbs = (t: nk.Tensor) => maxAbsDiff(t.toArray());

/** A layer followed by BatchNorm, in training mode, with bias zero and with a large bias. */
function probe(name: string, layer: nk.nn.Linear | nk.nn.Conv2d, bn: nk.nn.Module, x: nk.Tensor) {
  return nk.tidy(() => {
    const model = new nn.Sequential(layer, bn);
    const w = nk.randn(layer.call(x).shape); // a fixed random readout for the loss
    const run = () => {
      for (const p of model.parameters()) p.grad = null;
      const y = model.call(x);
      y.mul(w).sum().backward();
      return y.toArray();
    };
    layer.bias!.data.fill(0);
    const y0 = run();
    const b = nk.randn(layer.bias!.shape, { std: 5 });
    layer.bias!.data.set(b.data);
    const y1 = run();
    const out = {
      name,
      diff: maxAbsDiff(y1, y0),
      ymax: maxAbsDiff(y0),
      biasGrad: maxAbs(layer.bias!.grad!),
      weightGrad: maxAbs(layer.weight.grad!),
    };
    disposeModel(model);
    return out;
  });
}

export const biasRedundancy: Experiment<Run> = {
  name: 'bias-redundancy',
  claim:
    'A bias added right before BatchNorm is removed with the batch mean: outputs do not depend ' +
    'on it, its gradient is zero, and dropping it saves parameters for nothing.',
  source: 'Ioffe & Szegedy 2015, section 3.2',
  setup: () =>
    'Linear(64→32)+BatchNorm1d and Conv2d(3→8, 3x3)+BatchNorm2d in training mode on random ' +
    'batches, with bias 0 and with a bias drawn from N(0, 5²); same weights. The README CNN ' +
    '(width 32) built with and without the biases before its norms, for the parameter count.',
  rule:
    'Reproduced if, in every layer pair and seed, the outputs differ by at most 1e-4 (float32 ' +
    'rounding of a bias up to ~15 against unit-scale outputs) and max |∂L/∂b| ≤ 1e-4 · max |∂L/∂W|.',
  quickSeconds: 1,
  measure(ctx) {
    nk.manualSeed(ctx.seed);
    const results = [
      probe(
        'Linear+BatchNorm1d',
        new nn.Linear(64, 32),
        new nn.BatchNorm1d(32),
        nk.randn([16, 64]),
      ),
      probe(
        'Conv2d+BatchNorm2d',
        new nn.Conv2d(3, 8, 3, { padding: 1 }),
        new nn.BatchNorm2d(8),
        nk.randn([4, 3, 10, 10]),
      ),
    ];
    ctx.progress(1);
    // The README CNN's three layers before a norm, with and without their biases.
    const count = (m: nk.nn.Module) => m.numParameters();
    const withBias = nk.tidy(() => {
      const m = new nn.Sequential(
        new nn.Conv2d(1, 32, 3, { padding: 1 }),
        new nn.Conv2d(32, 64, 3, { padding: 1 }),
        new nn.Linear(64 * 49, 128),
      );
      const n = count(m);
      disposeModel(m);
      return n;
    });
    const without = nk.tidy(() => {
      const m = new nn.Sequential(
        new nn.Conv2d(1, 32, 3, { padding: 1, bias: false }),
        new nn.Conv2d(32, 64, 3, { padding: 1, bias: false }),
        new nn.Linear(64 * 49, 128, { bias: false }),
      );
      const n = count(m);
      disposeModel(m);
      return n;
    });
    return {
      layers: results.map((r) => r.name),
      outputDiff: results.map((r) => r.diff),
      outputMax: results.map((r) => r.ymax),
      biasGrad: results.map((r) => r.biasGrad),
      weightGrad: results.map((r) => r.weightGrad),
      savedParameters: withBias - without,
    };
  },
  judge(runs) {
    const diffs = runs.flatMap((r) => r.outputDiff);
    const ratios = runs.flatMap((r) => r.biasGrad.map((g, i) => g / r.weightGrad[i]));
    const ok = diffs.every((d) => d <= 1e-4) && ratios.every((q) => q <= 1e-4);
    return {
      verdict: ok ? 'reproduced' : 'not reproduced',
      because:
        `Largest output change ${pm([Math.max(...diffs)])} for biases of sd 5; largest ` +
        `|∂L/∂b| / |∂L/∂W| ${pm([Math.max(...ratios)])}; ${runs[0].savedParameters} parameters ` +
        `saved in the README CNN.`,
      summary: [
        row(
          'max |Δy|, Linear+BN1d',
          runs.map((r) => r.outputDiff[0]),
        ),
        row(
          'max |Δy|, Conv2d+BN2d',
          runs.map((r) => r.outputDiff[1]),
        ),
        row(
          'max |∂L/∂b| / max |∂L/∂W|, Linear+BN1d',
          runs.map((r) => r.biasGrad[0] / r.weightGrad[0]),
        ),
        row(
          'max |∂L/∂b| / max |∂L/∂W|, Conv2d+BN2d',
          runs.map((r) => r.biasGrad[1] / r.weightGrad[1]),
        ),
        row(
          'parameters saved in the README CNN',
          runs.map((r) => r.savedParameters),
        ),
      ],
    };
  },
  figures(runs) {
    const rows = runs.flatMap((r, s) =>
      r.layers.flatMap((layer, i) => [
        { category: layer, y: Math.log10(r.biasGrad[i] + 1e-30), series: `seed ${s}: ∂L/∂b` },
        { category: layer, y: Math.log10(r.weightGrad[i]), series: `seed ${s}: ∂L/∂W` },
      ]),
    );
    return [
      barChart({
        title: 'Gradient reaching a bias before BatchNorm vs the weights (log10 of max |g|)',
        rows,
        y: 'log10 max |gradient|',
        category: 'layer pair',
      }),
    ];
  },
};
