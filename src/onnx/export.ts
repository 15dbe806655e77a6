// ONNX export: a module as an ONNX model (opset 17 by default) in its eval-mode form, encoded
// with the ONNX project's own protobuf schema (the onnx-proto package, protobufjs). The
// module tree is walked while a sample input runs through it, so every value's shape is
// known where a node needs it. Parameters and running statistics become initializers named
// by their state-dict keys. A layer without an ONNX form is an error naming its path.
import onnxProto from 'onnx-proto';
import { noGrad } from '../autograd/grad-mode.js';
import { asPair } from '../ops/util.js';
import { BatchNormBase } from '../nn/batchnorm.js';
import { Conv1d, Conv2d, ConvTranspose2d, Linear } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { saveTrainingModes } from '../nn/training-modes.js';
import { GroupNorm, InstanceNormBase, LayerNorm, RMSNorm } from '../nn/norms.js';
import { BasicBlock } from '../nn/residual.js';
import { affine, emitSequenceLayer } from './export-sequence.js';
import {
  AdaptiveAvgPool2d,
  AvgPool2d,
  Dropout,
  Dropout2d,
  Flatten,
  GELU,
  Identity,
  LeakyReLU,
  MaxPool2d,
  ReLU,
  Sequential,
  Sigmoid,
  Tanh,
} from '../nn/simple.js';
import { zeros } from '../tensor/create.js';
import type { Tensor } from '../tensor/tensor.js';

const { onnx } = onnxProto;

export interface ExportOnnxOptions {
  /** The input's shape, batch first (e.g. [1, 1, 28, 28]); a sample of it runs through the model. */
  inputShape: number[];
  /** 17 by default (LayerNormalization needs 17); 13 … 21 are accepted. */
  opset?: number;
  /** The batch dimension of the input and output is symbolic ('N'), so any batch runs. */
  dynamicBatch?: boolean;
  inputName?: string;
  outputName?: string;
}

/** A value of the graph: its name and a sample of it (for shapes). */
interface Value {
  name: string;
  sample: Tensor;
}

type Attr = number | number[] | string | string[] | { floats: number[] };

class Graph {
  readonly nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  readonly initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  private n = 0;
  private readonly names = new Set<string>();

  constructor(readonly opset: number) {}

  fresh(base: string): string {
    let name = `${base}_${this.n++}`;
    while (this.names.has(name)) name = `${base}_${this.n++}`;
    this.names.add(name);
    return name;
  }

  node(op: string, inputs: string[], attrs: Record<string, Attr> = {}): string {
    const out = this.fresh(op);
    const attribute = Object.entries(attrs).map(([name, v]) => {
      const A = onnx.AttributeProto.AttributeType;
      if (typeof v === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(v) };
      if (Array.isArray(v) && typeof v[0] === 'string')
        return {
          name,
          type: A.STRINGS,
          strings: (v as string[]).map((x) => new TextEncoder().encode(x)),
        };
      if (Array.isArray(v)) return { name, type: A.INTS, ints: v as number[] };
      if (typeof v === 'object') return { name, type: A.FLOATS, floats: v.floats };
      return Number.isInteger(v) && !FLOAT_ATTRS.has(name)
        ? { name, type: A.INT, i: v }
        : { name, type: A.FLOAT, f: v };
    });
    this.nodes.push(
      onnx.NodeProto.create({ opType: op, input: inputs, output: [out], name: out, attribute }),
    );
    return out;
  }

  /** A float32 initializer (the values of a float64 tensor are rounded to float32). */
  floats(name: string, values: ArrayLike<number>, dims: readonly number[]): string {
    const n = this.names.has(name) ? this.fresh(name) : (this.names.add(name), name);
    const data = Float32Array.from(values);
    this.initializers.push(
      onnx.TensorProto.create({
        name: n,
        dims: [...dims],
        dataType: onnx.TensorProto.DataType.FLOAT,
        rawData: new Uint8Array(data.buffer),
      }),
    );
    return n;
  }

  ints(name: string, values: number[]): string {
    const n = this.fresh(name);
    this.initializers.push(
      onnx.TensorProto.create({
        name: n,
        dims: [values.length],
        dataType: onnx.TensorProto.DataType.INT64,
        rawData: new Uint8Array(BigInt64Array.from(values, (v) => BigInt(v)).buffer),
      }),
    );
    return n;
  }

