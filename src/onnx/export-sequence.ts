// ONNX forms of the sequence, attention and generative layers: RNN / LSTM / GRU as ONNX's
// recurrent ops (gates reordered from PyTorch's), MultiheadAttention and the Transformer
// encoder as MatMul / Softmax graphs, Embedding as Gather, Upsample as Resize. Each takes the
// graph writer of export.ts and returns the output value's name.
import { GRU, LSTM, RNN } from '../nn/recurrent.js';
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';
import {
  MultiheadAttention,
  TransformerEncoder,
  TransformerEncoderLayer,
} from '../nn/attention.js';
import { Embedding } from '../nn/embedding.js';
import { Upsample } from '../nn/simple.js';
import { asPair } from '../ops/util.js';

/** What export.ts gives these writers. */
export interface GraphWriter {
  node(op: string, inputs: string[], attrs?: Record<string, unknown>): string;
  floats(name: string, values: ArrayLike<number>, dims: readonly number[]): string;
  ints(name: string, values: number[]): string;
  fresh(base: string): string;
}

export type Emit = (
  m: Module,
  x: { name: string; sample: Tensor },
) => { name: string; sample: Tensor };

/** Rows of a [G·H, K] matrix (or [G·H] vector) with its gate blocks put in `order`. */
function reorder(t: Tensor, H: number, order: number[]): Float32Array {
  const per = t.size / (t.shape[0] / H) / H; // values per row
  const out = new Float32Array(t.size);
  order.forEach((src, dst) =>
    out.set(t.data.subarray(src * H * per, (src + 1) * H * per), dst * H * per),
  );
  return out;
}

/** PyTorch's gate order → ONNX's: LSTM i f g o → i o f c; GRU r z n → z r h. */
const ORDER = { lstm: [0, 3, 1, 2], gru: [1, 0, 2], rnn_tanh: [0], rnn_relu: [0] } as const;

function recurrent(g: GraphWriter, m: RNN | LSTM | GRU, x: string): string {
  const H = m.hiddenSize,
    D = m.bidirectional ? 2 : 1;
  const sd = m.stateDict();
  const order = ORDER[m.kind];
  const gates = order.length;
  let seq = m.batchFirst ? g.node('Transpose', [x], { perm: [1, 0, 2] }) : x; // [T, N, in]
  for (let l = 0; l < m.numLayers; l++) {
    const dirs = Array.from({ length: D }, (_, d) => `_l${l}${d === 1 ? '_reverse' : ''}`);
    const stackOf = (name: string) => {
      const parts = dirs.map((s) => reorder(sd[`${name}${s}`], H, [...order]));
      const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
      parts.forEach((p, i) => all.set(p, i * p.length));
      return all;
    };
    const inF = sd[`weight_ih${dirs[0]}`].shape[1];
    const W = g.floats(`${m.path}.W_l${l}`, stackOf('weight_ih'), [D, gates * H, inF]);
    const R = g.floats(`${m.path}.R_l${l}`, stackOf('weight_hh'), [D, gates * H, H]);
    const inputs = [seq, W, R];
    if (sd[`bias_ih${dirs[0]}`] !== undefined) {
      const bi = stackOf('bias_ih'),
        bh = stackOf('bias_hh');
      const B = new Float32Array(D * 2 * gates * H);
      for (let d = 0; d < D; d++) {
        B.set(bi.subarray(d * gates * H, (d + 1) * gates * H), d * 2 * gates * H);
        B.set(bh.subarray(d * gates * H, (d + 1) * gates * H), (d * 2 + 1) * gates * H);
      }
      inputs.push(g.floats(`${m.path}.B_l${l}`, B, [D, 2 * gates * H]));
    }
    const attrs: Record<string, unknown> = {
      hidden_size: H,
      direction: D === 2 ? 'bidirectional' : 'forward',
    };
    if (m.kind === 'gru') attrs.linear_before_reset = 1; // PyTorch's n = tanh(W x + r·(U h + b))
    if (m.kind === 'rnn_relu') attrs.activations = Array<string>(D).fill('Relu'); // one per direction
    const op = m.kind === 'lstm' ? 'LSTM' : m.kind === 'gru' ? 'GRU' : 'RNN';
    const y = g.node(op, inputs, attrs); // [T, D, N, H]
    seq = g.node('Reshape', [
      g.node('Transpose', [y], { perm: [0, 2, 1, 3] }),
      g.ints('shape', [0, 0, D * H]),
    ]);
  }
  return m.batchFirst ? g.node('Transpose', [seq], { perm: [1, 0, 2] }) : seq;
}

/** x · Wᵀ + b for x [..., in] with W [out, in] taken from rows [r0, r1) of a tensor. */
export function affine(
  g: GraphWriter,
  x: string,
  w: Tensor,
  b: Tensor | null,
  name: string,
  r0 = 0,
  r1 = w.shape[0],
): string {
  const cols = w.shape[1];
  const wt = new Float32Array((r1 - r0) * cols);
  for (let i = r0; i < r1; i++)
    for (let j = 0; j < cols; j++) wt[j * (r1 - r0) + (i - r0)] = w.data[i * cols + j];
  const key = (k: string) => (name ? `${name}.${k}` : k);
  const y = g.node('MatMul', [x, g.floats(key('weight_t'), wt, [cols, r1 - r0])]);
  return b ? g.node('Add', [y, g.floats(key('bias'), b.data.subarray(r0, r1), [r1 - r0])]) : y;
}

