// ONNX import: a model's graph as an nn.Module whose nodes run in order with normkit ops.
// Initializers become parameters named as in the file (PyTorch's exporter names them by
// state-dict key); a BatchNormalization, Conv, ConvTranspose or Gemm node whose weights are
// initializers becomes the matching layer (BatchNorm with its running statistics, Conv2d,
// Linear, ...), so train(), fine-tuning, recalibrateBatchNorm and foldBatchNorm work on the
// imported model. An op or attribute normkit cannot run is an error naming the node; bytes
// that are not an ONNX model are an error, never a hang.
import onnxProto from 'onnx-proto';
import { abs, add, div, exp, log, maximum, mul, neg, pow, sqrt, sub } from '../ops/arith.js';
import { leakyRelu, logSoftmax, relu, sigmoid, softmax, tanh } from '../ops/activation.js';
import { conv2d } from '../ops/conv.js';
import { convTranspose2d } from '../ops/conv-transpose.js';
import { matmul, matmulTransposed } from '../ops/matmul.js';
import { avgPool2d, maxPool2d } from '../ops/pool.js';
import { max, mean, sum } from '../ops/reduce.js';
import { concat, permute, reshape, slice } from '../ops/shape-ops.js';
import { BatchNormBase } from '../nn/batchnorm.js';
import { Conv2d, Linear } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { full, tensor } from '../tensor/create.js';
import { fmt } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

const { onnx } = onnxProto;
type NodeProto = onnxProto.onnx.INodeProto;
type TensorProto = onnxProto.onnx.ITensorProto;
const DT = onnx.TensorProto.DataType;

/** BatchNorm over [N, C, ...] of any rank: an imported BatchNormalization node. */
class BatchNormNd extends BatchNormBase {
  protected readonly ranks = [2, 3, 4, 5];
  protected readonly layout = '[N, C, ...]';
  protected readonly layoutLast = '[N, ..., C]';
}

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));

/** An ONNX tensor as a normkit tensor: float as float32, double and integers as float64. */
export function tensorFromProto(t: TensorProto, where: string): Tensor {
  const dims = (t.dims ?? []).map(num);
  const n = dims.reduce((a, b) => a * b, 1);
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  const bytes = (per: number) => {
    if (raw!.length !== n * per)
      throw new Error(
        `${where}: raw data of ${raw!.length} bytes for ${fmt(dims)} (${n * per} expected)`,
      );
    return new Uint8Array(raw!).buffer; // a copy: raw data need not be aligned (nor own its buffer)
  };
  let values: ArrayLike<number>;
  let dtype: 'float32' | 'float64' = 'float64';
  switch (t.dataType) {
    case DT.FLOAT:
      values = raw ? new Float32Array(bytes(4)) : (t.floatData ?? []);
      dtype = 'float32';
      break;
    case DT.DOUBLE:
      values = raw ? new Float64Array(bytes(8)) : (t.doubleData ?? []);
      break;
    case DT.INT64:
      values = raw ? Array.from(new BigInt64Array(bytes(8)), Number) : (t.int64Data ?? []).map(num);
      break;
    case DT.INT32:
      values = raw ? new Int32Array(bytes(4)) : (t.int32Data ?? []);
      break;
    default:
      throw new Error(
        `${where}: tensor type ${DT[t.dataType ?? 0] ?? t.dataType} is not one normkit holds (FLOAT, DOUBLE, INT64, INT32)`,
      );
  }
  if (values.length !== n)
    throw new Error(`${where}: ${values.length} values for shape ${fmt(dims)} (${n} expected)`);
  return tensor(Float64Array.from(values), dims, { dtype });
}

interface Attrs {
  [name: string]: number | number[] | string | Tensor | undefined;
}