  /** A parameter by its state-dict key (or a constant of `fill` when the module has none). */
  param(m: Module, key: string, t: Tensor | null, n: number, fill = 1): string {
    const name = m.path ? `${m.path}.${key}` : key;
    return t
      ? this.floats(name, t.data, t.shape)
      : this.floats(name, new Float32Array(n).fill(fill), [n]);
  }
}

/** Attributes that are floats even when their value is a whole number. */
const FLOAT_ATTRS = new Set(['epsilon', 'alpha', 'momentum']);

const where = (m: Module) => `${m.path || '(root)'} (${m.describe()})`;

function unsupported(m: Module, what: string): never {
  throw new Error(`exportOnnx: ${where(m)}: ${what}`);
}

/** Runs m on the sample (eval mode, no graph) to know the output's shape. */
const run = (m: Module, v: Value) => noGrad(() => m.call(v.sample));

function emit(g: Graph, m: Module, x: Value): Value {
  const out = (name: string): Value => ({ name, sample: run(m, x) });
  if (m instanceof Sequential) return m.layers.reduce((v, l) => emit(g, l, v), x);
  if (m instanceof Identity || m instanceof Dropout || m instanceof Dropout2d) return x;
  if (m instanceof BasicBlock) {
    const a = emit(g, m.bn1, emit(g, m.conv1, x));
    const r = { name: g.node('Relu', [a.name]), sample: noGrad(() => a.sample.relu()) };
    const b = emit(g, m.bn2, emit(g, m.conv2, r));
    const s = emit(g, m.downsample, x);
    return out(g.node('Relu', [g.node('Add', [b.name, s.name])]));
  }
  if (m instanceof Linear) {
    // Other ranks than 2: MatMul by the transposed weight, then Add.
    if (x.sample.rank !== 2) return out(affine(g, x.name, m.weight, m.bias, m.path));
    const w = g.param(m, 'weight', m.weight, 0);
    const inputs = m.bias ? [x.name, w, g.param(m, 'bias', m.bias, 0)] : [x.name, w];
    return out(g.node('Gemm', inputs, { transB: 1 }));
  }
  if (m instanceof Conv2d || m instanceof Conv1d || m instanceof ConvTranspose2d)
    return out(conv(g, m, x));
  if (m instanceof BatchNormBase || (m instanceof InstanceNormBase && m.trackRunningStats)) {
    // Eval mode: a per-channel affine map from the running statistics.
    if (!m.trackRunningStats)
      unsupported(
        m,
        'without running statistics (trackRunningStats false) it normalizes each batch by itself, which ONNX BatchNormalization cannot',
      );
    if (m instanceof BatchNormBase && m.settings.channelAxis !== 1 && x.sample.rank > 2)
      unsupported(
        m,
        'channels-last BatchNorm (Keras convention) has no ONNX BatchNormalization form',
      );
    const C = m.numFeatures;
    const inputs = [
      x.name,
      g.param(m, 'weight', m.weight, C, 1),
      g.param(m, 'bias', m.bias, C, 0),
      g.param(m, 'running_mean', m.runningMean, C),
      g.param(m, 'running_var', m.runningVar, C),
    ];
    return out(g.node('BatchNormalization', inputs, { epsilon: m.eps }));
  }
  if (m instanceof InstanceNormBase) {
    const C = m.numFeatures;
    const inputs = [x.name, g.param(m, 'weight', m.weight, C, 1), g.param(m, 'bias', m.bias, C, 0)];
    return out(g.node('InstanceNormalization', inputs, { epsilon: m.eps }));
  }
  if (m instanceof LayerNorm) {
    if (g.opset < 17)
      unsupported(m, `LayerNormalization needs opset 17 or later, asked for ${g.opset}`);
    const n = m.normalizedShape.reduce((a, b) => a * b, 1);
    const shape = m.normalizedShape;
    const scale = m.weight
      ? g.param(m, 'weight', m.weight, n)
      : g.floats(`${m.path}.weight`, new Float32Array(n).fill(1), shape);
    const bias = m.bias
      ? g.param(m, 'bias', m.bias, n)
      : g.floats(`${m.path}.bias`, new Float32Array(n), shape);
    return out(
      g.node('LayerNormalization', [x.name, scale, bias], { axis: -shape.length, epsilon: m.eps }),
    );
  }
  if (m instanceof GroupNorm) return out(groupNorm(g, m, x));
  if (m instanceof RMSNorm) return out(rmsNorm(g, m, x));
  if (m instanceof ReLU) return out(g.node('Relu', [x.name]));
  if (m instanceof LeakyReLU) return out(g.node('LeakyRelu', [x.name], { alpha: m.negativeSlope }));
  if (m instanceof Sigmoid) return out(g.node('Sigmoid', [x.name]));
  if (m instanceof Tanh) return out(g.node('Tanh', [x.name]));
  if (m instanceof GELU) {
    // The exact GELU, x·(1 + erf(x/√2))/2 (ONNX's Gelu op arrives in opset 20).
    const e = g.node('Erf', [
      g.node('Div', [x.name, g.floats(g.fresh('sqrt2'), [Math.SQRT2], [])]),
    ]);
    const one = g.floats(g.fresh('one'), [1], []),
      half = g.floats(g.fresh('half'), [0.5], []);
    return out(g.node('Mul', [g.node('Mul', [x.name, g.node('Add', [e, one])]), half]));
  }
  if (m instanceof MaxPool2d || m instanceof AvgPool2d) {
    const k = asPair(m.kernelSize, 1);
    const o = m.options;
    const [sh, sw] = asPair(o.stride, 0).map((s, i) => s || k[i]);
    const [ph, pw] = asPair(o.padding, 0);
    const attrs: Record<string, Attr> = {
      kernel_shape: k,
      strides: [sh, sw],
      pads: [ph, pw, ph, pw],
      ceil_mode: o.ceilMode ? 1 : 0,
    };
    if (m instanceof AvgPool2d) attrs.count_include_pad = o.countIncludePad === false ? 0 : 1;
    return out(g.node(m instanceof MaxPool2d ? 'MaxPool' : 'AveragePool', [x.name], attrs));
  }
  if (m instanceof AdaptiveAvgPool2d) {
    const [oh, ow] = asPair(m.outputSize, 1);
    if (oh === 1 && ow === 1) return out(g.node('GlobalAveragePool', [x.name]));
    const [H, W] = x.sample.shape.slice(2);
    if (H % oh !== 0 || W % ow !== 0)
      unsupported(m, `an output of ${oh}x${ow} from ${H}x${W} is not a fixed pooling window`);
    const k = [H / oh, W / ow];
    return out(g.node('AveragePool', [x.name], { kernel_shape: k, strides: k }));
  }
  if (m instanceof Flatten) {
    const end = m.endDim < 0 ? m.endDim + x.sample.rank : m.endDim;
    if (m.startDim !== 1 || end !== x.sample.rank - 1)
      unsupported(m, 'only Flatten(1, -1) has an ONNX form (Flatten with axis 1)');
    return out(g.node('Flatten', [x.name], { axis: 1 }));
  }
  const seq = emitSequenceLayer(g, m, x, (mod, v) => emit(g, mod, v));
  if (seq !== null) return out(seq);
  return unsupported(
    m,
    'no ONNX form yet (supported: Sequential, BasicBlock, Linear, Conv1d, Conv2d, ConvTranspose2d, ' +
      'BatchNorm1d/2d/3d and variants, InstanceNorm, LayerNorm, GroupNorm, RMSNorm, ReLU, LeakyReLU, ' +
      'Sigmoid, Tanh, GELU, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Flatten, Dropout, Identity, ' +
      'RNN, LSTM, GRU, MultiheadAttention, TransformerEncoderLayer, TransformerEncoder, Embedding, Upsample)',
  );
}

