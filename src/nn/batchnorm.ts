// BatchNorm1d/2d/3d. The default is PyTorch's semantics: r = (1 - m)·r + m·batch, running
// variance unbiased, momentum null = cumulative average over numBatchesTracked, eval uses
// running statistics unless trackRunningStats is false. A `convention` preset (or explicit
// options) switches to Keras's or ONNX's (see conventions.ts). A failed call changes no state.
import { isGradEnabled } from '../autograd/grad-mode.js';
import { fmt } from '../tensor/shape.js';
import { noteTrainingUnderNoGrad } from './eval-guard.js';
import type { Tensor } from '../tensor/tensor.js';
import { batchNorm, batchNormTrain, updateRunningStats } from '../ops/batchnorm.js';
import { clone, concat, permute, slice } from '../ops/shape-ops.js';
import { relu as reluOp } from '../ops/activation.js';
import { maxPoolAttrs } from '../ops/pool.js';
import { type Convention, type ConventionDefaults, conventionDefaults } from './conventions.js';
import { assertFinite, assertInputDType } from './input-checks.js';
import { type Fused, type Module, runsForwardOf } from './module.js';
import { NormBase } from './norm-base.js';
import { MaxPool2d, ReLU } from './simple.js';

export interface BatchNormOptions extends Partial<Omit<ConventionDefaults, 'momentum'>> {
  /** Defaults for everything below; 'pytorch' unless given. */
  convention?: Convention;
  /** Read as the convention says (momentumWeighs); null: cumulative average (PyTorch style only). */
  momentum?: number | null;
  affine?: boolean;
  trackRunningStats?: boolean;
  /** Throw, naming the layer, when the input holds NaN or Inf (off by default, as in PyTorch). */
  checkFinite?: boolean;
  /** Ghost batch norm: normalize groups of this many samples separately in training. */
  virtualBatchSize?: number | null;
}

export abstract class BatchNormBase extends NormBase {
  readonly eps: number;
  readonly momentum: number | null;
  readonly convention: Convention;
  /** The convention's settings with this layer's overrides applied. */
  readonly settings: ConventionDefaults;
  readonly checkFinite: boolean;
  readonly virtualBatchSize: number | null;
  /**
   * Set by recalibrateBatchNorm: running statistics become the cumulative average of the
   * batches seen since the reset, whatever the momentum and convention.
   */
  cumulativeAverage = false;
  /** Set by freezeBatchNorm: the layer stays in eval mode whatever train() is called with. */
  frozen = false;

  protected abstract readonly ranks: number[];
  protected abstract readonly layout: string;
  protected abstract readonly layoutLast: string;

  constructor(numFeatures: number, opts: BatchNormOptions = {}) {
    super(numFeatures, opts.affine ?? true, opts.trackRunningStats ?? true);
    const name = this.constructor.name;
    this.convention = opts.convention ?? 'pytorch';
    const d = conventionDefaults(name, this.convention);
    const pick = <K extends keyof ConventionDefaults>(k: K) =>
      (opts[k as keyof BatchNormOptions] ?? d[k]) as ConventionDefaults[K];
    this.settings = {
      eps: pick('eps'),
      momentum: d.momentum,
      momentumWeighs: pick('momentumWeighs'),
      runningVariance: pick('runningVariance'),
      channelAxis: pick('channelAxis'),
      checkBatchOfOne: pick('checkBatchOfOne'),
    };
    this.eps = this.settings.eps;
    if (!(this.eps > 0)) throw new Error(`${name}: expected eps > 0, got ${this.eps}`);
    this.momentum = opts.momentum === undefined ? d.momentum : opts.momentum;
    if (this.momentum !== null && !(this.momentum >= 0 && this.momentum <= 1)) {
      throw new Error(`${name}: expected momentum in [0, 1] or null, got ${this.momentum}`);
    }
    if (this.momentum === null && this.settings.momentumWeighs === 'old') {
      throw new Error(
        `${name}: momentum null (cumulative average) needs momentumWeighs 'new' (PyTorch style)`,
      );
    }
    if (this.settings.channelAxis !== 1 && this.settings.channelAxis !== -1) {
      throw new Error(
        `${name}: expected channelAxis 1 or -1, got ${String(this.settings.channelAxis)}`,
      );
    }
    this.checkFinite = opts.checkFinite ?? false;
    this.virtualBatchSize = opts.virtualBatchSize ?? null;
    const v = this.virtualBatchSize;
    if (v !== null && !(Number.isInteger(v) && v >= 1)) {
      throw new Error(`${name}: expected virtualBatchSize to be a positive integer, got ${v}`);
    }
  }

