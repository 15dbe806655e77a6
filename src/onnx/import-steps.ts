// The ONNX ops importOnnx runs, each compiled once per node into a Step of normkit ops.
import { abs, add, div, exp, log, mul, neg, pow, sqrt, sub } from '../ops/arith.js';
import { leakyRelu, logSoftmax, relu, sigmoid, softmax, tanh } from '../ops/activation.js';
import { matmul, matmulTransposed } from '../ops/matmul.js';
import { max, mean, sum } from '../ops/reduce.js';
import { permute, reshape } from '../ops/shape-ops.js';
import { BatchNormBase } from '../nn/batchnorm.js';
import { Linear } from '../nn/layers.js';
import { tensor } from '../tensor/create.js';
import type { Tensor } from '../tensor/tensor.js';
import { type Ctx, type Step, attrsKnown, intAttr, intsAttr } from './import-step.js';
import { convStep, convTransposeStep, poolStep } from './import-window.js';

/** BatchNorm over [N, C, ...] of any rank: an imported BatchNormalization node. */
class BatchNormNd extends BatchNormBase {
  protected readonly ranks = [2, 3, 4, 5];
  protected readonly layout = '[N, C, ...]';
  protected readonly layoutLast = '[N, ..., C]';
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

export const STEPS: Record<string, (c: Ctx) => Step> = {
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
