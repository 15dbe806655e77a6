// MultiheadAttention and TransformerEncoder(Layer) against PyTorch (gen_attention.py, eval
// mode): outputs, averaged weights and every gradient, with padding and causal masks.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { assertClose, fixture } from './helpers.js';

const { nn } = nk;
const close = { rtol: 1e-4, atol: 1e-5 };

function load(m: nk.nn.Module, state: Record<string, { shape: number[]; data: number[] }>) {
  const sd = m.stateDict();
  assert.deepEqual(Object.keys(sd).sort(), Object.keys(state).sort());
  for (const [k, v] of Object.entries(state)) sd[k].data.set(v.data);
  return sd;
}

describe('attention', () => {
  for (const [n, rec] of fixture('attention.json').entries()) {
    it(`${rec.kind} ${JSON.stringify(rec.args)}${rec.keyPaddingMask ? ' with padding mask' : ''}${rec.attnMask ? ' and causal mask' : ''} matches PyTorch (${n})`, () => {
      if (rec.kind === 'mha') {
        const m = new nn.MultiheadAttention(rec.args[0], rec.args[1], {
          batchFirst: rec.batchFirst,
        }).eval();
        const sd = load(m, rec.state);
        const q = nk.tensor(rec.q, rec.qShape, { requiresGrad: true });
        const k = nk.tensor(rec.k, rec.kShape, { requiresGrad: true });
        const v = nk.tensor(rec.v, rec.kShape, { requiresGrad: true });
        const L = rec.qShape[rec.batchFirst ? 1 : 0],
          S = rec.kShape[rec.batchFirst ? 1 : 0];
        const attnMask = rec.attnMask
          ? nk.tensor(
              rec.attnMask.map((x: number | string) => (x === '-inf' ? -Infinity : x)),
              [L, S],
            )
          : undefined;
        const r = m.run(q, k, v, { keyPaddingMask: rec.keyPaddingMask, attnMask });
        assert.deepEqual(r.output.shape, rec.outShape);
        r.output.mul(nk.tensor(rec.w, r.output.shape)).sum().backward();
        assertClose(r.output.toArray(), rec.out, { ...close, what: 'out' });
        assertClose(r.weights!.toArray(), rec.weights, { ...close, what: 'weights' });
        assertClose(q.grad!.toArray(), rec.dq, { ...close, what: 'dq' });
        assertClose(k.grad!.toArray(), rec.dk, { ...close, what: 'dk' });
        assertClose(v.grad!.toArray(), rec.dv, { ...close, what: 'dv' });
        for (const [key, g] of Object.entries(rec.grads as Record<string, number[]>))
          assertClose(sd[key].grad!.toArray(), g, { ...close, what: `d${key}` });
        return;
      }
      const [E, h] = rec.args;
      const m = new nn.TransformerEncoder(
        () =>
          new nn.TransformerEncoderLayer(E, h, {
            dimFeedforward: rec.dimFeedforward,
            activation: rec.activation,
            batchFirst: rec.batchFirst,
            normFirst: rec.normFirst,
          }),
        rec.numLayers,
        rec.finalNorm ? new nn.LayerNorm(E) : null,
      ).eval();
      const sd = load(m, rec.state);
      const x = nk.tensor(rec.x, rec.xShape, { requiresGrad: true });
      const y = m.call(x, { keyPaddingMask: rec.keyPaddingMask });
      y.mul(nk.tensor(rec.w, y.shape)).sum().backward();
      assertClose(y.toArray(), rec.out, { ...close, what: 'out' });
      assertClose(x.grad!.toArray(), rec.dx, { ...close, what: 'dx' });
      for (const [key, g] of Object.entries(rec.grads as Record<string, number[]>))
        assertClose(sd[key].grad!.toArray(), g, { ...close, what: `d${key}` });
    });
  }

  it('positional encoding, errors', () => {
    const pe = nn.positionalEncoding(3, 4).toArray();
    assertClose(
      pe,
      [
        0,
        1,
        0,
        1,
        Math.sin(1),
        Math.cos(1),
        Math.sin(0.01),
        Math.cos(0.01),
        Math.sin(2),
        Math.cos(2),
        Math.sin(0.02),
        Math.cos(0.02),
      ],
      { rtol: 1e-6, atol: 1e-7 },
    );
    assert.throws(
      () => new nn.MultiheadAttention(6, 4),
      /embedDim 6 must be divisible by numHeads 4/,
    );
    const m = new nn.MultiheadAttention(4, 2);
    assert.throws(
      () => m.call(nk.randn([3, 2, 5])),
      /MultiheadAttention\(4, heads=2\): expected query \[L, N, E\] with E = 4, got \[3, 2, 5\]/,
    );
    assert.throws(
      () =>
        m.run(nk.randn([3, 2, 4]), nk.randn([3, 2, 4]), nk.randn([3, 2, 4]), {
          keyPaddingMask: [[0, 1]],
        }),
      /expected keyPaddingMask \[2, 3\], got 2 values/,
    );
  });
});
