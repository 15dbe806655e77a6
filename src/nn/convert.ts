// Moving BatchNorm state between PyTorch, Keras and ONNX. Every framework normalizes in eval
// as y = (x − running_mean) / sqrt(running_var + eps) · weight + bias, using the stored
// running variance as it is, so for identical eval outputs copy the statistics unchanged and
// keep the source's eps. Only to continue *training* under the other estimator does the
// running variance need rescaling (rescaleRunningVar).
import {
  BatchNorm1d,
  BatchNorm2d,
  BatchNorm3d,
  type BatchNormBase,
  type BatchNormOptions,
} from './batchnorm.js';

export type Dims = 1 | 2 | 3;

/** Keras BatchNormalization: get_weights() order is gamma, beta, moving_mean, moving_variance. */
export interface KerasBatchNorm {
  weights: {
    gamma?: ArrayLike<number>;
    beta?: ArrayLike<number>;
    moving_mean: ArrayLike<number>;
    moving_variance: ArrayLike<number>;
  };
  config: { epsilon?: number; momentum?: number; axis?: number; center?: boolean; scale?: boolean };
}

/** ONNX BatchNormalization-15: inputs scale, B, input_mean, input_var; attributes epsilon, momentum. */
export interface OnnxBatchNorm {
  initializers: {
    scale: ArrayLike<number>;
    B: ArrayLike<number>;
    input_mean: ArrayLike<number>;
    input_var: ArrayLike<number>;
  };
  attributes: { epsilon?: number; momentum?: number };
}

/** A PyTorch BatchNorm state_dict (weight and bias absent when affine=False) and its arguments. */
export interface PyTorchBatchNorm {
  stateDict: {
    weight?: ArrayLike<number>;
    bias?: ArrayLike<number>;
    running_mean: ArrayLike<number>;
    running_var: ArrayLike<number>;
    num_batches_tracked?: number;
  };
  args?: { eps?: number; momentum?: number | null };
}

function make(dims: Dims, n: number, opts: BatchNormOptions): BatchNormBase {
  const Ctor = dims === 1 ? BatchNorm1d : dims === 2 ? BatchNorm2d : BatchNorm3d;
  return new Ctor(n, opts);
}

function fill(
  bn: BatchNormBase,
  v: {
    weight?: ArrayLike<number>;
    bias?: ArrayLike<number>;
    mean: ArrayLike<number>;
    variance: ArrayLike<number>;
  },
): BatchNormBase {
  const C = bn.numFeatures;
  const check = (what: string, a: ArrayLike<number> | undefined) => {
    if (a !== undefined && a.length !== C)
      throw new Error(`${bn.describe()}: expected ${what} of ${C} values, got ${a.length}`);
  };
  check('weight', v.weight);
  check('bias', v.bias);
  check('running mean', v.mean);
  check('running variance', v.variance);
  if (v.weight) bn.weight!.data.set(v.weight);
  if (v.bias) bn.bias!.data.set(v.bias);
  bn.runningMean!.data.set(v.mean);
  bn.runningVar!.data.set(v.variance);
  return bn;
}

export function batchNormFromKeras(dims: Dims, k: KerasBatchNorm): BatchNormBase {
  const c = k.config;
  const n = k.weights.moving_mean.length;
  const axis = c.axis ?? -1;
  const scale = c.scale ?? true,
    center = c.center ?? true;
  const bn = make(dims, n, {
    convention: 'keras',
    eps: c.epsilon,
    momentum: c.momentum,
    channelAxis: axis === -1 || axis === dims + 1 ? -1 : 1,
    affine: scale || center,
  });
  return fill(bn, {
    weight: scale ? k.weights.gamma : undefined,
    bias: center ? k.weights.beta : undefined,
    mean: k.weights.moving_mean,
    variance: k.weights.moving_variance,
  });
}

