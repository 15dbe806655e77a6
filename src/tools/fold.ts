// BatchNorm folding for inference: in eval mode a BatchNorm is a per-channel affine map,
// y = (x − μ)·γ/√(σ² + ε) + β, so after a Conv or Linear it can live in that layer's weight
// and bias, and the network runs one pass fewer per norm. foldBatchNorm works on a deep
// copy (the original keeps training); the folded values are computed in float64.
import { noGrad } from '../autograd/grad-mode.js';
import { BatchNormBase } from '../nn/batchnorm.js';
import { cloneModule } from '../nn/clone.js';
import { saveTrainingModes } from '../nn/training-modes.js';
import { Conv1d, Conv2d, ConvTranspose2d, Linear } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { Identity } from '../nn/simple.js';
import { tensor } from '../tensor/create.js';
import type { Tensor } from '../tensor/tensor.js';

type Foldable = Linear | Conv1d | Conv2d | ConvTranspose2d;

export interface FoldReport {
  /** Each BatchNorm folded, by path, and the layer it went into. */
  folded: { layer: string; norm: string }[];
  /** BatchNorm layers left in place, and why. */
  left: { norm: string; reason: string }[];
  /** max |folded(batch) − model(batch)|, both in eval mode, when a batch is given. */
  maxAbsDiff: number | null;
}

const foldable = (m: Module): m is Foldable =>
  m instanceof Linear || m instanceof Conv1d || m instanceof Conv2d || m instanceof ConvTranspose2d;

const where = (m: Module) => `${m.path || '(root)'} ${m.describe()}`;

/** Layer → BatchNorm pairs where the norm reads the layer's output directly. */
function adjacentPairs(model: Module): [Foldable, BatchNormBase][] {
  const out: [Foldable, BatchNormBase][] = [];
  for (const [, m] of model.namedModules())
    for (const [a, b] of m.adjacentLayers())
      if (foldable(a) && b instanceof BatchNormBase) out.push([a, b]);
  return out;
}

/** Why this pair cannot fold, or null. Throws for a norm without running statistics. */
function obstacle(layer: Foldable, bn: BatchNormBase): string | null {
  if (!bn.trackRunningStats) {
    throw new Error(
      `foldBatchNorm: ${where(bn)} has no running statistics (trackRunningStats false): it ` +
        `normalizes every batch with that batch's own statistics, which no weight can hold`,
    );
  }
  if (layer.hasHooks || bn.hasHooks) return 'a hook is registered on it or on the layer before';
  if (layer.stateDict().weight_orig !== undefined)
    return 'the layer before is spectrally normalized (its weight is recomputed every call)';
  if (bn.settings.channelAxis !== 1 && !(layer instanceof Linear))
    return "it normalizes the last axis (channels last), not the convolution's channels";
  return null;
}

/** Scales each output channel's weights by s and sets bias (b − μ)·s + β, in float64. */
function foldInto(layer: Foldable, bn: BatchNormBase): void {
  const C = bn.numFeatures;
  const s = bn.runningScale()!; // obstacle() has checked for running statistics
  const W = layer.weight.data;
  if (layer instanceof ConvTranspose2d) {
    // Weight [in, out/groups, kh, kw]: output channel (group·out/groups + j) sits at [i, j].
    const [cin, cpg] = layer.weight.shape;
    const kk = layer.weight.size / (cin * cpg);
    const inPerGroup = cin / (layer.options.groups ?? 1);
    for (let i = 0; i < cin; i++)
      for (let j = 0; j < cpg; j++) {
        const c = Math.floor(i / inPerGroup) * cpg + j;
        for (let k = (i * cpg + j) * kk, e = k + kk; k < e; k++) W[k] *= s[c];
      }
  } else {
    const per = W.length / C; // weight [out, ...]: a contiguous block per output channel
    for (let c = 0; c < C; c++) for (let k = c * per; k < (c + 1) * per; k++) W[k] *= s[c];
  }
  const b = bn.foldedBias(layer.bias?.data, s);
  layer.setBias(tensor(b, [C], { dtype: layer.weight.dtype }));
}

/**
 * A folded copy of `model` in eval mode: every BatchNorm directly after a Linear, Conv1d,
 * Conv2d or ConvTranspose2d (in a Sequential or a BasicBlock; any groups, stride, dilation)
 * becomes part of that layer's weight and bias and is replaced by Identity. The original is
 * untouched. With `batch`, the report gives the largest difference between the two models'
 * eval outputs on it.
 */
export function foldBatchNorm(
  model: Module,
  opts: { batch?: Tensor } = {},
): { model: Module; report: FoldReport } {
  const report: FoldReport = { folded: [], left: [], maxAbsDiff: null };
  const pairs: [Foldable, BatchNormBase][] = [];
  const paired = new Set<Module>();
  for (const [layer, bn] of adjacentPairs(model)) {
    paired.add(bn);
    const why = obstacle(layer, bn);
    if (why === null) pairs.push([layer, bn]);
    else report.left.push({ norm: where(bn), reason: why });
  }
  for (const [, m] of model.namedModules()) {
    if (m instanceof BatchNormBase && !paired.has(m))
      report.left.push({
        norm: where(m),
        reason:
          'it does not read a Linear or convolution directly (in a Sequential, BasicBlock or imported ONNX graph)',
      });
  }
  const folded = cloneModule(model, {
    substitutes: new Map(pairs.map(([, bn]) => [bn, new Identity()])),
  });
  // The copy has the original's structure, so its modules come in the same order.
  const inCopy = folded.namedModules();
  const copies = new Map(model.namedModules().map(([, m], i) => [m, inCopy[i][1]] as const));
  for (const [layer, bn] of pairs) {
    foldInto(copies.get(layer) as Foldable, bn);
    report.folded.push({ layer: where(layer), norm: where(bn) });
  }
  folded.eval();
  if (opts.batch !== undefined) {
    const restore = saveTrainingModes(model);
    try {
      model.eval();
      report.maxAbsDiff = noGrad(() => {
        const a = model.call(opts.batch!).data,
          b = folded.call(opts.batch!).data;
        let d = 0;
        for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        return d;
      });
    } finally {
      restore();
    }
  }
  return { model: folded, report };
}