/** Self-attention over x [N, L, E] (batch first inside): the heads as batched MatMuls. */
function attention(g: GraphWriter, m: MultiheadAttention, x: string): string {
  const E = m.embedDim,
    h = m.numHeads,
    d = m.headDim;
  const bf = m.opts.batchFirst ?? false;
  const xb = bf ? x : g.node('Transpose', [x], { perm: [1, 0, 2] });
  const heads = (i: number, perm: number[]) =>
    g.node(
      'Transpose',
      [
        g.node('Reshape', [
          affine(
            g,
            xb,
            m.inProjWeight,
            m.inProjBias,
            `${m.path}.in_proj_${'qkv'[i]}`,
            i * E,
            (i + 1) * E,
          ),
          g.ints('heads', [0, 0, h, d]),
        ]),
      ],
      { perm },
    );
  const q = heads(0, [0, 2, 1, 3]),
    kT = heads(1, [0, 2, 3, 1]),
    v = heads(2, [0, 2, 1, 3]);
  const scores = g.node('Div', [
    g.node('MatMul', [q, kT]),
    g.floats(g.fresh('sqrt_d'), [Math.sqrt(d)], []),
  ]);
  const ctx = g.node('MatMul', [g.node('Softmax', [scores], { axis: -1 }), v]);
  const merged = g.node('Reshape', [
    g.node('Transpose', [ctx], { perm: [0, 2, 1, 3] }),
    g.ints('merge', [0, 0, E]),
  ]);
  const out = affine(g, merged, m.outProj.weight, m.outProj.bias, `${m.path}.out_proj`);
  return bf ? out : g.node('Transpose', [out], { perm: [1, 0, 2] });
}

function encoderLayer(
  g: GraphWriter,
  m: TransformerEncoderLayer,
  x: { name: string; sample: Tensor },
  emit: Emit,
): string {
  const sub = (mod: Module, v: string) => emit(mod, { name: v, sample: x.sample }).name;
  const sa = (v: string) => attention(g, m.selfAttn, v);
  const act = (v: string) =>
    m.opts.activation === 'gelu'
      ? g.node('Mul', [
          g.node('Mul', [
            v,
            g.node('Add', [
              g.node('Erf', [g.node('Div', [v, g.floats(g.fresh('sqrt2'), [Math.SQRT2], [])])]),
              g.floats(g.fresh('one'), [1], []),
            ]),
          ]),
          g.floats(g.fresh('half'), [0.5], []),
        ])
      : g.node('Relu', [v]);
  const ff = (v: string) =>
    affine(
      g,
      act(affine(g, v, m.linear1.weight, m.linear1.bias, m.linear1.path)),
      m.linear2.weight,
      m.linear2.bias,
      m.linear2.path,
    );
  if (m.opts.normFirst) {
    const a = g.node('Add', [x.name, sa(sub(m.norm1, x.name))]);
    return g.node('Add', [a, ff(sub(m.norm2, a))]);
  }
  const a = sub(m.norm1, g.node('Add', [x.name, sa(x.name)]));
  return sub(m.norm2, g.node('Add', [a, ff(a)]));
}

/** The sequence-family layer's output name, or null when m is not one of them. */
export function emitSequenceLayer(
  g: GraphWriter,
  m: Module,
  x: { name: string; sample: Tensor },
  emit: Emit,
): string | null {
  if (m instanceof RNN || m instanceof LSTM || m instanceof GRU) return recurrent(g, m, x.name);
  if (m instanceof MultiheadAttention) return attention(g, m, x.name);
  if (m instanceof TransformerEncoderLayer) return encoderLayer(g, m, x, emit);
  if (m instanceof TransformerEncoder) {
    let v = x;
    for (const l of m.layers) v = emit(l, v);
    return m.norm ? emit(m.norm, v).name : v.name;
  }
  if (m instanceof Embedding) {
    const idx = g.node('Cast', [x.name], { to: 7 }); // INT64
    return g.node(
      'Gather',
      [g.floats(`${m.path ? m.path + '.' : ''}weight`, m.weight.data, m.weight.shape), idx],
      { axis: 0 },
    );
  }
  if (m instanceof Upsample) {
    const o = m.options;
    const [H, W] = x.sample.shape.slice(2);
    const scales =
      o.scaleFactor !== undefined
        ? asPair(o.scaleFactor, 1)
        : asPair(o.size, 1).map((n, i) => n / [H, W][i]);
    const bilinear = (o.mode ?? 'nearest') === 'bilinear';
    if (bilinear && o.alignCorners)
      throw new Error(
        `exportOnnx: ${m.path || '(root)'} (${m.describe()}): bilinear with alignCorners true is not supported`,
      );
    return g.node(
      'Resize',
      [x.name, '', g.floats(g.fresh('scales'), [1, 1, ...scales], [4])],
      bilinear
        ? { mode: 'linear', coordinate_transformation_mode: 'pytorch_half_pixel' }
        : { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' },
    );
  }
  return null;
}
