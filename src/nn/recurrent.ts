// Recurrent layers with PyTorch's semantics and parameter names: RNN (tanh or relu), LSTM
// (gates i, f, g, o) and GRU (gates r, z, n), with numLayers, bidirectional, batchFirst,
// dropout between layers and initial states; and the single-step cells. Each direction of a
// layer is one op over the whole sequence (ops/recurrent.ts: one GEMM and one gate pass per
// step). Variable lengths take a `lengths` array instead of packed sequences: outputs at
// padded steps are zero and the final states are each sequence's state at its last real
// step, as PyTorch's pack_padded_sequence path gives.
import { dropout } from '../ops/dropout.js';
import { linear } from '../ops/matmul.js';
import { type RecurrentKind, recurrentSequence } from '../ops/recurrent.js';
import { concat, permute, slice, stack } from '../ops/shape-ops.js';
import { rand, zeros } from '../tensor/create.js';
import { fmt } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { GATES } from '../kernels/js/recurrent.js';
import { Module } from './module.js';

export type { RecurrentKind };

interface Weights {
  wih: Tensor;
  whh: Tensor;
  bih: Tensor | null;
  bhh: Tensor | null;
}

/** The whole sequence through one direction's weights (gi for all steps in one GEMM). */
function runDirection(
  kind: RecurrentKind,
  x: Tensor,
  w: Weights,
  h0: Tensor,
  c0: Tensor | null,
  opts: { reverse?: boolean; lengths?: readonly number[] },
) {
  const gi = linear(x, w.wih, w.bih);
  const bhh = w.bhh ?? zeros([w.whh.shape[0]], { dtype: x.dtype });
  return recurrentSequence(kind, gi, w.whh, bhh, h0, c0, opts);
}

/** PyTorch's init for every recurrent weight and bias: U(−1/√H, 1/√H). */
function uniform(shape: number[], H: number): Tensor {
  const k = 1 / Math.sqrt(H);
  return rand(shape, { low: -k, high: k });
}

export interface RecurrentOptions {
  numLayers?: number;
  bias?: boolean;
  /** Input and output as [N, T, features] instead of [T, N, features]. */
  batchFirst?: boolean;
  /** Dropout on each layer's output but the last, in training mode. */
  dropout?: number;
  bidirectional?: boolean;
}

export interface RecurrentRun {
  /** Every step's top-layer output: [T, N, D·H] (or [N, T, D·H] batch first); zero at padding. */
  output: Tensor;
  /** Final hidden state of every layer and direction: [numLayers·D, N, H]. */
  hN: Tensor;
  /** LSTM only: final cell state, [numLayers·D, N, H]. */
  cN: Tensor | null;
}

export interface RecurrentInputs {
  h0?: Tensor;
  /** LSTM only. */
  c0?: Tensor;
  /** Real length of each sequence (1 … T); later steps are padding. */
  lengths?: readonly number[];
}

abstract class RecurrentBase extends Module {
  /** Read by the BatchNorm doctor: normalization inside mixes time steps. */
  readonly isRecurrent = true;
  readonly numLayers: number;
  readonly bidirectional: boolean;
  readonly batchFirst: boolean;
  readonly dropoutP: number;
  private readonly weights: Weights[][] = [];

  constructor(
    readonly kind: RecurrentKind,
    readonly inputSize: number,
    readonly hiddenSize: number,
    opts: RecurrentOptions,
  ) {
    super();
    const name = this.constructor.name;
    this.numLayers = opts.numLayers ?? 1;
    this.bidirectional = opts.bidirectional ?? false;
    this.batchFirst = opts.batchFirst ?? false;
    this.dropoutP = opts.dropout ?? 0;
    for (const [what, v] of [
      ['inputSize', inputSize],
      ['hiddenSize', hiddenSize],
      ['numLayers', this.numLayers],
    ] as const) {
      if (!Number.isInteger(v) || v < 1)
        throw new Error(`${name}: expected ${what} to be a positive integer, got ${v}`);
    }
    if (!(this.dropoutP >= 0 && this.dropoutP <= 1))
      throw new Error(`${name}: expected dropout in [0, 1], got ${this.dropoutP}`);
    const G = GATES[kind] * hiddenSize;
    const D = this.bidirectional ? 2 : 1;
    for (let l = 0; l < this.numLayers; l++) {
      const inF = l === 0 ? inputSize : hiddenSize * D;
      const dirs: Weights[] = [];
      for (let d = 0; d < D; d++) {
        const s = `_l${l}${d === 1 ? '_reverse' : ''}`;
        const reg = (n: string, shape: number[]) =>
          this.registerParameter(`${n}${s}`, uniform(shape, hiddenSize))!;
        dirs.push({
          wih: reg('weight_ih', [G, inF]),
          whh: reg('weight_hh', [G, hiddenSize]),
          bih: opts.bias === false ? null : reg('bias_ih', [G]),
          bhh: opts.bias === false ? null : reg('bias_hh', [G]),
        });
      }
      this.weights.push(dirs);
    }
  }

