// LayerNorm, GroupNorm and InstanceNorm as one row normalization (shared statistics helper)
// plus a broadcast affine transform.
import { apply, applyMulti } from '../autograd/apply.js';
import { registerGradient } from '../kernels/registry.js';
import { fmt, sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { add, mul } from './arith.js';
import { ones, zeros } from '../tensor/create.js';
import { reshape } from './shape-ops.js';
import { expectTensor } from './util.js';

/** Normalizes x viewed as [rows, size/rows]: zero mean, unit (biased) variance per row. */
export function normalizeRows(x: Tensor, rows: number, eps: number): Tensor {
  return applyMulti('NormalizeRows', [x], { rows, eps })[0];
}

// A donated dy takes dx in the norms' backward kernels (see BatchNormTrain's gradient).
registerGradient('GroupNorm', (dy, { inputs: [x, w], outputs: [, mean, invstd] }, donated) => {
  const [dx, dw, db] = applyMulti(
    'GroupNormBackward',
    w ? [dy, x, mean, invstd, w] : [dy, x, mean, invstd],
    { intoDy: donated },
  );
  return [dx, w ? dw : null, w ? db : null];
});

registerGradient('LayerNorm', (dy, { inputs: [x, w, b], outputs: [, mean, invstd] }, donated) => {
  const [dx, dw, db] = applyMulti('LayerNormBackward', [dy, x, mean, invstd, w], {
    intoDy: donated,
  });
  return [dx, dw, b.requiresGrad ? db : null];
});

registerGradient('NormalizeRows', (dy, { inputs: [x], outputs: [, mean, invstd] }) => [
  apply('NormalizeRowsBackward', [dy, x, mean, invstd]),
]);

function checkEps(op: string, eps: number): void {
  if (!(eps > 0)) throw new Error(`${op}: expected eps > 0, got ${eps}`);
}

/** Per-channel affine on [N, C, ...]. */
function channelAffine(y: Tensor, weight: Tensor | null, bias: Tensor | null): Tensor {
  const shape = y.shape.map((d, i) => (i === 1 ? d : 1));
  if (weight) y = mul(y, reshape(weight, shape));
  if (bias) y = add(y, reshape(bias, shape));
  return y;
}

export function groupNorm(
  x: Tensor,
  numGroups: number,
  weight: Tensor | null = null,
  bias: Tensor | null = null,
  eps = 1e-5,
  name = 'groupNorm',
): Tensor {
  expectTensor(name, 'input', x);
  checkEps(name, eps);
  if (x.rank < 2) throw new Error(`${name}: expected input [N, C, ...], got ${fmt(x.shape)}`);
  const C = x.shape[1];
  if (!Number.isInteger(numGroups) || numGroups < 1 || C % numGroups !== 0) {
    throw new Error(`${name}: expected numChannels ${C} to be divisible by numGroups ${numGroups}`);
  }
  for (const [k, t] of [
    ['weight', weight],
    ['bias', bias],
  ] as const) {
    if (t && (t.rank !== 1 || t.shape[0] !== C))
      throw new Error(`${name}: expected ${k} [${C}], got ${fmt(t.shape)}`);
  }
  if ((weight === null) !== (bias === null)) {
    return channelAffine(normalizeRows(x, x.shape[0] * numGroups, eps), weight, bias);
  }
  return groupNormStats(x, numGroups, weight, bias, eps).y;
}

/** GroupNorm's kernel with its statistics: mean and biased variance per (sample, group). */
export function groupNormStats(
  x: Tensor,
  numGroups: number,
  weight: Tensor | null,
  bias: Tensor | null,
  eps: number,
): { y: Tensor; mean: Tensor; variance: Tensor } {
  const affine = weight && bias ? [weight, bias] : [];
  const [y, mean, , variance] = applyMulti('GroupNorm', [x, ...affine], { groups: numGroups, eps });
  return { y, mean, variance };
}

/**
 * Validates a norm over the trailing `normalizedShape` dims (LayerNorm, RMSNorm) and returns
 * how many rows it normalizes.
 */
function trailingRows(
  name: string,
  x: Tensor,
  normalizedShape: readonly number[],
  eps: number,
  params: Record<string, Tensor | null>,
): number {
  expectTensor(name, 'input', x);
  checkEps(name, eps);
  const k = normalizedShape.length;
  if (x.rank < k || fmt(x.shape.slice(x.rank - k)) !== fmt(normalizedShape)) {
    throw new Error(
      `${name}: expected input [*, ${normalizedShape.join(', ')}], got ${fmt(x.shape)}`,
    );
  }
  for (const [key, t] of Object.entries(params)) {
    if (t && fmt(t.shape) !== fmt(normalizedShape)) {
      throw new Error(`${name}: expected ${key} ${fmt(normalizedShape)}, got ${fmt(t.shape)}`);
    }
  }
  return x.size / Math.max(1, sizeOf(normalizedShape));
}

export function layerNorm(
  x: Tensor,
  normalizedShape: readonly number[],
  weight: Tensor | null = null,
  bias: Tensor | null = null,
  eps = 1e-5,
  name = 'layerNorm',
): Tensor {
  const rows = trailingRows(name, x, normalizedShape, eps, { weight, bias });
  if (weight === null) {
    const y = normalizeRows(x, rows, eps);
    return bias ? add(y, bias) : y;
  }
  const b = bias ?? zeros(normalizedShape, { dtype: x.dtype });
  return applyMulti('LayerNorm', [x, weight, b], { rows, eps })[0];
}

/** Each (sample, channel) normalized over its spatial positions, with batch statistics. */
export function instanceNorm(
  x: Tensor,
  weight: Tensor | null = null,
  bias: Tensor | null = null,
  eps = 1e-5,
  name = 'instanceNorm',
): Tensor {
  expectTensor(name, 'input', x);
  if (x.rank < 3)
    throw new Error(`${name}: expected input [N, C, ...spatial], got ${fmt(x.shape)}`);
  if (sizeOf(x.shape.slice(2)) <= 1) {
    throw new Error(
      `${name}: Expected more than 1 spatial element when training, got input size ${fmt(x.shape)}`,
    );
  }
  return groupNorm(x, x.shape[1], weight, bias, eps, name);
}

/**
 * RMSNorm (Zhang & Sennrich 2019; PyTorch's F.rms_norm): x / sqrt(mean(x²) + eps) · weight
 * over the trailing normalizedShape dims. eps defaults to float32 machine epsilon, as in PyTorch.
 */
export function rmsNorm(
  x: Tensor,
  normalizedShape: readonly number[],
  weight: Tensor | null = null,
  eps = 1.1920928955078125e-7,
  name = 'rmsNorm',
): Tensor {
  const rows = trailingRows(name, x, normalizedShape, eps, { weight });
  const w = weight ?? ones(normalizedShape, { dtype: x.dtype });
  return applyMulti('RMSNorm', [x, w], { rows, eps })[0];
}

registerGradient('RMSNorm', (dy, { inputs: [x, w], outputs: [, invrms] }, donated) => {
  const [dx, dw] = applyMulti('RMSNormBackward', [dy, x, invrms, w], { intoDy: donated });
  return [dx, w.requiresGrad ? dw : null];
});
