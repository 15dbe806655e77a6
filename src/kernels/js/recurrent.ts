// A whole recurrent layer direction as one kernel (RNN, LSTM, GRU), as cuDNN does: per step
// one GEMM (h·W_hhᵀ) and one pass of gate math, instead of some twenty small autograd ops.
// The forward saves what the backward needs (the state before every step and the gates);
// the backward runs through time in reverse with one GEMM per step, and the weight gradient
// is a single GEMM over all steps (done by the op's gradient with public ops). The gate math
// is a primitive: JS here, WASM in kernels/wasm, tested against each other.
import type { TypedArray } from '../../tensor/dtype.js';
import { type Tensor, empty } from '../../tensor/tensor.js';
import { type KernelSpec, registerKernel } from '../registry.js';
import { type GemmFn, type PrepareBFn, mat, sharedBFrom } from './gemm.js';

export type RecurrentKind = 'rnn_tanh' | 'rnn_relu' | 'lstm' | 'gru';
/** Gates per hidden unit. */
export const GATES: Record<RecurrentKind, number> = { rnn_tanh: 1, rnn_relu: 1, lstm: 4, gru: 3 };
/** Values saved per hidden unit and step: RNN h; LSTM i, f, g, o, tanh(c); GRU r, z, n, W_hn·h + b_hn. */
export const SAVED: Record<RecurrentKind, number> = { rnn_tanh: 1, rnn_relu: 1, lstm: 5, gru: 4 };
export const KIND_CODE: Record<RecurrentKind, number> = {
  rnn_tanh: 0,
  rnn_relu: 1,
  lstm: 2,
  gru: 3,
};

/** An array and an element offset into it. */
export interface Vec {
  data: TypedArray;
  offset: number;
}