  override describe(): string {
    const extra = [
      this.numLayers > 1 ? `numLayers=${this.numLayers}` : '',
      this.bidirectional ? 'bidirectional' : '',
      this.batchFirst ? 'batchFirst' : '',
    ].filter(Boolean);
    return `${this.constructor.name}(${this.inputSize}, ${this.hiddenSize}${extra.length ? ', ' + extra.join(', ') : ''})`;
  }

  /** The top layer's outputs (PyTorch's first return value); run() gives the states too. */
  forward(x: Tensor, inputs: RecurrentInputs = {}): Tensor {
    return this.run(x, inputs).output;
  }

  run(x: Tensor, inputs: RecurrentInputs = {}): RecurrentRun {
    const name = this.describe();
    const H = this.hiddenSize;
    const D = this.bidirectional ? 2 : 1;
    const layout = this.batchFirst ? '[N, T, input]' : '[T, N, input]';
    if (x.rank !== 3 || x.shape[2] !== this.inputSize) {
      throw new Error(
        `${name}: expected input ${layout.replace('input', String(this.inputSize))}, got ${fmt(x.shape)}`,
      );
    }
    const seq = this.batchFirst ? permute(x, [1, 0, 2]) : x;
    const [T, N] = seq.shape;
    const stateShape = [this.numLayers * D, N, H];
    for (const [k, s] of [
      ['h0', inputs.h0],
      ['c0', inputs.c0],
    ] as const) {
      if (s !== undefined && fmt(s.shape) !== fmt(stateShape))
        throw new Error(`${name}: expected ${k} ${fmt(stateShape)}, got ${fmt(s.shape)}`);
    }
    if (inputs.c0 !== undefined && this.kind !== 'lstm')
      throw new Error(`${name}: c0 is for LSTM only`);
    if (T === 0) throw new Error(`${name}: expected at least one time step, got ${fmt(x.shape)}`);
    this.checkLengths(inputs.lengths, T, N, name);
    let layerIn = seq;
    const hN: Tensor[] = [],
      cN: Tensor[] = [];
    for (let l = 0; l < this.numLayers; l++) {
      const outs: Tensor[] = [];
      for (let d = 0; d < D; d++) {
        const w = this.weights[l][d];
        const idx = l * D + d;
        const h = inputs.h0
          ? slice(inputs.h0, 0, idx, idx + 1).reshape([N, H])
          : zeros([N, H], { dtype: x.dtype });
        const c: Tensor | null =
          this.kind === 'lstm'
            ? inputs.c0
              ? slice(inputs.c0, 0, idx, idx + 1).reshape([N, H])
              : zeros([N, H], { dtype: x.dtype })
            : null;
        const r = runDirection(this.kind, layerIn, w, h, c, {
          reverse: d === 1,
          lengths: inputs.lengths,
        });
        outs.push(r.output);
        hN.push(r.hN);
        if (r.cN) cN.push(r.cN);
      }
      layerIn = D === 2 ? concat(outs, 2) : outs[0];
      if (this.dropoutP > 0 && l < this.numLayers - 1)
        layerIn = dropout(layerIn, this.dropoutP, this.training);
    }
    return {
      output: this.batchFirst ? permute(layerIn, [1, 0, 2]) : layerIn,
      hN: stack(hN, 0),
      cN: this.kind === 'lstm' ? stack(cN, 0) : null,
    };
  }

