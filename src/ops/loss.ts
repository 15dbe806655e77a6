import { tensor } from '../tensor/create.js';
import { fmt } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { abs, add, div, exp, log, maximum, mul, neg, sub } from './arith.js';
import { apply } from '../autograd/apply.js';
import { registerGradient, registerKernel } from '../kernels/registry.js';
import { empty } from '../tensor/tensor.js';
import { logSoftmax, relu } from './activation.js';
import { mean, sum } from './reduce.js';
import { expectRank, expectTensor } from './util.js';

export type Reduction = 'mean' | 'sum' | 'none';

function reduce(op: string, loss: Tensor, reduction: Reduction): Tensor {
  if (reduction === 'mean') return mean(loss);
  if (reduction === 'sum') return sum(loss);
  if (reduction === 'none') return loss;
  throw new Error(`${op}: expected reduction 'mean', 'sum' or 'none', got ${String(reduction)}`);
}

/**
 * Cross entropy of logits [N, C] against class indices (PyTorch's F.cross_entropy), with
 * optional label smoothing: the target is (1 - s)·onehot + s/C.
 */
export function crossEntropy(
  logits: Tensor,
  target: Tensor | ArrayLike<number>,
  opts: { labelSmoothing?: number; reduction?: Reduction } = {},
): Tensor {
  expectTensor('crossEntropy', 'input', logits);
  expectRank('crossEntropy', 'input', logits, [2], '[N, C]');
  const [N, C] = logits.shape;
  const labels = target instanceof Tensor ? target.data : target;
  if (labels.length !== N) {
    const got = target instanceof Tensor ? fmt(target.shape) : `${labels.length} labels`;
    throw new Error(
      `crossEntropy: expected target of ${N} class indices for input ${fmt(logits.shape)}, got ${got}`,
    );
  }
  const s = opts.labelSmoothing ?? 0;
  if (!(s >= 0 && s <= 1))
    throw new Error(`crossEntropy: expected labelSmoothing in [0, 1], got ${s}`);
  const q = new Float64Array(N * C).fill(s / C);
  for (let i = 0; i < N; i++) {
    const k = labels[i];
    if (!Number.isInteger(k) || k < 0 || k >= C) {
      throw new Error(`crossEntropy: target ${i} is ${k}, expected a class index in [0, ${C})`);
    }
    q[i * C + k] += 1 - s;
  }
  const qt = tensor(q, [N, C], { dtype: logits.dtype });
  const perSample = neg(sum(mul(logSoftmax(logits, 1), qt), 1));
  return reduce('crossEntropy', perSample, opts.reduction ?? 'mean');
}

export function mseLoss(
  input: Tensor,
  target: Tensor,
  opts: { reduction?: Reduction } = {},
): Tensor {
  expectTensor('mseLoss', 'input', input);
  expectTensor('mseLoss', 'target', target);
  if (fmt(input.shape) !== fmt(target.shape)) {
    throw new Error(
      `mseLoss: expected target of shape ${fmt(input.shape)}, got ${fmt(target.shape)}`,
    );
  }
  const d = sub(input, target);
  return reduce('mseLoss', mul(d, d), opts.reduction ?? 'mean');
}

function sameShape(op: string, input: Tensor, target: Tensor): void {
  expectTensor(op, 'input', input);
  expectTensor(op, 'target', target);
  if (fmt(input.shape) !== fmt(target.shape)) {
    throw new Error(
      `${op}: expected target of shape ${fmt(input.shape)}, got ${fmt(target.shape)}`,
    );
  }
}

/**
 * Binary cross entropy of probabilities (PyTorch's F.binary_cross_entropy): each log is
 * clamped at −100, as PyTorch does, so a probability of exactly 0 or 1 gives a finite loss,
 * and the gradient is PyTorch's (p − t) / max(p(1 − p), 1e-12), finite there too.
 */
export function bce(
  input: Tensor,
  target: Tensor,
  opts: { weight?: Tensor; reduction?: Reduction } = {},
): Tensor {
  sameShape('bce', input, target);
  let l = apply('BinaryCrossEntropy', [input, target]);
  if (opts.weight) l = mul(l, opts.weight);
  return reduce('bce', l, opts.reduction ?? 'mean');
}

/**
 * Binary cross entropy on logits (PyTorch's F.binary_cross_entropy_with_logits), in the stable
 * form max(x, 0) − x·t + log(1 + e^−|x|); posWeight p weighs the positive term:
 * (1 − t)·x + (1 + (p − 1)·t)·(log(1 + e^−|x|) + max(−x, 0)).
 */
export function bceWithLogits(
  input: Tensor,
  target: Tensor,
  opts: { weight?: Tensor; posWeight?: Tensor; reduction?: Reduction } = {},
): Tensor {
  sameShape('bceWithLogits', input, target);
  const softplusNeg = add(log(add(1, exp(neg(abs(input))))), relu(neg(input))); // log(1 + e^−x)
  let l: Tensor;
  if (opts.posWeight) {
    const w = add(1, mul(sub(opts.posWeight, 1), target));
    l = add(mul(sub(1, target), input), mul(w, softplusNeg));
  } else {
    l = add(mul(sub(1, target), input), softplusNeg);
  }
  if (opts.weight) l = mul(l, opts.weight);
  return reduce('bceWithLogits', l, opts.reduction ?? 'mean');
}

registerKernel({
  name: 'BinaryCrossEntropy',
  backend: 'js',
  fn: ([p, t]) => {
    const y = empty(p.shape, p.dtype);
    const P = p.data,
      T = t.data,
      Y = y.data;
    for (let i = 0; i < Y.length; i++) {
      const lp = Math.max(Math.log(P[i]), -100),
        lq = Math.max(Math.log(1 - P[i]), -100);
      Y[i] = -(T[i] * lp + (1 - T[i]) * lq);
    }
    return y;
  },
});
registerGradient('BinaryCrossEntropy', (dy, { inputs: [p, t] }) => [
  div(mul(dy, sub(p, t)), maximum(mul(p, sub(1, p)), 1e-12)),
  null,
]);