export interface CellPrimitives {
  /**
   * One step for rows [0, N): pre-activations gi (x·W_ihᵀ + b_ih) + gh (h·W_hhᵀ) + bhh; writes
   * the new state hn (and cn for LSTM) and the saved values. cp/cn are ignored but for LSTM.
   */
  forward(
    kind: RecurrentKind,
    N: number,
    H: number,
    gi: Vec,
    gh: Vec,
    bhh: Vec,
    hp: Vec,
    cp: Vec,
    hn: Vec,
    cn: Vec,
    saved: Vec,
  ): void;
  /**
   * One step back from dh (and dc) [N, H]: the pre-activation gradients dgi and dgh [N, G·H]
   * (the same for RNN and LSTM: dgh is not written), the direct part of dh_prev (GRU's z·dh,
   * zero otherwise) into dhp and LSTM's dc_prev into dcp.
   */
  backward(
    kind: RecurrentKind,
    N: number,
    H: number,
    dh: Vec,
    dc: Vec,
    saved: Vec,
    hp: Vec,
    cp: Vec,
    dgi: Vec,
    dgh: Vec,
    dhp: Vec,
    dcp: Vec,
  ): void;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

export const jsCellPrimitives: CellPrimitives = {
  forward(kind, N, H, gi, gh, bhh, hp, cp, hn, cn, saved) {
    const G = GATES[kind] * H,
      S = SAVED[kind] * H;
    const GI = gi.data,
      GH = gh.data,
      B = bhh.data,
      HP = hp.data,
      HN = hn.data,
      SV = saved.data;
    for (let n = 0; n < N; n++) {
      const a = gi.offset + n * G,
        b = gh.offset + n * G,
        s = saved.offset + n * S,
        p = hp.offset + n * H,
        q = hn.offset + n * H;
      const pre = (j: number) => GI[a + j] + GH[b + j] + B[bhh.offset + j];
      if (kind === 'lstm') {
        const CP = cp.data,
          CN = cn.data;
        for (let j = 0; j < H; j++) {
          const i = sigmoid(pre(j)),
            f = sigmoid(pre(H + j)),
            g = Math.tanh(pre(2 * H + j)),
            o = sigmoid(pre(3 * H + j));
          const c = f * CP[cp.offset + n * H + j] + i * g;
          const tc = Math.tanh(c);
          CN[cn.offset + n * H + j] = c;
          HN[q + j] = o * tc;
          SV[s + j] = i;
          SV[s + H + j] = f;
          SV[s + 2 * H + j] = g;
          SV[s + 3 * H + j] = o;
          SV[s + 4 * H + j] = tc;
        }
      } else if (kind === 'gru') {
        for (let j = 0; j < H; j++) {
          const r = sigmoid(pre(j)),
            z = sigmoid(pre(H + j));
          const hhn = GH[b + 2 * H + j] + B[bhh.offset + 2 * H + j];
          const nn = Math.tanh(GI[a + 2 * H + j] + r * hhn);
          HN[q + j] = (1 - z) * nn + z * HP[p + j];
          SV[s + j] = r;
          SV[s + H + j] = z;
          SV[s + 2 * H + j] = nn;
          SV[s + 3 * H + j] = hhn;
        }
      } else {
        for (let j = 0; j < H; j++) {
          const v = pre(j);
          const y = kind === 'rnn_tanh' ? Math.tanh(v) : v > 0 ? v : 0;
          HN[q + j] = y;
          SV[s + j] = y;
        }
      }
    }
  },

  backward(kind, N, H, dh, dc, saved, hp, cp, dgi, dgh, dhp, dcp) {
    const G = GATES[kind] * H,
      S = SAVED[kind] * H;
    const DH = dh.data,
      SV = saved.data,
      DGI = dgi.data,
      DHP = dhp.data;
    for (let n = 0; n < N; n++) {
      const s = saved.offset + n * S,
        a = dgi.offset + n * G,
        q = n * H;
      if (kind === 'lstm') {
        const DC = dc.data,
          CP = cp.data,
          DCP = dcp.data;
        for (let j = 0; j < H; j++) {
          const i = SV[s + j],
            f = SV[s + H + j],
            g = SV[s + 2 * H + j],
            o = SV[s + 3 * H + j],
            tc = SV[s + 4 * H + j];
          const d = DH[dh.offset + q + j];
          const dct = DC[dc.offset + q + j] + d * o * (1 - tc * tc);
          DGI[a + j] = dct * g * i * (1 - i);
          DGI[a + H + j] = dct * CP[cp.offset + q + j] * f * (1 - f);
          DGI[a + 2 * H + j] = dct * i * (1 - g * g);
          DGI[a + 3 * H + j] = d * tc * o * (1 - o);
          DCP[dcp.offset + q + j] = dct * f;
          DHP[dhp.offset + q + j] = 0;
        }
      } else if (kind === 'gru') {
        const HP = hp.data,
          DGH = dgh.data,
          b = dgh.offset + n * G;
        for (let j = 0; j < H; j++) {
          const r = SV[s + j],
            z = SV[s + H + j],
            nn = SV[s + 2 * H + j],
            hhn = SV[s + 3 * H + j];
          const d = DH[dh.offset + q + j];
          const dn = d * (1 - z) * (1 - nn * nn);
          const dr = dn * hhn * r * (1 - r);
          const dz = d * (HP[hp.offset + q + j] - nn) * z * (1 - z);
          DGI[a + j] = DGH[b + j] = dr;
          DGI[a + H + j] = DGH[b + H + j] = dz;
          DGI[a + 2 * H + j] = dn;
          DGH[b + 2 * H + j] = dn * r;
          DHP[dhp.offset + q + j] = d * z;
        }
      } else {
        for (let j = 0; j < H; j++) {
          const y = SV[s + j],
            d = DH[dh.offset + q + j];
          DGI[a + j] = kind === 'rnn_tanh' ? d * (1 - y * y) : y > 0 ? d : 0;
          DHP[dhp.offset + q + j] = 0;
        }
      }
    }
  },
};

export type RecurrentAttrs = {
  kind: RecurrentKind;
  /** Steps run from T − 1 down to 0 (the reverse direction of a bidirectional layer). */
  reverse: boolean;
  /** Real length of each sequence; rows past theirs keep their state and output zero. */
  lengths: readonly number[] | null;
};

/** The processing order's k-th step. */
const stepAt = (k: number, T: number, reverse: boolean) => (reverse ? T - 1 - k : k);

/** Rows whose sequence has ended by step t. */
function paddedRows(lengths: readonly number[] | null, t: number): number[] {
  if (lengths === null) return [];
  const out: number[] = [];
  lengths.forEach((len, n) => {
    if (t >= len) out.push(n);
  });
  return out;
}

/** Copies row n (H wide) of src into dst, or zeroes it when src is null. */
function setRow(dst: Vec, src: Vec | null, n: number, H: number): void {
  const at = dst.offset + n * H;
  if (src === null) dst.data.fill(0, at, at + H);
  else dst.data.set(src.data.subarray(src.offset + n * H, src.offset + (n + 1) * H), at);
}

const v = (t: Tensor, offset = 0): Vec => ({ data: t.data, offset });

/**
 * Registers 'RecurrentSeq' (inputs gi [T, N, G·H], W_hh [G·H, H], b_hh [G·H], h0 [N, H] and
 * for LSTM c0 [N, H]; outputs Y [T + S, N, H] (every step's output, then h_T, then LSTM's c_T),
 * the state before every step Hprev [T, N, H], the saved gates, and LSTM's Cprev) and its
 * backward 'RecurrentSeqGrad' (outputs dgi, dh0, then LSTM's dc0 or GRU's dgh).
 */
export function registerRecurrentKernels(
  backend: string,
  gemm: GemmFn,
  cell: CellPrimitives,
  supports?: KernelSpec['supports'],
  prepareB: PrepareBFn = sharedBFrom(gemm),
): void {
  registerKernel({
    name: 'RecurrentSeq',
    backend,
    supports,
    fn: ([gi, whh, bhh, h0, c0], { kind, reverse, lengths }: RecurrentAttrs) => {
      const [T, N, G] = gi.shape;
      const H = whh.shape[1];
      const lstm = kind === 'lstm';
      const NH = N * H;
      const Y = empty([T + (lstm ? 2 : 1), N, H], gi.dtype);
      const Hprev = empty([T, N, H], gi.dtype);
      const saved = empty([T, N, SAVED[kind] * H], gi.dtype);
      const Cprev = lstm ? empty([T, N, H], gi.dtype) : null;
      const gh = empty([N, G], gi.dtype);
      const first = stepAt(0, T, reverse);
      Hprev.data.set(h0.data, first * NH);
      if (Cprev) Cprev.data.set(c0.data, first * NH);
      // W_hhᵀ as [H, G], packed once for every step.
      const W = prepareB(N, G, H, mat(whh.data, 0, H, true));
      try {
        for (let k = 0; k < T; k++) {
          const t = stepAt(k, T, reverse);
          const hp = v(Hprev, t * NH);
          W.run(N, mat(Hprev.data, t * NH, H), mat(gh.data, 0, G), false);
          const last = k === T - 1;
          const next = stepAt(k + 1, T, reverse);
          const hn = last ? v(Y, T * NH) : v(Hprev, next * NH);
          const cp = Cprev ? v(Cprev, t * NH) : hp;
          const cn = Cprev ? (last ? v(Y, (T + 1) * NH) : v(Cprev, next * NH)) : hn;
          const sv = v(saved, t * N * SAVED[kind] * H);
          cell.forward(kind, N, H, v(gi, t * N * G), v(gh), v(bhh), hp, cp, hn, cn, sv);
          Y.data.set(hn.data.subarray(hn.offset, hn.offset + NH), t * NH);
          for (const n of paddedRows(lengths, t)) {
            setRow(hn, hp, n, H);
            if (lstm) setRow(cn, cp, n, H);
            setRow(v(Y, t * NH), null, n, H);
          }
        }
      } finally {
        W.dispose();
      }
      gh.dispose();
      return Cprev ? [Y, Hprev, saved, Cprev] : [Y, Hprev, saved];
    },
  });

  registerKernel({
    name: 'RecurrentSeqGrad',
    backend,
    differentiable: false,
    supports,
    fn: ([dY, whh, Hprev, saved, Cprev], { kind, reverse, lengths }: RecurrentAttrs) => {
      const [T, N, H] = Hprev.shape;
      const G = GATES[kind] * H;
      const lstm = kind === 'lstm',
        gru = kind === 'gru';
      const NH = N * H;
      const dt = dY.dtype;
      const dgi = empty([T, N, G], dt);
      const dgh = gru ? empty([T, N, G], dt) : dgi;
      // Two buffers each for dh and dc: the step's input and the previous step's gradient.
      const dh = [empty([N, H], dt), empty([N, H], dt)];
      const dc = lstm ? [empty([N, H], dt), empty([N, H], dt)] : dh;
      dh[0].data.set(dY.data.subarray(T * NH, (T + 1) * NH));
      if (lstm) dc[0].data.set(dY.data.subarray((T + 1) * NH, (T + 2) * NH));
      const W = prepareB(N, H, G, mat(whh.data, 0, H));
      try {
        for (let k = T - 1; k >= 0; k--) {
          const t = stepAt(k, T, reverse);
          const [cur, prev] = [dh[0], dh[1]];
          const D = cur.data;
          const padded = paddedRows(lengths, t);
          // A padded step's output is a constant zero (its gradient does not flow) and its state
          // is the previous one (the gradient passes through unchanged).
          const dy = dY.data.subarray(t * NH, (t + 1) * NH);
          for (let n = 0; n < N; n++) {
            if (lengths !== null && t >= lengths[n]) continue;
            for (let j = n * H; j < (n + 1) * H; j++) D[j] += dy[j];
          }
          const sv = v(saved, t * N * SAVED[kind] * H);
          const cp = Cprev ? v(Cprev, t * NH) : v(Hprev, t * NH);
          const [gi, gh] = [v(dgi, t * N * G), v(dgh, t * N * G)];
          cell.backward(
            kind,
            N,
            H,
            v(cur),
            v(dc[0]),
            sv,
            v(Hprev, t * NH),
            cp,
            gi,
            gh,
            v(prev),
            v(dc[1]),
          );
          for (const n of padded) {
            gi.data.fill(0, gi.offset + n * G, gi.offset + (n + 1) * G);
            gh.data.fill(0, gh.offset + n * G, gh.offset + (n + 1) * G);
            setRow(v(prev), v(cur), n, H);
            if (lstm) setRow(v(dc[1]), v(dc[0]), n, H);
          }
          W.run(N, mat(dgh.data, t * N * G, G), mat(prev.data, 0, H), true);
          dh.reverse();
          if (lstm) dc.reverse();
        }
      } finally {
        W.dispose();
      }
      dh[1].dispose();
      if (lstm) dc[1].dispose();
      return [dgi, dh[0], ...(lstm ? [dc[0]] : []), ...(gru ? [dgh] : [])];
    },
  });
}