function conv(g: Graph, m: Conv2d | Conv1d | ConvTranspose2d, x: Value): string {
  const o = m.options as {
    stride?: number | [number, number];
    padding?: number | [number, number];
    dilation?: number | [number, number];
    outputPadding?: number | [number, number];
    groups?: number;
  };
  const inputs = [x.name, g.param(m, 'weight', m.weight, 0)];
  if (m.bias) inputs.push(g.param(m, 'bias', m.bias, 0));
  const kernel = m.weight.shape.slice(2);
  if (m instanceof Conv1d) {
    const one = (v: unknown, d: number) => (v === undefined ? d : (v as number));
    const p = one(o.padding, 0);
    return g.node('Conv', inputs, {
      kernel_shape: kernel,
      strides: [one(o.stride, 1)],
      pads: [p, p],
      dilations: [one(o.dilation, 1)],
      group: o.groups ?? 1,
    });
  }
  const [ph, pw] = asPair(o.padding, 0);
  const attrs: Record<string, Attr> = {
    kernel_shape: kernel,
    strides: asPair(o.stride, 1),
    pads: [ph, pw, ph, pw],
    dilations: asPair(o.dilation, 1),
    group: o.groups ?? 1,
  };
  if (m instanceof ConvTranspose2d) {
    attrs.output_padding = asPair(o.outputPadding, 0);
    return g.node('ConvTranspose', inputs, attrs);
  }
  return g.node('Conv', inputs, attrs);
}

