// Attention with PyTorch's semantics and state-dict names: MultiheadAttention (in_proj_weight,
// in_proj_bias, out_proj), TransformerEncoderLayer (post- or pre-norm, relu or gelu) and
// TransformerEncoder; and the sinusoidal positional encoding of "Attention is all you need".
// Built from public ops, so autograd gives the gradients.
import { add, div, maskedFill } from '../ops/arith.js';
import { gelu, relu, softmax } from '../ops/activation.js';
import { dropout } from '../ops/dropout.js';
import { linear, matmul, matmulTransposed } from '../ops/matmul.js';
import { mean } from '../ops/reduce.js';
import { permute, reshape, slice } from '../ops/shape-ops.js';
import { empty } from '../tensor/tensor.js';
import { tensor, zeros } from '../tensor/create.js';
import { fmt } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { uniform_, xavierUniform_ } from './init.js';
import { Linear } from './layers.js';
import { Module } from './module.js';
import { LayerNorm } from './norms.js';

export interface AttentionInputs {
  /** [N, S]: 1 (or true) where the key is padding and must get no attention. */
  keyPaddingMask?: Tensor | readonly (readonly (number | boolean)[])[];
  /** [L, S] or [N·heads, L, S], added to the scores (−Infinity masks a position). */
  attnMask?: Tensor;
  /** Return the attention weights, averaged over heads (default true, as PyTorch). */
  needWeights?: boolean;
}

export class MultiheadAttention extends Module {
  readonly headDim: number;
  readonly inProjWeight: Tensor;
  readonly inProjBias: Tensor;
  readonly outProj: Linear;

  constructor(
    readonly embedDim: number,
    readonly numHeads: number,
    readonly opts: { dropout?: number; batchFirst?: boolean } = {},
  ) {
    super();
    if (
      !Number.isInteger(embedDim) ||
      !Number.isInteger(numHeads) ||
      numHeads < 1 ||
      embedDim % numHeads !== 0
    ) {
      throw new Error(
        `MultiheadAttention: embedDim ${embedDim} must be divisible by numHeads ${numHeads}`,
      );
    }
    this.headDim = embedDim / numHeads;
    this.inProjWeight = this.registerParameter(
      'in_proj_weight',
      xavierUniform_(empty([3 * embedDim, embedDim])),
    )!;
    this.inProjBias = this.registerParameter('in_proj_bias', zeros([3 * embedDim]))!;
    this.outProj = this.registerModule('out_proj', new Linear(embedDim, embedDim));
    uniform_(this.outProj.bias!, 0, 0);
  }

  override describe(): string {
    return `MultiheadAttention(${this.embedDim}, heads=${this.numHeads})`;
  }

  forward(query: Tensor, key?: Tensor, value?: Tensor, inputs?: AttentionInputs): Tensor {
    return this.run(query, key ?? query, value ?? key ?? query, inputs).output;
  }

  /** The attention output [L, N, E] (or [N, L, E] batch first) and the averaged weights [N, L, S]. */
  run(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    inputs: AttentionInputs = {},
  ): { output: Tensor; weights: Tensor | null } {
    const name = this.describe();
    const E = this.embedDim,
      h = this.numHeads,
      d = this.headDim;
    const bf = this.opts.batchFirst ?? false;
    for (const [k, t] of [
      ['query', query],
      ['key', key],
      ['value', value],
    ] as const) {
      if (t.rank !== 3 || t.shape[2] !== E) {
        throw new Error(
          `${name}: expected ${k} ${bf ? '[N, L, E]' : '[L, N, E]'} with E = ${E}, got ${fmt(t.shape)}`,
        );
      }
    }
    // To [N, L, E].
    const [q0, k0, v0] = [query, key, value].map((t) => (bf ? t : permute(t, [1, 0, 2])));
    const [N, L] = q0.shape;
    const S = k0.shape[1];
    if (k0.shape[0] !== N || v0.shape[0] !== N || v0.shape[1] !== S) {
      throw new Error(
        `${name}: query ${fmt(query.shape)}, key ${fmt(key.shape)} and value ${fmt(value.shape)} do not agree`,
      );
    }
    const proj = (x: Tensor, i: number) =>
      linear(
        x,
        slice(this.inProjWeight, 0, i * E, (i + 1) * E),
        slice(this.inProjBias, 0, i * E, (i + 1) * E),
      );
    const heads = (x: Tensor, len: number) => permute(reshape(x, [N, len, h, d]), [0, 2, 1, 3]); // [N, h, len, d]
    const q = heads(proj(q0, 0), L),
      k = heads(proj(k0, 1), S),
      v = heads(proj(v0, 2), S);
    let scores = div(matmulTransposed(q, k, false, true), Math.sqrt(d)); // [N, h, L, S]
    if (inputs.attnMask) {
      const m = inputs.attnMask;
      const ok =
        (m.rank === 2 && m.shape[0] === L && m.shape[1] === S) ||
        (m.rank === 3 && m.shape[0] === N * h && m.shape[1] === L && m.shape[2] === S);
      if (!ok)
        throw new Error(
          `${name}: expected attnMask [${L}, ${S}] or [${N * h}, ${L}, ${S}], got ${fmt(m.shape)}`,
        );
      scores = add(scores, m.rank === 2 ? m : reshape(m, [N, h, L, S]));
    }
    if (inputs.keyPaddingMask !== undefined) {
      const kpm = inputs.keyPaddingMask;
      const flat = Array.isArray(kpm)
        ? (kpm as (number | boolean)[][]).flat().map(Number)
        : Array.from((kpm as Tensor).data);
      if (flat.length !== N * S)
        throw new Error(`${name}: expected keyPaddingMask [${N}, ${S}], got ${flat.length} values`);
      scores = maskedFill(scores, tensor(flat, [N, 1, 1, S], { dtype: scores.dtype }), -Infinity);
    }
    const attn = softmax(scores, -1);
    const p = this.opts.dropout ?? 0;
    const attnUsed = p > 0 ? dropout(attn, p, this.training) : attn;
    const ctx = reshape(permute(matmul(attnUsed, v), [0, 2, 1, 3]), [N, L, E]);
    let out = this.outProj.call(ctx);
    if (!bf) out = permute(out, [1, 0, 2]);
    const weights = inputs.needWeights === false ? null : mean(attn, 1);
    return { output: out, weights };
  }
}

