// One direction of a recurrent layer over a whole sequence as a single op (kernels in
// kernels/js/recurrent.ts). Its gradient runs the reverse-time kernel, then takes dW_hh as one
// GEMM over every step and db_hh as one sum, with public ops.
import { applyMulti } from '../autograd/apply.js';
import { GATES, type RecurrentAttrs, type RecurrentKind } from '../kernels/js/recurrent.js';
import { registerGradient } from '../kernels/registry.js';
import type { Tensor } from '../tensor/tensor.js';
import { sum } from './reduce.js';
import { reshape, slice } from './shape-ops.js';
import { matmulTransposed } from './matmul.js';

export type { RecurrentKind };

export interface SequenceRun {
  /** Every step's output [T, N, H] (zero at padded steps). */
  output: Tensor;
  /** The state after each sequence's last real step, [N, H]. */
  hN: Tensor;
  /** LSTM only. */
  cN: Tensor | null;
}

/**
 * Runs the cell over every step of gi = x·W_ihᵀ + b_ih [T, N, G·H] from h0 (and c0) [N, H]
 * with W_hh [G·H, H] and b_hh [G·H]; callers check shapes (the layers name themselves).
 */
export function recurrentSequence(
  kind: RecurrentKind,
  gi: Tensor,
  whh: Tensor,
  bhh: Tensor,
  h0: Tensor,
  c0: Tensor | null,
  opts: { reverse?: boolean; lengths?: readonly number[] } = {},
): SequenceRun {
  const attrs: RecurrentAttrs = {
    kind,
    reverse: opts.reverse ?? false,
    lengths: opts.lengths ?? null,
  };
  const inputs = kind === 'lstm' ? [gi, whh, bhh, h0, c0!] : [gi, whh, bhh, h0];
  const [Y] = applyMulti('RecurrentSeq', inputs, attrs);
  const [T, N] = gi.shape;
  const H = whh.shape[1];
  const state = (i: number) => reshape(slice(Y, 0, i, i + 1), [N, H]);
  return {
    output: slice(Y, 0, 0, T),
    hN: state(T),
    cN: kind === 'lstm' ? state(T + 1) : null,
  };
}

registerGradient('RecurrentSeq', (dY, { inputs, outputs, attrs }) => {
  const { kind } = attrs as RecurrentAttrs;
  const [gi, whh, bhh, h0, c0] = inputs;
  const [, Hprev, saved, Cprev] = outputs;
  const grads = applyMulti(
    'RecurrentSeqGrad',
    kind === 'lstm' ? [dY, whh, Hprev, saved, Cprev] : [dY, whh, Hprev, saved],
    attrs,
  );
  const [dgi, dh0] = grads;
  const dc0 = kind === 'lstm' ? grads[2] : null;
  const dgh = kind === 'gru' ? grads[2] : dgi;
  const [T, N, H] = Hprev.shape;
  const G = GATES[kind] * H;
  const rows = reshape(dgh, [T * N, G]);
  return [
    gi.requiresGrad ? dgi : null,
    whh.requiresGrad ? matmulTransposed(rows, reshape(Hprev, [T * N, H]), true, false) : null,
    bhh.requiresGrad ? sum(rows, 0) : null,
    h0.requiresGrad ? dh0 : null,
    ...(c0 ? [c0.requiresGrad ? dc0 : null] : []),
  ];
});