/**
 * GroupNorm as the exporters of PyTorch write it: reshape to [N, groups, -1], instance-
 * normalize (unit scale), reshape back, then the per-channel affine.
 */
function groupNorm(g: Graph, m: GroupNorm, x: Value): string {
  const G = m.numGroups,
    C = m.numChannels;
  const grouped = g.node('Reshape', [x.name, g.ints('group_shape', [0, G, -1])]);
  const normed = g.node(
    'InstanceNormalization',
    [
      grouped,
      g.floats(g.fresh('ones'), new Float32Array(G).fill(1), [G]),
      g.floats(g.fresh('zeros'), new Float32Array(G), [G]),
    ],
    { epsilon: m.eps },
  );
  let y = g.node('Reshape', [normed, g.node('Shape', [x.name])]);
  const affineShape = [C, ...Array<number>(x.sample.rank - 2).fill(1)];
  if (m.weight) y = g.node('Mul', [y, g.floats(`${m.path}.weight`, m.weight.data, affineShape)]);
  if (m.bias) y = g.node('Add', [y, g.floats(`${m.path}.bias`, m.bias.data, affineShape)]);
  return y;
}

/** RMSNorm: x / √(mean(x², trailing dims) + ε) · weight. */
function rmsNorm(g: Graph, m: RMSNorm, x: Value): string {
  const axes = m.normalizedShape.map((_, i) => -m.normalizedShape.length + i);
  const sq = g.node('Mul', [x.name, x.name]);
  const mean =
    g.opset >= 18
      ? g.node('ReduceMean', [sq, g.ints('axes', axes)], { keepdims: 1 })
      : g.node('ReduceMean', [sq], { axes, keepdims: 1 });
  const rms = g.node('Sqrt', [g.node('Add', [mean, g.floats(g.fresh('eps'), [m.eps], [])])]);
  const y = g.node('Div', [x.name, rms]);
  return m.weight
    ? g.node('Mul', [y, g.floats(`${m.path}.weight`, m.weight.data, m.weight.shape)])
    : y;
}

/** The model as ONNX bytes, in its eval-mode form; the module's own mode is left as it was. */
export function exportOnnx(model: Module, opts: ExportOnnxOptions): Uint8Array {
  const opset = opts.opset ?? 17;
  if (!Number.isInteger(opset) || opset < 13 || opset > 21)
    throw new Error(`exportOnnx: expected opset an integer in [13, 21], got ${opset}`);
  const shape = opts.inputShape;
  if (
    !Array.isArray(shape) ||
    shape.length < 1 ||
    !shape.every((d) => Number.isInteger(d) && d >= 1)
  )
    throw new Error(
      `exportOnnx: expected inputShape a list of positive integers, got ${JSON.stringify(shape)}`,
    );
  const restore = saveTrainingModes(model);
  model.eval();
  try {
    const g = new Graph(opset);
    const inputName = opts.inputName ?? 'input';
    // Zeros: only the shapes matter, and zeros are valid input for every layer (Embedding indices too).
    const sample = zeros(shape);
    const y = emit(g, model, { name: inputName, sample });
    const outputName = opts.outputName ?? 'output';
    g.nodes.push(
      onnx.NodeProto.create({
        opType: 'Identity',
        input: [y.name],
        output: [outputName],
        name: 'output_identity',
      }),
    );
    const dynamic = opts.dynamicBatch ?? true;
    const valueInfo = (name: string, dims: readonly number[]) =>
      onnx.ValueInfoProto.create({
        name,
        type: {
          tensorType: {
            elemType: onnx.TensorProto.DataType.FLOAT,
            shape: {
              dim: dims.map((d, i) => (i === 0 && dynamic ? { dimParam: 'N' } : { dimValue: d })),
            },
          },
        },
      });
    const modelProto = onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'normkit',
      producerVersion: '0.1.0',
      opsetImport: [{ domain: '', version: opset }],
      graph: {
        name: model.constructor.name,
        node: g.nodes,
        initializer: g.initializers,
        input: [valueInfo(inputName, shape)],
        output: [valueInfo(outputName, y.sample.shape)],
      },
    });
    return onnx.ModelProto.encode(modelProto).finish();
  } finally {
    restore();
  }
}
