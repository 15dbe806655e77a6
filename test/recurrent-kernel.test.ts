// The fused recurrent op (one kernel per layer direction) against the composed per-step ops
// it replaced, float64 gradchecks of every input, and its WASM kernels against the JS twins
// (odd sizes, both directions, lengths, every thread split).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { GATES, type RecurrentKind } from '../src/kernels/js/recurrent.js';
import { setGrainScale } from '../src/kernels/wasm/threads.js';
import { recurrentSequence } from '../src/ops/recurrent.js';
import { assertClose, gradcheck, rand64 } from './helpers.js';

const { add, mul, sub, sigmoid, tanh, relu, slice, stack, matmul, transpose, concat } = nk;
const KINDS: RecurrentKind[] = ['lstm', 'gru', 'rnn_tanh', 'rnn_relu'];

/** One step from public ops (the layers' implementation before the fused kernel). */
function composedStep(
  kind: RecurrentKind,
  gi: nk.Tensor,
  h: nk.Tensor,
  c: nk.Tensor | null,
  whh: nk.Tensor,
  bhh: nk.Tensor,
  H: number,
): { h: nk.Tensor; c: nk.Tensor | null } {
  const gh = add(matmul(h, transpose(whh, 0, 1)), bhh);
  const gate = (t: nk.Tensor, k: number) => slice(t, -1, k * H, (k + 1) * H);
  if (kind === 'rnn_tanh') return { h: tanh(add(gi, gh)), c: null };
  if (kind === 'rnn_relu') return { h: relu(add(gi, gh)), c: null };
  if (kind === 'lstm') {
    const g = add(gi, gh);
    const i = sigmoid(gate(g, 0)),
      f = sigmoid(gate(g, 1)),
      cand = tanh(gate(g, 2)),
      o = sigmoid(gate(g, 3));
    const c2 = add(mul(f, c!), mul(i, cand));
    return { h: mul(o, tanh(c2)), c: c2 };
  }
  const r = sigmoid(add(gate(gi, 0), gate(gh, 0)));
  const z = sigmoid(add(gate(gi, 1), gate(gh, 1)));
  const n = tanh(add(gate(gi, 2), mul(r, gate(gh, 2))));
  return { h: add(mul(sub(1, z), n), mul(z, h)), c: null };
}

/** The whole sequence from composed steps, padded steps masked as the layers did. */
function composed(
  kind: RecurrentKind,
  gi: nk.Tensor,
  whh: nk.Tensor,
  bhh: nk.Tensor,
  h0: nk.Tensor,
  c0: nk.Tensor | null,
  reverse: boolean,
  lengths?: number[],
): nk.Tensor {
  const [T, N] = gi.shape;
  const H = whh.shape[1];
  let h = h0,
    c = c0;
  const outs: nk.Tensor[] = new Array(T);
  for (let k = 0; k < T; k++) {
    const t = reverse ? T - 1 - k : k;
    const s = composedStep(kind, slice(gi, 0, t, t + 1).reshape([N, -1]), h, c, whh, bhh, H);
    const m = nk.tensor(
      Array.from({ length: N }, (_, n) => (lengths && t >= lengths[n] ? 0 : 1)),
      [N, 1],
      { dtype: gi.dtype },
    );
    h = add(mul(m, s.h), mul(sub(1, m), h));
    if (c) c = add(mul(m, s.c!), mul(sub(1, m), c));
    outs[t] = mul(m, s.h);
  }
  return flat(stack(outs, 0), h, c);
}

const flat = (out: nk.Tensor, h: nk.Tensor, c: nk.Tensor | null) =>
  concat([out.reshape([-1]), h.reshape([-1]), ...(c ? [c.reshape([-1])] : [])], 0);

function fused(
  kind: RecurrentKind,
  gi: nk.Tensor,
  whh: nk.Tensor,
  bhh: nk.Tensor,
  h0: nk.Tensor,
  c0: nk.Tensor | null,
  reverse: boolean,
  lengths?: number[],
): nk.Tensor {
  const r = recurrentSequence(kind, gi, whh, bhh, h0, c0, { reverse, lengths });
  return flat(r.output, r.hN, r.cN);
}