export function batchNormToKeras(bn: BatchNormBase): KerasBatchNorm {
  const momentum = toStyle(bn, 'old');
  return {
    weights: {
      gamma: bn.weight ? Array.from(bn.weight.data) : undefined,
      beta: bn.bias ? Array.from(bn.bias.data) : undefined,
      moving_mean: Array.from(stats(bn).mean),
      moving_variance: Array.from(stats(bn).variance),
    },
    config: {
      epsilon: bn.eps,
      momentum,
      axis: bn.settings.channelAxis,
      center: bn.affine,
      scale: bn.affine,
    },
  };
}

export function batchNormFromOnnx(dims: Dims, o: OnnxBatchNorm): BatchNormBase {
  const bn = make(dims, o.initializers.input_mean.length, {
    convention: 'onnx',
    eps: o.attributes.epsilon,
    momentum: o.attributes.momentum,
  });
  return fill(bn, {
    weight: o.initializers.scale,
    bias: o.initializers.B,
    mean: o.initializers.input_mean,
    variance: o.initializers.input_var,
  });
}

export function batchNormToOnnx(bn: BatchNormBase): OnnxBatchNorm {
  const C = bn.numFeatures;
  return {
    initializers: {
      scale: bn.weight ? Array.from(bn.weight.data) : new Array(C).fill(1),
      B: bn.bias ? Array.from(bn.bias.data) : new Array(C).fill(0),
      input_mean: Array.from(stats(bn).mean),
      input_var: Array.from(stats(bn).variance),
    },
    attributes: { epsilon: bn.eps, momentum: toStyle(bn, 'old') },
  };
}

export function batchNormFromPyTorch(dims: Dims, p: PyTorchBatchNorm): BatchNormBase {
  const sd = p.stateDict;
  const bn = make(dims, sd.running_mean.length, {
    convention: 'pytorch',
    eps: p.args?.eps,
    momentum: p.args?.momentum,
    affine: sd.weight !== undefined,
  });
  fill(bn, { weight: sd.weight, bias: sd.bias, mean: sd.running_mean, variance: sd.running_var });
  if (sd.num_batches_tracked !== undefined) bn.setNumBatchesTracked(sd.num_batches_tracked);
  return bn;
}

export function batchNormToPyTorch(bn: BatchNormBase): PyTorchBatchNorm {
  const s = stats(bn);
  return {
    stateDict: {
      weight: bn.weight ? Array.from(bn.weight.data) : undefined,
      bias: bn.bias ? Array.from(bn.bias.data) : undefined,
      running_mean: Array.from(s.mean),
      running_var: Array.from(s.variance),
      num_batches_tracked: bn.numBatchesTracked,
    },
    args: { eps: bn.eps, momentum: bn.momentum === null ? null : toStyle(bn, 'new') },
  };
}

/**
 * Rescales a running variance between estimators, for continuing training under another
 * convention: unbiased = biased · n/(n − 1), with n the values per channel in a batch.
 * (Not needed for eval: every framework uses the stored value as it is.)
 */
export function rescaleRunningVar(
  values: ArrayLike<number>,
  from: 'unbiased' | 'biased',
  to: 'unbiased' | 'biased',
  n: number,
): number[] {
  if (!(Number.isInteger(n) && n > 1))
    throw new Error(`rescaleRunningVar: expected n > 1 values per channel, got ${n}`);
  const f = from === to ? 1 : from === 'biased' ? n / (n - 1) : (n - 1) / n;
  return Array.from(values, (v) => v * f);
}

/** The momentum as the given style reads it (weight of the new batch, or of the old value). */
function toStyle(bn: BatchNormBase, style: 'new' | 'old'): number {
  if (bn.momentum === null)
    throw new Error(
      `${bn.describe()}: momentum null (cumulative average) has no ${style}-style equivalent`,
    );
  return bn.settings.momentumWeighs === style ? bn.momentum : 1 - bn.momentum;
}

function stats(bn: BatchNormBase): { mean: ArrayLike<number>; variance: ArrayLike<number> } {
  if (bn.runningMean === null || bn.runningVar === null) {
    throw new Error(
      `${bn.describe()}: has no running statistics to export (trackRunningStats is false)`,
    );
  }
  return { mean: bn.runningMean.data, variance: bn.runningVar.data };
}