  override describe(): string {
    const extra = [
      this.convention !== 'pytorch' ? `convention=${this.convention}` : '',
      this.eps !== conventionDefaults('', this.convention).eps ? `eps=${this.eps}` : '',
      this.momentum !== conventionDefaults('', this.convention).momentum
        ? `momentum=${this.momentum}`
        : '',
      this.affine ? '' : 'affine=false',
      this.trackRunningStats ? '' : 'trackRunningStats=false',
    ].filter(Boolean);
    return `${this.constructor.name}(${this.numFeatures}${extra.length ? ', ' + extra.join(', ') : ''})`;
  }

  override train(mode = true): this {
    return super.train(this.frozen ? false : mode);
  }

  forward(x: Tensor): Tensor {
    return this.run(x, false);
  }

  /**
   * γ/√(σ² + ε) per channel from the running statistics (float64): eval mode's map is
   * y = (x − μ)·scale + β. null without running statistics. What folding this norm into the
   * layer before it scales that layer's weights by.
   */
  runningScale(): Float64Array | null {
    if (!this.trackRunningStats) return null;
    const v = this.runningVar!.data,
      g = this.weight?.data;
    return Float64Array.from(
      { length: this.numFeatures },
      (_, c) => (g ? g[c] : 1) / Math.sqrt(v[c] + this.eps),
    );
  }

  /** The bias b of the layer before this norm carried through eval mode: (b − μ)·scale + β. */
  foldedBias(b: ArrayLike<number> | undefined, scale: Float64Array): Float64Array {
    const mu = this.runningMean!.data,
      beta = this.bias?.data;
    return Float64Array.from(scale, (s, c) => ((b ? b[c] : 0) - mu[c]) * s + (beta ? beta[c] : 0));
  }

  /**
   * BatchNorm followed by a ReLU runs as one fused pass (same values, one less tensor);
   * followed by max pooling (after a ReLU or not), its training pass pools each plane from
   * cache, and the full-size output is never stored (the ReLU then runs on the pooled values,
   * as ReLU.fuseWith moves it: the same values and gradients).
   */
  override fuseWith([a, b]: Module[]): Fused | null {
    if (!runsForwardOf(this, BatchNormBase)) return null;
    const relu = runsForwardOf(a, ReLU);
    const pool = relu ? b : a;
    if (runsForwardOf(pool, MaxPool2d))
      return { span: relu ? 3 : 2, forward: (x) => this.run(x, relu, pool) };
    return relu ? { span: 2, forward: (x) => this.run(x, true) } : null;
  }

  /**
   * Ghost batches: with virtualBatchSize v, samples [g·v, (g+1)·v) form ghost batch g (the
   * last one takes the remainder); each is normalized with its own statistics.
   */
  private ghostBatches(x: Tensor, name: string): Tensor[] {
    const v = this.virtualBatchSize;
    const N = x.shape[0];
    if (!this.training || v === null || N <= v) return [x];
    const last = N % v;
    if (last === 1 && x.size / (N * this.numFeatures) === 1 && this.settings.checkBatchOfOne) {
      throw new Error(
        `${name}: Expected more than 1 value per channel when training: input ${fmt(x.shape)} ` +
          `in ghost batches of virtualBatchSize ${v} leaves a last ghost batch of 1 sample ` +
          `(use a batch size that is not 1 more than a multiple of ${v})`,
      );
    }
    const out: Tensor[] = [];
    for (let start = 0; start < N; start += v) out.push(slice(x, 0, start, Math.min(N, start + v)));
    return out;
  }

  /** Normalizes one (ghost) batch with its own statistics; Batch Renorm overrides this. */
  protected normalizeBatch(
    x: Tensor,
    relu: boolean,
    name: string,
  ): { y: Tensor; mean: Float64Array; variance: Float64Array; count: number } {
    return batchNormTrain(x, this.weight, this.bias, {
      eps: this.eps,
      relu,
      name,
      checkBatchOfOne: this.settings.checkBatchOfOne,
    });
  }

  /** normalizeBatch followed by max pooling in the same pass. */
  private normalizePooled(x: Tensor, pool: MaxPool2d, name: string) {
    const needGrad = [x, this.weight, this.bias].some((t) => t?.requiresGrad);
    return batchNormTrain(x, this.weight, this.bias, {
      eps: this.eps,
      name,
      checkBatchOfOne: this.settings.checkBatchOfOne,
      pool: maxPoolAttrs(x, pool.kernelSize, pool.options, needGrad),
    });
  }