  private checkLengths(
    lengths: readonly number[] | undefined,
    T: number,
    N: number,
    name: string,
  ): void {
    if (lengths === undefined) return;
    if (lengths.length !== N || !lengths.every((v) => Number.isInteger(v) && v >= 1 && v <= T)) {
      throw new Error(
        `${name}: expected ${N} lengths, integers in [1, ${T}], got [${lengths.join(', ')}]`,
      );
    }
  }
}

/** Elman RNN: h' = tanh (or relu)(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh). */
export class RNN extends RecurrentBase {
  constructor(
    inputSize: number,
    hiddenSize: number,
    opts: RecurrentOptions & { nonlinearity?: 'tanh' | 'relu' } = {},
  ) {
    const nl = opts.nonlinearity ?? 'tanh';
    if (nl !== 'tanh' && nl !== 'relu')
      throw new Error(`RNN: expected nonlinearity 'tanh' or 'relu', got ${String(nl)}`);
    super(nl === 'tanh' ? 'rnn_tanh' : 'rnn_relu', inputSize, hiddenSize, opts);
  }
}

/** LSTM with PyTorch's gate order (input, forget, cell, output). */
export class LSTM extends RecurrentBase {
  constructor(inputSize: number, hiddenSize: number, opts: RecurrentOptions = {}) {
    super('lstm', inputSize, hiddenSize, opts);
  }
}

/** GRU with PyTorch's gate order (reset, update, new) and n = tanh(W_in x + r·(W_hn h + b_hn)). */
export class GRU extends RecurrentBase {
  constructor(inputSize: number, hiddenSize: number, opts: RecurrentOptions = {}) {
    super('gru', inputSize, hiddenSize, opts);
  }
}

abstract class CellBase extends Module {
  readonly isRecurrent = true;
  protected readonly w: Weights;

  constructor(
    readonly kind: RecurrentKind,
    readonly inputSize: number,
    readonly hiddenSize: number,
    bias: boolean,
  ) {
    super();
    const G = GATES[kind] * hiddenSize;
    const reg = (n: string, shape: number[]) =>
      this.registerParameter(n, uniform(shape, hiddenSize))!;
    this.w = {
      wih: reg('weight_ih', [G, inputSize]),
      whh: reg('weight_hh', [G, hiddenSize]),
      bih: bias ? reg('bias_ih', [G]) : null,
      bhh: bias ? reg('bias_hh', [G]) : null,
    };
  }

  override describe(): string {
    return `${this.constructor.name}(${this.inputSize}, ${this.hiddenSize})`;
  }

  /** One step from x [N, input] and state h (and c) [N, hidden] (zeros when left out). */
  run(x: Tensor, state: { h?: Tensor; c?: Tensor } = {}): { h: Tensor; c: Tensor | null } {
    if (x.rank !== 2 || x.shape[1] !== this.inputSize) {
      throw new Error(
        `${this.describe()}: expected input [N, ${this.inputSize}], got ${fmt(x.shape)}`,
      );
    }
    const N = x.shape[0];
    const h = state.h ?? zeros([N, this.hiddenSize], { dtype: x.dtype });
    const c =
      this.kind === 'lstm' ? (state.c ?? zeros([N, this.hiddenSize], { dtype: x.dtype })) : null;
    const r = runDirection(this.kind, x.reshape([1, N, this.inputSize]), this.w, h, c, {});
    return { h: r.hN, c: r.cN };
  }

  /** The new hidden state (PyTorch's RNNCell/GRUCell return; LSTMCell's h, with run() for c). */
  forward(x: Tensor, h?: Tensor, c?: Tensor): Tensor {
    return this.run(x, { h, c }).h;
  }
}

export class RNNCell extends CellBase {
  constructor(
    inputSize: number,
    hiddenSize: number,
    opts: { bias?: boolean; nonlinearity?: 'tanh' | 'relu' } = {},
  ) {
    super(
      opts.nonlinearity === 'relu' ? 'rnn_relu' : 'rnn_tanh',
      inputSize,
      hiddenSize,
      opts.bias ?? true,
    );
  }
}

export class LSTMCell extends CellBase {
  constructor(inputSize: number, hiddenSize: number, opts: { bias?: boolean } = {}) {
    super('lstm', inputSize, hiddenSize, opts.bias ?? true);
  }
}

export class GRUCell extends CellBase {
  constructor(inputSize: number, hiddenSize: number, opts: { bias?: boolean } = {}) {
    super('gru', inputSize, hiddenSize, opts.bias ?? true);
  }
}
