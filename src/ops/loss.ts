import { tensor } from '../tensor/create.js';
import { fmt } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { logSoftmax } from './activation.js';
import { mul, neg, sub } from './arith.js';
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