  /**
   * Moves the running statistics once for this training call, by the mean over (ghost)
   * batches of their means and variances (biased in, stored as the convention says), with
   * the convention's momentum, and counts the step. Called only after the call succeeded.
   */
  protected recordBatchStats(
    parts: { mean: ArrayLike<number>; variance: ArrayLike<number>; count: number }[],
  ): void {
    const steps = this.numBatchesTracked + 1;
    const cumulative = this.momentum === null || this.cumulativeAverage;
    const m = cumulative ? 1 / steps : this.momentum!;
    const unbiased = this.settings.runningVariance === 'unbiased';
    const mean = new Float64Array(this.numFeatures),
      variance = new Float64Array(this.numFeatures);
    for (const p of parts) {
      const f = unbiased ? p.count / (p.count - 1) : 1;
      for (let c = 0; c < mean.length; c++) {
        mean[c] += p.mean[c] / parts.length;
        variance[c] += (p.variance[c] * f) / parts.length;
      }
    }
    const weightOfNew = cumulative || this.settings.momentumWeighs === 'new' ? m : 1 - m;
    updateRunningStats(this.runningMean!, this.runningVar!, mean, variance, weightOfNew);
    this.setNumBatchesTracked(steps);
  }

  /**
   * With pool: the norm (and relu) followed by max pooling. A batch normalized whole, with
   * channels first, pools in the norm's pass (the ReLU then on the pooled values); otherwise
   * the pool runs on the output.
   */
  private run(x: Tensor, relu: boolean, pool?: MaxPool2d): Tensor {
    const name = this.describe();
    const last = this.settings.channelAxis === -1;
    const C = last ? x.shape[x.rank - 1] : x.shape[1];
    if (!this.ranks.includes(x.rank) || C !== this.numFeatures) {
      const layout = last ? this.layoutLast : this.layout;
      throw new Error(
        `${name}: expected input ${layout.replaceAll('C', String(this.numFeatures))}, got ${fmt(x.shape)}`,
      );
    }
    assertInputDType(name, x, this.weight ?? this.runningMean);
    if (this.checkFinite) assertFinite(name, x);
    // An empty batch gives an empty result and moves no statistic (PyTorch returns one too).
    if (x.size === 0) return pool ? pool.forward(clone(x)) : clone(x);
    // Channels last: normalize the NCHW view, then move the channels back.
    const toFirst =
      last && x.rank > 2 ? [0, x.rank - 1, ...x.shape.slice(1, -1).map((_, i) => i + 1)] : null;
    const xc = toFirst ? permute(x, toFirst) : x;
    const updating = this.training && this.trackRunningStats;
    if (this.training && !isGradEnabled() && !this.cumulativeAverage) noteTrainingUnderNoGrad(this);
    let y: Tensor;
    let pooled = false;
    if (this.training || !this.trackRunningStats) {
      const batches = this.ghostBatches(xc, name);
      // (A subclass's own normalizeBatch, as Batch Renorm's, is not the pooled pass's norm.)
      pooled =
        pool !== undefined &&
        batches.length === 1 &&
        toFirst === null &&
        xc.rank === 4 &&
        this.normalizeBatch === BatchNormBase.prototype.normalizeBatch;
      const parts = pooled
        ? [this.normalizePooled(xc, pool!, name)]
        : batches.map((chunk) => this.normalizeBatch(chunk, relu, name));
      y =
        parts.length === 1
          ? parts[0].y
          : concat(
              parts.map((p) => p.y),
              0,
            );
      if (updating) this.recordBatchStats(parts);
    } else {
      y = batchNorm(xc, this.runningMean, this.runningVar, this.weight, this.bias, {
        training: false,
        eps: this.eps,
        name,
        relu,
      });
    }
    if (toFirst) y = permute(y, inversePermutation(toFirst));
    if (!pool) return y;
    if (!pooled) return pool.forward(y);
    return relu ? reluOp(y) : y;
  }
}

/** Accepted ranks and the layouts named in errors, channels first and last, per family. */
export const LAYOUTS_1D = {
  ranks: [2, 3],
  layout: '[N, C] or [N, C, L]',
  layoutLast: '[N, C] or [N, L, C]',
};
export const LAYOUTS_2D = { ranks: [4], layout: '[N, C, H, W]', layoutLast: '[N, H, W, C]' };
export const LAYOUTS_3D = { ranks: [5], layout: '[N, C, D, H, W]', layoutLast: '[N, D, H, W, C]' };

export class BatchNorm1d extends BatchNormBase {
  protected readonly ranks = LAYOUTS_1D.ranks;
  protected readonly layout = LAYOUTS_1D.layout;
  protected readonly layoutLast = LAYOUTS_1D.layoutLast;
}

export class BatchNorm2d extends BatchNormBase {
  protected readonly ranks = LAYOUTS_2D.ranks;
  protected readonly layout = LAYOUTS_2D.layout;
  protected readonly layoutLast = LAYOUTS_2D.layoutLast;
}

export class BatchNorm3d extends BatchNormBase {
  protected readonly ranks = LAYOUTS_3D.ranks;
  protected readonly layout = LAYOUTS_3D.layout;
  protected readonly layoutLast = LAYOUTS_3D.layoutLast;
}

function inversePermutation(p: number[]): number[] {
  const inv = new Array<number>(p.length);
  p.forEach((d, i) => (inv[d] = i));
  return inv;
}
