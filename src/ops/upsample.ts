// Upsampling of [N, C, H, W] as PyTorch's F.interpolate ('nearest', 'bilinear'): both are
// separable, so the op is two products with constant interpolation matrices, A_h · x · A_wᵀ,
// and autograd gives the gradient (the transposed interpolation).
import { tensor } from '../tensor/create.js';
import { fmt } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { matmul } from './matmul.js';
import { expectTensor } from './util.js';

export interface UpsampleOptions {
  /** Output [H, W] (or one number for both); or give scaleFactor. */
  size?: number | [number, number];
  scaleFactor?: number | [number, number];
  mode?: 'nearest' | 'bilinear';
  /** Bilinear only (PyTorch's default false: pixel centres, not corners, are aligned). */
  alignCorners?: boolean;
}

/** The [out, in] matrix that interpolates one axis, PyTorch's source-index rules. */
function axisMatrix(
  inSize: number,
  outSize: number,
  factor: number | undefined,
  mode: 'nearest' | 'bilinear',
  alignCorners: boolean,
  dtype: Tensor['dtype'],
): Tensor {
  const m = new Float64Array(outSize * inSize);
  // PyTorch uses 1/scaleFactor when a factor is given, else in/out.
  const scale = factor !== undefined ? 1 / factor : inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    if (mode === 'nearest') {
      m[o * inSize + Math.min(Math.floor(o * scale), inSize - 1)] = 1;
      continue;
    }
    let src: number;
    if (alignCorners) src = outSize > 1 ? (o * (inSize - 1)) / (outSize - 1) : 0;
    else src = Math.max(0, scale * (o + 0.5) - 0.5);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const i1 = Math.min(i0 + 1, inSize - 1);
    const l = src - i0;
    m[o * inSize + i0] += 1 - l;
    m[o * inSize + i1] += l;
  }
  return tensor(m, [outSize, inSize], { dtype });
}

export function upsample(x: Tensor, opts: UpsampleOptions): Tensor {
  expectTensor('upsample', 'input', x);
  if (x.rank !== 4) throw new Error(`upsample: expected input [N, C, H, W], got ${fmt(x.shape)}`);
  const mode = opts.mode ?? 'nearest';
  if (mode !== 'nearest' && mode !== 'bilinear') {
    throw new Error(`upsample: expected mode 'nearest' or 'bilinear', got ${String(mode)}`);
  }
  if ((opts.size === undefined) === (opts.scaleFactor === undefined)) {
    throw new Error('upsample: give exactly one of size and scaleFactor');
  }
  if (opts.alignCorners && mode !== 'bilinear') {
    throw new Error('upsample: alignCorners applies to bilinear mode only');
  }
  const two = (v: number | [number, number]) => (typeof v === 'number' ? [v, v] : v);
  const [H, W] = x.shape.slice(2);
  const factors = opts.scaleFactor === undefined ? undefined : two(opts.scaleFactor);
  const size =
    opts.size !== undefined
      ? two(opts.size)
      : [Math.floor(H * factors![0]), Math.floor(W * factors![1])];
  if (!size.every((s) => Number.isInteger(s) && s >= 1)) {
    throw new Error(`upsample: output size ${fmt(size)} for input ${fmt(x.shape)} is not positive`);
  }
  const align = opts.alignCorners ?? false;
  const Ah = axisMatrix(H, size[0], factors?.[0], mode, align, x.dtype);
  const AwT = axisMatrix(W, size[1], factors?.[1], mode, align, x.dtype).transpose(0, 1);
  return matmul(matmul(Ah, x), AwT);
}