export interface TransformerEncoderLayerOptions {
  dimFeedforward?: number;
  dropout?: number;
  activation?: 'relu' | 'gelu';
  layerNormEps?: number;
  batchFirst?: boolean;
  /** Pre-norm (norm before attention and feed-forward) instead of PyTorch's default post-norm. */
  normFirst?: boolean;
}

export class TransformerEncoderLayer extends Module {
  readonly selfAttn: MultiheadAttention;
  readonly linear1: Linear;
  readonly linear2: Linear;
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;

  constructor(
    readonly dModel: number,
    readonly nhead: number,
    readonly opts: TransformerEncoderLayerOptions = {},
  ) {
    super();
    const ff = opts.dimFeedforward ?? 2048;
    const act = opts.activation ?? 'relu';
    if (act !== 'relu' && act !== 'gelu')
      throw new Error(
        `TransformerEncoderLayer: expected activation 'relu' or 'gelu', got ${String(act)}`,
      );
    this.selfAttn = this.registerModule(
      'self_attn',
      new MultiheadAttention(dModel, nhead, {
        dropout: opts.dropout ?? 0.1,
        batchFirst: opts.batchFirst,
      }),
    );
    this.linear1 = this.registerModule('linear1', new Linear(dModel, ff));
    this.linear2 = this.registerModule('linear2', new Linear(ff, dModel));
    this.norm1 = this.registerModule(
      'norm1',
      new LayerNorm(dModel, { eps: opts.layerNormEps ?? 1e-5 }),
    );
    this.norm2 = this.registerModule(
      'norm2',
      new LayerNorm(dModel, { eps: opts.layerNormEps ?? 1e-5 }),
    );
  }

  override describe(): string {
    return `TransformerEncoderLayer(${this.dModel}, heads=${this.nhead}${this.opts.normFirst ? ', normFirst' : ''})`;
  }

  forward(x: Tensor, inputs: Omit<AttentionInputs, 'needWeights'> = {}): Tensor {
    const p = this.opts.dropout ?? 0.1;
    const drop = (t: Tensor) => (p > 0 ? dropout(t, p, this.training) : t);
    const sa = (t: Tensor) =>
      drop(this.selfAttn.run(t, t, t, { ...inputs, needWeights: false }).output);
    const act = this.opts.activation === 'gelu' ? gelu : relu;
    const ff = (t: Tensor) => drop(this.linear2.call(drop(act(this.linear1.call(t)))));
    if (this.opts.normFirst) {
      const a = add(x, sa(this.norm1.call(x)));
      return add(a, ff(this.norm2.call(a)));
    }
    const a = this.norm1.call(add(x, sa(x)));
    return this.norm2.call(add(a, ff(a)));
  }
}

/** numLayers encoder layers (built by `makeLayer`), then an optional final norm. */
export class TransformerEncoder extends Module {
  readonly layers: TransformerEncoderLayer[];
  readonly norm: Module | null;

  constructor(
    makeLayer: () => TransformerEncoderLayer,
    readonly numLayers: number,
    norm: Module | null = null,
  ) {
    super();
    // PyTorch takes a layer and deep-copies it; here each layer is built fresh.
    if (typeof makeLayer !== 'function') {
      throw new Error(
        `TransformerEncoder: expected a function that builds one layer, e.g. () => new TransformerEncoderLayer(d, heads), got ${String((makeLayer as { describe?: () => string })?.describe?.() ?? makeLayer)}`,
      );
    }
    if (!Number.isInteger(numLayers) || numLayers < 1)
      throw new Error(`TransformerEncoder: expected numLayers >= 1, got ${numLayers}`);
    this.layers = Array.from({ length: numLayers }, (_, i) =>
      this.registerModule(`layers.${i}`, makeLayer()),
    );
    this.norm = norm === null ? null : this.registerModule('norm', norm);
  }

  forward(x: Tensor, inputs: Omit<AttentionInputs, 'needWeights'> = {}): Tensor {
    let y = x;
    for (const l of this.layers) y = l.call(y, inputs);
    return this.norm ? this.norm.call(y) : y;
  }
}

/** The sinusoidal encoding [length, dModel]: sin on even features, cos on odd (Vaswani et al.). */
export function positionalEncoding(length: number, dModel: number): Tensor {
  const pe = new Float32Array(length * dModel);
  for (let pos = 0; pos < length; pos++) {
    for (let i = 0; i < dModel; i += 2) {
      const angle = pos / Math.pow(10000, i / dModel);
      pe[pos * dModel + i] = Math.sin(angle);
      if (i + 1 < dModel) pe[pos * dModel + i + 1] = Math.cos(angle);
    }
  }
  return tensor(pe, [length, dModel]);
}
