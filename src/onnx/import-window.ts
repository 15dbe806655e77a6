// The ONNX window ops: Conv and ConvTranspose (1-D and 2-D), MaxPool and AveragePool, with
// ONNX's padding rules (explicit, asymmetric, auto_pad) mapped onto normkit's symmetric ones.
import { maximum, div } from '../ops/arith.js';
import { conv2d } from '../ops/conv.js';
import { convTranspose2d } from '../ops/conv-transpose.js';
import { avgPool2d, maxPool2d } from '../ops/pool.js';
import { concat, reshape, slice } from '../ops/shape-ops.js';
import { Conv2d } from '../nn/layers.js';
import { full } from '../tensor/create.js';
import { fmt } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { type Ctx, type Step, attrsKnown, intAttr, intsAttr } from './import-step.js';

/** Zero (or `value`) padding of the trailing spatial dims: pads [b0, b1, ..., e0, e1, ...]. */
function pad(x: Tensor, pads: number[], value = 0): Tensor {
  const s = pads.length / 2;
  let y = x;
  for (let i = 0; i < s; i++) {
    const dim = x.rank - s + i;
    const [b, e] = [pads[i], pads[s + i]];
    const part = (n: number) => {
      const shape = [...y.shape];
      shape[dim] = n;
      return full(shape, value, { dtype: x.dtype });
    };
    if (b < 0) y = slice(y, dim, -b);
    if (e < 0) y = slice(y, dim, 0, y.shape[dim] + e);
    const parts = [...(b > 0 ? [part(b)] : []), y, ...(e > 0 ? [part(e)] : [])];
    if (parts.length > 1) y = concat(parts, dim);
  }
  return y;
}

