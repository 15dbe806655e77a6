// Functional batch normalization (PyTorch's F.batch_norm): batch statistics in training,
// running statistics in eval. Running buffers are updated in place after the kernel succeeds.
import { applyMulti, apply } from '../autograd/apply.js';
import type { PoolAttrs } from '../kernels/js/pool.js';
import { registerGradient } from '../kernels/registry.js';
import { zeros, ones } from '../tensor/create.js';
import { fmt } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { add, div, mul, sqrt, sub } from './arith.js';
import { sum } from './reduce.js';
import { reshape } from './shape-ops.js';
import { expectTensor } from './util.js';

export interface BatchNormOptions {
  training?: boolean;
  /** Weight of the new batch in the running average: r = (1 - m)·r + m·batch. */
  momentum?: number;
  eps?: number;
  /** Name used in error messages (the layer). */
  name?: string;
  /** Apply ReLU in the same pass (fused BatchNorm + ReLU). */
  relu?: boolean;
  /** The running variance stores the unbiased batch variance (PyTorch; default) or the biased one (Keras, ONNX). */
  unbiasedRunningVar?: boolean;
  /** Refuse a training batch with one value per channel (PyTorch; default). */
  checkBatchOfOne?: boolean;
}

export function batchNorm(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null,
  bias: Tensor | null,
  opts: BatchNormOptions = {},
): Tensor {
  const op = opts.name ?? 'batchNorm';
  const training = opts.training ?? false;
  const eps = opts.eps ?? 1e-5;
  const momentum = opts.momentum ?? 0.1;
  expectTensor(op, 'input', x);
  if (x.rank < 2) throw new Error(`${op}: expected input [N, C, ...], got ${fmt(x.shape)}`);
  const C = x.shape[1];
  const named: [string, Tensor | null][] = [
    ['runningMean', runningMean],
    ['runningVar', runningVar],
    ['weight', weight],
    ['bias', bias],
  ];
  for (const [name, t] of named) {
    if (t !== null && (t.rank !== 1 || t.shape[0] !== C)) {
      throw new Error(
        `${op}: expected ${name} of shape [${C}] for input ${fmt(x.shape)}, got ${fmt(t.shape)}`,
      );
    }
  }
  if (!(eps > 0)) throw new Error(`${op}: expected eps > 0, got ${eps}`);
  if ((runningMean === null) !== (runningVar === null)) {
    throw new Error(`${op}: runningMean and runningVar must both be given or both be null`);
  }
  const w = weight ?? (bias ? ones([C], { dtype: x.dtype }) : null);
  const b = bias ?? (weight ? zeros([C], { dtype: x.dtype }) : null);
  const affine = w && b ? [w, b] : [];
  if (!training) {
    if (runningMean === null || runningVar === null) {
      throw new Error(
        `${op}: eval mode needs running statistics (or use batch statistics with training: true)`,
      );
    }
    return apply('BatchNormEval', [x, runningMean, runningVar, ...affine], {
      eps,
      relu: opts.relu ?? false,
    });
  }
  const st = batchNormTrain(x, w, b, { ...opts, name: op });
  if (runningMean !== null && runningVar !== null) {
    const unbias = (opts.unbiasedRunningVar ?? true) ? st.count / (st.count - 1) : 1;
    updateRunningStats(
      runningMean,
      runningVar,
      st.mean,
      st.variance.map((v) => v * unbias),
      momentum,
    );
  }
  return st.y;
}

/**
 * Training-mode batch normalization that also returns the batch statistics: mean and
 * biased variance per channel (float64) and the values per channel. Checks nothing but the
 * batch-of-one rule: callers validate shapes.
 */
export function batchNormTrain(
  x: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  opts: Pick<BatchNormOptions, 'eps' | 'relu' | 'name' | 'checkBatchOfOne'> & {
    /** Max pooling of the output in the same pass (no ReLU then): y is the pooled output. */
    pool?: PoolAttrs;
  } = {},
): { y: Tensor; mean: Float64Array; variance: Float64Array; count: number } {
  const count = x.size / x.shape[1];
  if (count <= 1 && (opts.checkBatchOfOne ?? true)) {
    throw new Error(
      `${opts.name ?? 'batchNorm'}: Expected more than 1 value per channel when training, got input size ${fmt(x.shape)}`,
    );
  }
  const affine = weight && bias ? [weight, bias] : [];
  const eps = opts.eps ?? 1e-5;
  const [y, mean, , variance] = opts.pool
    ? applyMulti('BatchNormTrainPool', [x, ...affine], { eps, pool: opts.pool })
    : applyMulti('BatchNormTrain', [x, ...affine], { eps, relu: opts.relu ?? false });
  return {
    y,
    mean: Float64Array.from(mean.data),
    variance: Float64Array.from(variance.data),
    count,
  };
}

/** r ← (1 − m)·r + m·batch for running mean and variance, in place (every norm's update). */
export function updateRunningStats(
  runningMean: Tensor,
  runningVar: Tensor,
  mean: ArrayLike<number>,
  variance: ArrayLike<number>,
  momentum: number,
): void {
  const RM = runningMean.data,
    RV = runningVar.data;
  for (let c = 0; c < RM.length; c++) {
    RM[c] = (1 - momentum) * RM[c] + momentum * mean[c];
    RV[c] = (1 - momentum) * RV[c] + momentum * variance[c];
  }
}

/** With a fused ReLU the incoming gradient passes only where the output is positive. */
function unfuse(dy: Tensor, y: Tensor, relu: boolean): Tensor {
  return relu ? apply('ReluGrad', [dy, y]) : dy;
}

registerGradient(
  'BatchNormTrain',
  (dy, { inputs: [x, w], outputs: [y, mean, invstd], attrs: { relu } }, donated) => {
    // A fused ReLU's backward runs inside the norm's: y masks dy in its passes. A donated dy
    // takes dx: one tensor fewer, and its lines are in cache from the sums pass.
    const [dx, dw, db] = applyMulti(
      'BatchNormBackward',
      [dy, x, mean, invstd, ...(w ? [w] : []), ...(relu ? [y] : [])],
      { relu, intoDy: donated },
    );
    return [dx, w ? dw : null, w ? db : null];
  },
);

registerGradient(
  'BatchNormTrainPool',
  (dy, { inputs: [x, w], outputs: [, mean, invstd, , idx], attrs: { pool } }) => {
    // The pool's backward scatters dy into a fresh tensor that only this node holds: dx
    // goes over it.
    const g = apply('MaxPool2dGrad', [dy, idx], { ...pool, inputShape: [...x.shape] });
    const [dx, dw, db] = applyMulti('BatchNormBackward', [g, x, mean, invstd, ...(w ? [w] : [])], {
      relu: false,
      intoDy: true,
    });
    return [dx, w ? dw : null, w ? db : null];
  },
);

registerGradient(
  'BatchNormEval',
  (dy0, { inputs: [x, rm, rv, w], outputs: [y], attrs: { eps, relu } }) => {
    const dy = unfuse(dy0, y, relu);
    const C = x.shape[1];
    const bshape = x.shape.map((d, i) => (i === 1 ? C : 1));
    const dims = x.shape.map((_, i) => i).filter((i) => i !== 1);
    const invstd = reshape(div(1, sqrt(add(rv, eps))), bshape);
    const scale = w ? mul(invstd, reshape(w, bshape)) : invstd;
    const xhat = mul(sub(x, reshape(rm, bshape)), invstd);
    return [
      mul(dy, scale),
      null,
      null,
      w ? sum(mul(dy, xhat), dims) : null,
      w ? sum(dy, dims) : null,
    ];
  },
);