function readAttrs(node: NodeProto, where: string): Attrs {
  const A = onnx.AttributeProto.AttributeType;
  const out: Attrs = {};
  for (const a of node.attribute ?? []) {
    const name = a.name ?? '';
    switch (a.type) {
      case A.INT:
        out[name] = num(a.i);
        break;
      case A.FLOAT:
        out[name] = a.f ?? 0;
        break;
      case A.INTS:
        out[name] = (a.ints ?? []).map(num);
        break;
      case A.FLOATS:
        out[name] = [...(a.floats ?? [])];
        break;
      case A.STRING:
        out[name] = new TextDecoder().decode(a.s ?? new Uint8Array());
        break;
      case A.TENSOR:
        out[name] = tensorFromProto(a.t ?? {}, `${where} attribute ${name}`);
        break;
      default:
        throw new Error(`${where}: attribute ${name} of type ${A[a.type ?? 0]} is not supported`);
    }
  }
  return out;
}

/** A compiled node: runs on the values it reads and returns its outputs. */
type Step = (ins: (Tensor | undefined)[]) => (Tensor | undefined)[];

interface Ctx {
  where: string;
  attrs: Attrs;
  node: NodeProto;
  /** The initializer behind input i, if it is one. */
  init(i: number): Tensor | undefined;
  /** A child module, registered under a name built from its initializers' common prefix. */
  module<M extends Module>(m: M, inits: number[]): M;
  opset: number;
}

function attrsKnown(c: Ctx, known: string[]): void {
  for (const k of Object.keys(c.attrs))
    if (!known.includes(k))
      throw new Error(
        `${c.where}: attribute ${k} is not supported (supported: ${known.join(', ') || 'none'})`,
      );
}

const intAttr = (c: Ctx, k: string, d: number) =>
  c.attrs[k] === undefined ? d : (c.attrs[k] as number);
const intsAttr = (c: Ctx, k: string) => c.attrs[k] as number[] | undefined;

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