/** Explicit pads for a window op: pads, auto_pad SAME_UPPER / SAME_LOWER / VALID. */
function windowPads(
  c: Ctx,
  spatial: number[],
  kernel: number[],
  strides: number[],
  dilations: number[],
): number[] {
  const auto = (c.attrs.auto_pad as string | undefined) ?? 'NOTSET';
  const s = spatial.length;
  if (auto === 'NOTSET') return intsAttr(c, 'pads') ?? Array<number>(2 * s).fill(0);
  if (auto === 'VALID') return Array<number>(2 * s).fill(0);
  if (auto !== 'SAME_UPPER' && auto !== 'SAME_LOWER')
    throw new Error(
      `${c.where}: auto_pad ${auto} is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID`,
    );
  const out = Array<number>(2 * s).fill(0);
  for (let i = 0; i < s; i++) {
    const o = Math.ceil(spatial[i] / strides[i]);
    const total = Math.max(
      0,
      (o - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - spatial[i],
    );
    const small = Math.floor(total / 2);
    out[i] = auto === 'SAME_UPPER' ? small : total - small;
    out[s + i] = total - out[i];
  }
  return out;
}

const symmetric = (p: number[]) => p.every((v, i) => v === p[(i + p.length / 2) % p.length]);

/** Runs a 1-D op as 2-D over a height of one, so 1-D and 2-D share the kernels. */
function as2d(x: Tensor, spatial: number, f: (x4: Tensor) => Tensor): Tensor {
  if (spatial === 2) return f(x);
  const y = f(reshape(x, [x.shape[0], x.shape[1], 1, x.shape[2]]));
  return reshape(y, [y.shape[0], y.shape[1], y.shape[3]]);
}

const lift = (v: number[], s: number, one: number) => (s === 2 ? v : [one, v[0]]);
const liftPads = (p: number[], s: number) => (s === 2 ? p : [0, p[0], 0, p[1]]);

export function convStep(c: Ctx): Step {
  attrsKnown(c, ['auto_pad', 'dilations', 'group', 'kernel_shape', 'pads', 'strides']);
  const w0 = c.init(1);
  const s = (intsAttr(c, 'kernel_shape') ?? w0?.shape.slice(2) ?? [0, 0]).length;
  if (s !== 1 && s !== 2)
    throw new Error(`${c.where}: ${s}-D convolution is not supported (1-D and 2-D are)`);
  const strides = intsAttr(c, 'strides') ?? Array<number>(s).fill(1);
  const dil = intsAttr(c, 'dilations') ?? Array<number>(s).fill(1);
  const groups = intAttr(c, 'group', 1);
  const b0 = c.init(2);
  const staticPads = (c.attrs.auto_pad ?? 'NOTSET') === 'NOTSET' || c.attrs.auto_pad === 'VALID';
  if (s === 2 && w0 && staticPads && (b0 || c.node.input!.length < 3 || !c.node.input![2])) {
    const pads = windowPads(c, [0, 0], [0, 0], strides, dil);
    if (symmetric(pads)) {
      // A Conv2d layer: what foldBatchNorm and the tools understand.
      const [cout, cinG, kh, kw] = w0.shape;
      const layer = c.module(
        new Conv2d(cinG * groups, cout, [kh, kw], {
          stride: strides as [number, number],
          padding: [pads[0], pads[1]],
          dilation: dil as [number, number],
          groups,
          bias: b0 !== undefined,
        }),
        b0 ? [1, 2] : [1],
      );
      layer.weight.data.set(w0.data);
      if (b0) layer.bias!.data.set(b0.data);
      return ([x]) => [layer.call(x!)];
    }
  }
  return ([x, w, b]) => {
    const k = w!.shape.slice(2);
    const pads = windowPads(c, x!.shape.slice(2), k, strides, dil);
    const xp = symmetric(pads) ? x! : pad(x!, pads);
    const p = symmetric(pads) ? pads.slice(0, s) : Array<number>(s).fill(0);
    const w2 = s === 2 ? w! : reshape(w!, [w!.shape[0], w!.shape[1], 1, w!.shape[2]]);
    return [
      as2d(xp, s, (x4) =>
        conv2d(x4, w2, b ?? null, {
          stride: lift(strides, s, 1) as [number, number],
          padding: lift(p, s, 0) as [number, number],
          dilation: lift(dil, s, 1) as [number, number],
          groups,
        }),
      ),
    ];
  };
}

export function convTransposeStep(c: Ctx): Step {
  attrsKnown(c, [
    'auto_pad',
    'dilations',
    'group',
    'kernel_shape',
    'output_padding',
    'output_shape',
    'pads',
    'strides',
  ]);
  const ks = intsAttr(c, 'kernel_shape')?.length ?? c.init(1)?.shape.slice(2).length;
  if (ks !== undefined && ks !== 1 && ks !== 2)
    throw new Error(
      `${c.where}: ${ks}-D transposed convolution is not supported (1-D and 2-D are)`,
    );
  return ([x, w, b]) => {
    const s = x!.rank - 2;
    if (s !== 1 && s !== 2)
      throw new Error(
        `${c.where}: ${s}-D transposed convolution is not supported (1-D and 2-D are)`,
      );
    const k = w!.shape.slice(2);
    const strides = intsAttr(c, 'strides') ?? Array<number>(s).fill(1);
    const dil = intsAttr(c, 'dilations') ?? Array<number>(s).fill(1);
    const outPad = intsAttr(c, 'output_padding') ?? Array<number>(s).fill(0);
    const inSize = x!.shape.slice(2);
    const full0 = inSize.map((n, i) => strides[i] * (n - 1) + outPad[i] + (k[i] - 1) * dil[i] + 1);
    const outShape = intsAttr(c, 'output_shape');
    const auto = (c.attrs.auto_pad as string | undefined) ?? 'NOTSET';
    let pads: number[];
    if (outShape !== undefined || auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
      // The ONNX rule: total padding from the wanted size (the input size × stride for SAME).
      const want = outShape?.slice(-s) ?? inSize.map((n, i) => n * strides[i]);
      pads = Array<number>(2 * s).fill(0);
      for (let i = 0; i < s; i++) {
        const total = full0[i] - want[i];
        const half = Math.floor(total / 2);
        [pads[i], pads[s + i]] =
          auto === 'SAME_UPPER' ? [half, total - half] : [total - half, half];
      }
    } else {
      pads =
        auto === 'VALID'
          ? Array<number>(2 * s).fill(0)
          : (intsAttr(c, 'pads') ?? Array<number>(2 * s).fill(0));
    }
    // The full output (no padding, output padding included), then cropped by the pads.
    const w2 = s === 2 ? w! : reshape(w!, [w!.shape[0], w!.shape[1], 1, w!.shape[2]]);
    const y = as2d(x!, s, (x4) =>
      convTranspose2d(x4, w2, b ?? null, {
        stride: lift(strides, s, 1) as [number, number],
        dilation: lift(dil, s, 1) as [number, number],
        outputPadding: lift(outPad, s, 0) as [number, number],
        groups: intAttr(c, 'group', 1),
      }),
    );
    return [
      pad(
        y,
        pads.map((p) => -p),
      ),
    ];
  };
}

export function poolStep(c: Ctx, max: boolean): Step {
  attrsKnown(c, [
    'auto_pad',
    'ceil_mode',
    'count_include_pad',
    'dilations',
    'kernel_shape',
    'pads',
    'storage_order',
    'strides',
  ]);
  const k = intsAttr(c, 'kernel_shape')!;
  if (k === undefined) throw new Error(`${c.where}: kernel_shape is required`);
  const s = k.length;
  if (s !== 1 && s !== 2)
    throw new Error(`${c.where}: ${s}-D pooling is not supported (1-D and 2-D are)`);
  const dil = intsAttr(c, 'dilations') ?? Array<number>(s).fill(1);
  if ((c.node.output ?? []).filter(Boolean).length > 1)
    throw new Error(`${c.where}: the Indices output is not supported`);
  const strides = intsAttr(c, 'strides') ?? Array<number>(s).fill(1);
  const ceil = intAttr(c, 'ceil_mode', 0) === 1;
  if (dil.some((d) => d !== 1)) {
    if (!max)
      throw new Error(
        `${c.where}: attribute dilations ${fmt(dil)} is not supported for AveragePool`,
      );
    if (ceil) throw new Error(`${c.where}: ceil_mode with dilations is not supported`);
    return ([x]) => [
      dilatedMaxPool(x!, k, strides, dil, windowPads(c, x!.shape.slice(2), k, strides, dil)),
    ];
  }
  const countPad = intAttr(c, 'count_include_pad', 0) === 1;
  return ([x]) => {
    const pads = windowPads(c, x!.shape.slice(2), k, strides, dil);
    const op = (x4: Tensor, padding: number[], include: boolean) =>
      (max ? maxPool2d : avgPool2d)(x4, lift(k, s, 1) as [number, number], {
        stride: lift(strides, s, 1) as [number, number],
        padding: lift(padding, s, 0) as [number, number],
        ceilMode: ceil,
        countIncludePad: include,
      });
    // normkit's pooling pads symmetrically, at most half the window; wider pads go explicitly.
    const fits = symmetric(pads) && pads.every((p, i) => p <= Math.floor(k[i % s] / 2));
    if (fits) return [as2d(x!, s, (x4) => op(x4, pads.slice(0, s), countPad))];
    if (ceil)
      throw new Error(
        `${c.where}: ceil_mode with pads ${fmt(pads)} (asymmetric, or over half the window) is not supported`,
      );
    const p2 = liftPads(pads, s);
    if (max) return [as2d(x!, s, (x4) => op(pad(x4, p2, -Infinity), [0, 0], true))];
    const sum = as2d(x!, s, (x4) => op(pad(x4, p2), [0, 0], true));
    if (countPad) return [sum];
    // Averages over the real elements only: divide by the share of the window that is real.
    const ones = full([1, 1, ...x!.shape.slice(2)], 1, { dtype: x!.dtype });
    return [
      div(
        sum,
        as2d(ones, s, (o4) => op(pad(o4, p2), [0, 0], true)),
      ),
    ];
  };
}

/** Every s-th element of dim, starting at `from`, n of them (x padded far enough). */
function strided(x: Tensor, dim: number, from: number, n: number, step: number): Tensor {
  const part = slice(x, dim, from, from + n * step);
  const shape = [...x.shape];
  shape.splice(dim, 1, n, step);
  const picked = slice(reshape(part, shape), dim + 1, 0, 1);
  shape.splice(dim, 2, n);
  return reshape(picked, shape);
}

/**
 * Max pooling with dilated windows from public ops: for each window offset, the strided view
 * of the padded input it reads; their elementwise maximum.
 */
function dilatedMaxPool(
  x: Tensor,
  k: number[],
  st: number[],
  dil: number[],
  pads: number[],
): Tensor {
  const s = k.length;
  const spatial = x.shape.slice(2);
  const out = spatial.map(
    (n, i) => Math.floor((n + pads[i] + pads[s + i] - dil[i] * (k[i] - 1) - 1) / st[i]) + 1,
  );
  // Padded with −∞, and at the end by a stride more, so every strided view is in range.
  const xp = pad(x, [...pads.slice(0, s), ...pads.slice(s).map((p, i) => p + st[i])], -Infinity);
  let y: Tensor | null = null;
  const visit = (t: Tensor, i: number): void => {
    if (i === s) {
      y = y === null ? t : maximum(y, t);
      return;
    }
    for (let a = 0; a < k[i]; a++) visit(strided(t, 2 + i, a * dil[i], out[i], st[i]), i + 1);
  };
  visit(xp, 0);
  return y!;
}