function inputs(kind: RecurrentKind, T: number, N: number, H: number, make: typeof rand64) {
  const G = GATES[kind] * H;
  const list = [make([T, N, G]), make([G, H]), make([G]), make([N, H])];
  return kind === 'lstm' ? [...list, make([N, H])] : list;
}

const CASES: [boolean, number[] | undefined][] = [
  [false, undefined],
  [true, undefined],
  [false, [3, 1, 4]],
  [true, [3, 1, 4]],
];

describe('fused recurrent op', () => {
  after(() => {
    setGrainScale(1);
    nk.setBackend('wasm');
  });

  for (const kind of KINDS) {
    it(`${kind}: equals the composed steps, values and gradients (float64)`, () => {
      nk.manualSeed(11);
      for (const [reverse, lengths] of CASES) {
        const xs = inputs(kind, 4, 3, 5, rand64);
        const run = (f: typeof fused) => {
          const leaves = xs.map((x) =>
            nk.tensor(x.toArray(), x.shape, { dtype: x.dtype, requiresGrad: true }),
          );
          const [gi, whh, bhh, h0, c0] = leaves;
          const y = f(kind, gi, whh, bhh, h0, c0 ?? null, reverse, lengths);
          y.mul(
            nk.tensor(
              Float64Array.from({ length: y.size }, (_, i) => Math.cos(i)),
              y.shape,
              { dtype: y.dtype },
            ),
          )
            .sum()
            .backward();
          return [y.toArray(), ...leaves.map((l) => l.grad!.toArray())];
        };
        const want = run(composed),
          got = run(fused);
        want.forEach((w, i) =>
          assertClose(got[i], w, {
            rtol: 1e-12,
            atol: 1e-12,
            what: `${kind} reverse=${reverse} lengths=${lengths} part ${i}`,
          }),
        );
      }
    });

    it(`${kind}: float64 gradcheck of every input, both directions, with lengths`, () => {
      nk.manualSeed(12);
      for (const [reverse, lengths] of CASES) {
        gradcheck(
          (gi, whh, bhh, h0, c0) => fused(kind, gi, whh, bhh, h0, c0 ?? null, reverse, lengths),
          inputs(kind, 4, 3, 2, (s) => rand64(s, 0.7)),
        );
      }
    });

    it(`${kind}: WASM kernels equal the JS twins, split across threads or not`, () => {
      nk.manualSeed(13);
      for (const scale of [1, 0]) {
        setGrainScale(scale);
        for (const [reverse, lengths] of [...CASES, [false, [5, 7, 1, 2, 7, 3, 6]]] as const) {
          const T = 7,
            N = lengths?.length === 7 ? 7 : 3,
            H = 13;
          // Weights small enough that the recurrence contracts: an exploding one amplifies the
          // float32 rounding of either GEMM past any fixed tolerance.
          const xs = inputs(kind, T, N, H, (s) => nk.randn(s, { std: 0.4 }));
          const run = () => {
            const leaves = xs.map((x) =>
              nk.tensor(x.toArray(), x.shape, { dtype: x.dtype, requiresGrad: true }),
            );
            const [gi, whh, bhh, h0, c0] = leaves;
            const lens = lengths ? [...lengths].slice(0, N) : undefined;
            const y = fused(kind, gi, whh, bhh, h0, c0 ?? null, reverse, lens);
            y.mul(
              nk.tensor(
                Float32Array.from({ length: y.size }, (_, i) => Math.sin(i)),
                y.shape,
              ),
            )
              .sum()
              .backward();
            return [y.toArray(), ...leaves.map((l) => l.grad!.toArray())];
          };
          nk.setBackend('js');
          const js = run();
          nk.setBackend('wasm');
          const wasm = run();
          js.forEach((w, i) =>
            assertClose(wasm[i], w, {
              rtol: 1e-4,
              atol: 1e-5,
              what: `${kind} reverse=${reverse} lengths=${lengths} grain=${scale} part ${i}`,
            }),
          );
        }
      }
      setGrainScale(1);
    });
  }

  it('the layers refuse an empty sequence', () => {
    const m = new nk.nn.LSTM(3, 4);
    assert.throws(
      () => m.call(nk.randn([0, 2, 3])),
      /LSTM\(3, 4\): expected at least one time step, got \[0, 2, 3\]/,
    );
  });
});