function convStep(c: Ctx): Step {
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

function convTransposeStep(c: Ctx): Step {
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

function poolStep(c: Ctx, max: boolean): Step {
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

function gemmStep(c: Ctx): Step {
  attrsKnown(c, ['alpha', 'beta', 'broadcast', 'transA', 'transB']); // broadcast: opset 6's flag for C
  const alpha = (c.attrs.alpha as number | undefined) ?? 1,
    beta = (c.attrs.beta as number | undefined) ?? 1;
  const tA = intAttr(c, 'transA', 0) === 1,
    tB = intAttr(c, 'transB', 0) === 1;
  const w = c.init(1),
    b = c.init(2);
  const hasC = (c.node.input ?? []).length > 2 && !!c.node.input![2];
  if (
    w &&
    tB &&
    !tA &&
    alpha === 1 &&
    beta === 1 &&
    (!hasC || (b && b.rank === 1 && b.size === w.shape[0]))
  ) {
    const layer = c.module(new Linear(w.shape[1], w.shape[0], { bias: hasC }), hasC ? [1, 2] : [1]);
    layer.weight.data.set(w.data);
    if (hasC) layer.bias!.data.set(b!.data);
    return ([x]) => [layer.call(x!)];
  }
  return ([a, bm, cm]) => {
    let y = matmulTransposed(a!, bm!, tA, tB);
    if (alpha !== 1) y = mul(y, alpha);
    if (cm) y = add(y, beta === 1 ? cm : mul(cm, beta));
    return [y];
  };
}

function batchNormStep(c: Ctx): Step {
  // is_test and consumed_inputs: opset 6's BatchNormalization (inference when is_test is 1).
  attrsKnown(c, ['consumed_inputs', 'epsilon', 'is_test', 'momentum', 'spatial', 'training_mode']);
  if (c.attrs.is_test === 0)
    throw new Error(`${c.where}: attribute is_test 0 (training) is not supported`);
  if (intAttr(c, 'spatial', 1) !== 1)
    throw new Error(`${c.where}: attribute spatial 0 is not supported`);
  const eps = (c.attrs.epsilon as number | undefined) ?? 1e-5;
  // ONNX weighs the old running value by momentum; PyTorch (and normkit) the new batch's.
  const momentum = (c.attrs.momentum as number | undefined) ?? 0.9;
  if (intAttr(c, 'training_mode', 0) === 1) return batchNormTraining(c, eps, momentum);
  const [scale, bias, mu, v] = [1, 2, 3, 4].map((i) => c.init(i));
  if (scale && bias && mu && v && scale.dtype === 'float32') {
    // A BatchNorm layer with its running statistics: trainable and recalibratable.
    const bn = c.module(new BatchNormNd(scale.size, { eps, momentum: 1 - momentum }), [1, 2, 3, 4]);
    bn.weight!.data.set(scale.data);
    bn.bias!.data.set(bias.data);
    bn.runningMean!.data.set(mu.data);
    bn.runningVar!.data.set(v.data);
    return ([x]) => [bn.call(x!)];
  }
  return ([x, g, b, m, va]) => {
    const shape = [1, x!.shape[1], ...Array<number>(x!.rank - 2).fill(1)];
    const r = (t: Tensor) => reshape(t, shape);
    const inv = div(r(g!), r(va!).add(eps).sqrt());
    return [add(mul(sub(x!, r(m!)), inv), r(b!))];
  };
}

/**
 * training_mode 1: normalized by the batch's statistics (biased variance), with the updated
 * running mean and variance as the second and third outputs, as the ONNX reference does.
 */
function batchNormTraining(c: Ctx, eps: number, momentum: number): Step {
  return ([x, g, b, m0, v0]) => {
    const dims = x!.shape.map((_, i) => i).filter((i) => i !== 1);
    const shape = [1, x!.shape[1], ...Array<number>(x!.rank - 2).fill(1)];
    const r = (t: Tensor) => reshape(t, shape);
    const m = mean(x!, dims, true);
    const d = sub(x!, m);
    const v = mean(mul(d, d), dims, true);
    const y = add(mul(div(d, v.add(eps).sqrt()), r(g!)), r(b!));
    const flat = (t: Tensor) => reshape(t, [x!.shape[1]]);
    const run = (old: Tensor, now: Tensor) => add(mul(old, momentum), mul(flat(now), 1 - momentum));
    return [y, run(m0!, m), run(v0!, v)];
  };
}

function instanceNormStep(c: Ctx): Step {
  attrsKnown(c, ['epsilon']);
  const eps = (c.attrs.epsilon as number | undefined) ?? 1e-5;
  return ([x, g, b]) => {
    const dims = Array.from({ length: x!.rank - 2 }, (_, i) => i + 2);
    const m = mean(x!, dims, true);
    const d = sub(x!, m);
    const inv = mean(mul(d, d), dims, true).add(eps).sqrt();
    const shape = [1, x!.shape[1], ...dims.map(() => 1)];
    return [add(mul(div(d, inv), reshape(g!, shape)), reshape(b!, shape))];
  };
}

function layerNormStep(c: Ctx): Step {
  attrsKnown(c, ['axis', 'epsilon', 'stash_type']);
  const eps = (c.attrs.epsilon as number | undefined) ?? 1e-5;
  return ([x, g, b]) => {
    const a0 = intAttr(c, 'axis', -1);
    const axis = a0 < 0 ? a0 + x!.rank : a0;
    const dims = Array.from({ length: x!.rank - axis }, (_, i) => axis + i);
    const m = mean(x!, dims, true);
    const d = sub(x!, m);
    const inv = div(1, mean(mul(d, d), dims, true).add(eps).sqrt());
    let y = mul(mul(d, inv), g!);
    if (b) y = add(y, b);
    return [y, m, inv];
  };
}

function reshapeTo(x: Tensor, spec: number[], allowZero: boolean, where: string): Tensor {
  const shape = spec.map((d, i) => (d === 0 && !allowZero ? x.shape[i] : d));
  try {
    return reshape(x, shape);
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`);
  }
}

/**
 * ReduceMean / ReduceSum / ReduceMax: axes from the attribute (before opset 18; ReduceSum
 * before 13) or the second input; no axes means all (unless noop_with_empty_axes).
 */
function reduceStep(c: Ctx, f: typeof mean, inputAxesFrom: number): Step {
  attrsKnown(c, ['axes', 'keepdims', 'noop_with_empty_axes']);
  const keep = intAttr(c, 'keepdims', 1) === 1;
  return ([x, a]) => {
    const axes =
      c.opset >= inputAxesFrom ? (a ? Array.from(a.data) : []) : (intsAttr(c, 'axes') ?? []);
    if (axes.length === 0 && intAttr(c, 'noop_with_empty_axes', 0) === 1) return [x];
    const dims =
      axes.length > 0 ? axes.map((d) => (d < 0 ? d + x!.rank : d)) : x!.shape.map((_, i) => i);
    return [f(x!, dims, keep)];
  };
}

/** Softmax and LogSoftmax: one axis from opset 13; before, the input seen as 2-D at axis. */
function softmaxStep(c: Ctx, f: typeof softmax): Step {
  attrsKnown(c, ['axis']);
  return ([x]) => {
    if (c.opset >= 13) return [f(x!, intAttr(c, 'axis', -1))];
    const a0 = intAttr(c, 'axis', 1);
    const a = a0 < 0 ? a0 + x!.rank : a0;
    const lead = x!.shape.slice(0, a).reduce((p, d) => p * d, 1);
    return [reshape(f(reshape(x!, [lead, x!.size / lead]), 1), x!.shape)];
  };
}

const STEPS: Record<string, (c: Ctx) => Step> = {
  Shape: (c) => {
    attrsKnown(c, []);
    return ([x]) => [tensor(x!.shape, [x!.rank], { dtype: 'float64' })];
  },
  Neg:
    () =>
    ([x]) => [neg(x!)],
  Abs:
    () =>
    ([x]) => [abs(x!)],
  Exp:
    () =>
    ([x]) => [exp(x!)],
  Log:
    () =>
    ([x]) => [log(x!)],
  Sqrt:
    () =>
    ([x]) => [sqrt(x!)],
  Reciprocal:
    () =>
    ([x]) => [div(1, x!)],
  Pow:
    () =>
    ([x, y]) => [pow(x!, y!.dtype === x!.dtype ? y! : y!.to(x!.dtype))],
  ReduceMean: (c) => reduceStep(c, mean, 18),
  ReduceSum: (c) => reduceStep(c, sum, 13),
  ReduceMax: (c) => reduceStep(c, max, 18),
  Identity:
    () =>
    ([x]) => [x],
  Dropout: (c) => {
    if ((c.node.output ?? []).filter(Boolean).length > 1)
      throw new Error(`${c.where}: the mask output is not supported`);
    return ([x]) => [x];
  },
  Constant: (c) => {
    attrsKnown(c, ['value']);
    const t = c.attrs.value as Tensor;
    return () => [t];
  },
  Relu:
    () =>
    ([x]) => [relu(x!)],
  LeakyRelu: (c) => {
    attrsKnown(c, ['alpha']);
    const alpha = (c.attrs.alpha as number | undefined) ?? 0.01;
    return ([x]) => [leakyRelu(x!, alpha)];
  },
  Sigmoid:
    () =>
    ([x]) => [sigmoid(x!)],
  Tanh:
    () =>
    ([x]) => [tanh(x!)],
  Add:
    () =>
    ([a, b]) => [add(a!, b!)],
  Sub:
    () =>
    ([a, b]) => [sub(a!, b!)],
  Mul:
    () =>
    ([a, b]) => [mul(a!, b!)],
  Div:
    () =>
    ([a, b]) => [div(a!, b!)],
  MatMul:
    () =>
    ([a, b]) => [matmul(a!, b!)],
  Gemm: gemmStep,
  Conv: convStep,
  ConvTranspose: convTransposeStep,
  MaxPool: (c) => poolStep(c, true),
  AveragePool: (c) => poolStep(c, false),
  GlobalAveragePool:
    () =>
    ([x]) => [
      mean(
        x!,
        Array.from({ length: x!.rank - 2 }, (_, i) => i + 2),
        true,
      ),
    ],
  BatchNormalization: batchNormStep,
  InstanceNormalization: instanceNormStep,
  LayerNormalization: layerNormStep,
  Flatten: (c) => {
    attrsKnown(c, ['axis']);
    return ([x]) => {
      const a0 = intAttr(c, 'axis', 1);
      const a = a0 < 0 ? a0 + x!.rank : a0;
      const lead = x!.shape.slice(0, a).reduce((p, d) => p * d, 1);
      return [reshape(x!, [lead, x!.size / Math.max(1, lead)])];
    };
  },
  Reshape: (c) => {
    attrsKnown(c, ['allowzero']);
    const allowZero = intAttr(c, 'allowzero', 0) === 1;
    return ([x, s]) => [reshapeTo(x!, Array.from(s!.data), allowZero, c.where)];
  },
  Transpose: (c) => {
    attrsKnown(c, ['perm']);
    return ([x]) => [permute(x!, intsAttr(c, 'perm') ?? x!.shape.map((_, i) => x!.rank - 1 - i))];
  },
  LogSoftmax: (c) => softmaxStep(c, logSoftmax),
  Softmax: (c) => softmaxStep(c, softmax),
};

/** The ops importOnnx runs. */
export const SUPPORTED_ONNX_OPS = Object.keys(STEPS).sort();

/** An imported ONNX graph. call(x, ...) returns its first output; run() returns all of them. */
export class OnnxModel extends Module {
  readonly inputNames: string[];
  readonly outputNames: string[];
  private readonly steps: { name: string; inputs: string[]; outputs: string[]; run: Step }[] = [];
  private readonly constants = new Map<string, Tensor>();
  /** Which layer module a node became, by the node's output name (for foldBatchNorm). */
  private readonly layerOf = new Map<string, Module>();
  private readonly readers = new Map<string, number>();
  private readonly producedBy = new Map<string, string>();

  constructor(bytes: Uint8Array) {
    super();
    let model: onnxProto.onnx.ModelProto;
    try {
      model = onnx.ModelProto.decode(bytes);
    } catch (e) {
      throw new Error(`importOnnx: not an ONNX model (${(e as Error).message})`);
    }
    const graph = model.graph;
    if (!graph || (graph.node ?? []).length === 0)
      throw new Error('importOnnx: not an ONNX model (no graph, or a graph without nodes)');
    const opset = num(
      (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 0,
    );
    if (opset === 0)
      throw new Error(
        'importOnnx: a model without the default ONNX opset (ai.onnx) is not supported',
      );
    const inits = new Map<string, Tensor>();
    for (const t of graph.initializer ?? [])
      inits.set(t.name ?? '', tensorFromProto(t, `initializer ${t.name}`));
    for (const v of [...(graph.input ?? []), ...(graph.output ?? [])]) {
      const t = v.type;
      if (
        t &&
        !t.tensorType &&
        (t.sequenceType || t.mapType || t.optionalType || t.sparseTensorType)
      )
        throw new Error(
          `importOnnx: graph value ${v.name} is not a tensor; sequences, maps and optionals are not supported`,
        );
    }
    this.inputNames = (graph.input ?? []).map((i) => i.name ?? '').filter((n) => !inits.has(n));
    this.outputNames = (graph.output ?? []).map((o) => o.name ?? '');
    const used = new Set<string>();
    const defined = new Set<string>([...this.inputNames, ...inits.keys()]);
    const params = new Map<string, Tensor>();
    const param = (name: string) => {
      if (!params.has(name)) {
        const t = inits.get(name)!;
        const key = name.replace(/[^A-Za-z0-9_.]/g, '_') || 'initializer';
        this.setParameter(key, t);
        if (t.dtype !== 'float32') t.requiresGrad = false; // integers (shapes) stay constants
        params.set(name, t);
      }
      return params.get(name)!;
    };
    const names = new Set<string>();
    (graph.node ?? []).forEach((node, i) => {
      const op = node.opType ?? '';
      const nodeName = node.name || `${op}_${i}`;
      const where = `importOnnx: node ${nodeName} (${op})`;
      if (node.domain && node.domain !== 'ai.onnx')
        throw new Error(`${where}: domain ${node.domain} is not supported`);
      const make = STEPS[op];
      if (make === undefined)
        throw new Error(
          `${where}: op ${op} is not supported (supported: ${SUPPORTED_ONNX_OPS.join(', ')})`,
        );
      const inputs = (node.input ?? []).map((n) => n ?? '');
      for (const n of inputs) {
        if (n !== '' && !defined.has(n))
          throw new Error(
            `${where}: input ${n} is not defined by an earlier node, an input or an initializer`,
          );
        this.readers.set(n, (this.readers.get(n) ?? 0) + 1);
      }
      const layerInits: number[][] = [];
      const ctx: Ctx = {
        where,
        attrs: readAttrs(node, where),
        node,
        opset,
        init: (k) => (inputs[k] && inits.has(inputs[k]) ? inits.get(inputs[k]) : undefined),
        module: (m, idx) => {
          layerInits.push(idx);
          // Named by its initializers' common prefix (PyTorch's exporter: conv1.weight,
          // conv1.bias -> conv1), so the state dict keeps the exporting model's keys.
          const keys = idx.map((k) => inputs[k]);
          const prefix = keys.every((k) => k.includes('.'))
            ? keys.map((k) => k.slice(0, k.lastIndexOf('.'))).reduce((a, b) => (a === b ? a : ''))
            : '';
          let name = (prefix || nodeName).replace(/[^A-Za-z0-9_.]/g, '_');
          while (names.has(name)) name = `${name}_`;
          names.add(name);
          this.registerChild(name, m);
          this.layerOf.set((node.output ?? [])[0] ?? '', m);
          return m;
        },
      };
      const run = make(ctx);
      const taken = new Set(layerInits.flat());
      // Initializers a layer did not take are parameters of the graph itself.
      inputs.forEach((n, k) => {
        if (n && inits.has(n) && !taken.has(k)) this.constants.set(n, param(n));
        used.add(n);
      });
      const outputs = (node.output ?? []).map((n) => n ?? '');
      for (const o of outputs) {
        if (o) {
          defined.add(o);
          this.producedBy.set(o, nodeName);
        }
      }
      this.steps.push({ name: nodeName, inputs, outputs, run });
    });
    for (const o of this.outputNames)
      if (!defined.has(o)) throw new Error(`importOnnx: output ${o} is not produced by any node`);
  }

  private registerChild(name: string, m: Module): void {
    this.registerModule(name, m);
  }

  override describe(): string {
    return `OnnxModel(${this.steps.length} nodes)`;
  }

  /** Every graph output, by name, for inputs given in order or by name. */
  run(inputs: Tensor[] | Record<string, Tensor>): Record<string, Tensor> {
    const given = Array.isArray(inputs)
      ? Object.fromEntries(this.inputNames.map((n, i) => [n, inputs[i]]))
      : inputs;
    const values = new Map<string, Tensor>(this.constants);
    for (const n of this.inputNames) {
      const t = given[n];
      if (t === undefined)
        throw new Error(
          `${this.describe()}: expected inputs ${this.inputNames.join(', ')}; ${n} is missing`,
        );
      values.set(n, t);
    }
    for (const s of this.steps) {
      let outs: (Tensor | undefined)[];
      try {
        outs = s.run(s.inputs.map((n) => (n ? values.get(n) : undefined)));
      } catch (e) {
        const msg = (e as Error).message;
        throw new Error(
          msg.startsWith('importOnnx') ? msg : `${this.describe()}: node ${s.name}: ${msg}`,
        );
      }
      s.outputs.forEach((n, i) => {
        if (n && outs[i] !== undefined) values.set(n, outs[i]!);
      });
    }
    return Object.fromEntries(this.outputNames.map((n) => [n, values.get(n)!]));
  }

  forward(...inputs: Tensor[]): Tensor {
    return this.run(inputs)[this.outputNames[0]];
  }

  /**
   * Layer pairs where the second reads only the first's output and nothing else reads it
   * (what foldBatchNorm folds).
   */
  override adjacentLayers(): [Module, Module][] {
    const out: [Module, Module][] = [];
    for (const s of this.steps) {
      const layer = this.layerOf.get(s.outputs[0]);
      if (layer === undefined) continue;
      const x = s.inputs[0];
      const before = this.layerOf.get(x);
      if (before !== undefined && this.readers.get(x) === 1) out.push([before, layer]);
    }
    return out;
  }
}

/** An ONNX model (bytes) as a normkit module. */
export function importOnnx(bytes: Uint8Array): OnnxModel {
  if (!(bytes instanceof Uint8Array))
    throw new Error(`importOnnx: expected a Uint8Array, got ${typeof bytes}`);
  return new OnnxModel(bytes);
}
