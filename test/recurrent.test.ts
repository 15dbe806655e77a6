// RNN, LSTM and GRU against PyTorch (gen_recurrent.py): outputs, final states and every
// gradient, multi-layer, bidirectional, batch first, initial states, variable lengths; the
// cells against one step of the layers; errors.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { assertClose, fixture } from './helpers.js';

const { nn } = nk;
const close = { rtol: 1e-4, atol: 1e-5 };

function build(rec: any) {
  const o = rec.options;
  const opts = {
    numLayers: o.num_layers,
    bidirectional: o.bidirectional,
    batchFirst: o.batch_first,
    bias: o.bias,
  };
  const [i, h] = rec.args;
  if (rec.kind === 'lstm') return new nn.LSTM(i, h, opts);
  if (rec.kind === 'gru') return new nn.GRU(i, h, opts);
  return new nn.RNN(i, h, { ...opts, nonlinearity: o.nonlinearity });
}

describe('recurrent layers', () => {
  for (const [n, rec] of fixture('recurrent.json').entries()) {
    it(`${rec.kind} ${JSON.stringify(rec.options)}${rec.lengths ? ` lengths ${rec.lengths}` : ''}${rec.h0 ? ' h0' : ''} matches PyTorch (${n})`, () => {
      const m = build(rec);
      const sd = m.stateDict();
      assert.deepEqual(Object.keys(sd).sort(), Object.keys(rec.state).sort());
      for (const [k, v] of Object.entries(rec.state as Record<string, { data: number[] }>))
        sd[k].data.set(v.data);
      const x = nk.tensor(rec.x, rec.xShape, { requiresGrad: true });
      const D = rec.options.bidirectional ? 2 : 1;
      const stateShape = [
        rec.options.num_layers * D,
        rec.xShape[rec.options.batch_first ? 0 : 1],
        rec.args[1],
      ];
      const r = m.run(x, {
        h0: rec.h0 ? nk.tensor(rec.h0, stateShape) : undefined,
        c0: rec.c0 ? nk.tensor(rec.c0, stateShape) : undefined,
        lengths: rec.lengths,
      });
      assert.deepEqual(r.output.shape, rec.outShape);
      let loss = r.output
        .mul(nk.tensor(rec.w, r.output.shape))
        .sum()
        .add(r.hN.mul(nk.tensor(rec.wh, r.hN.shape)).sum());
      if (rec.cn) loss = loss.add(r.cN!.mul(nk.tensor(rec.wc, r.cN!.shape)).sum());
      loss.backward();
      assertClose(r.output.toArray(), rec.out, { ...close, what: 'output' });
      assertClose(r.hN.toArray(), rec.hn, { ...close, what: 'h_n' });
      if (rec.cn) assertClose(r.cN!.toArray(), rec.cn, { ...close, what: 'c_n' });
      assertClose(x.grad!.toArray(), rec.dx, { ...close, what: 'dx' });
      for (const [k, g] of Object.entries(rec.grads as Record<string, number[]>))
        assertClose(sd[k].grad!.toArray(), g, { ...close, what: `d${k}` });
    });
  }

  it('cells equal one step of the layers', () => {
    nk.manualSeed(5);
    for (const [Cell, Layer] of [
      [nn.LSTMCell, nn.LSTM],
      [nn.GRUCell, nn.GRU],
      [nn.RNNCell, nn.RNN],
    ] as const) {
      const cell = new Cell(3, 4);
      const layer = new Layer(3, 4);
      const csd = cell.stateDict(),
        lsd = layer.stateDict();
      for (const k of Object.keys(csd)) csd[k].data.set(lsd[`${k}_l0`].data);
      const x = nk.randn([2, 3]);
      const h = nk.randn([2, 4]);
      const c = nk.randn([2, 4]);
      const s = cell.run(x, { h, c });
      const r = layer.run(x.reshape([1, 2, 3]), {
        h0: h.reshape([1, 2, 4]),
        c0: Cell === nn.LSTMCell ? c.reshape([1, 2, 4]) : undefined,
      });
      assertClose(s.h.toArray(), r.hN.toArray(), { rtol: 1e-6, atol: 1e-6, what: cell.describe() });
      if (s.c) assertClose(s.c.toArray(), r.cN!.toArray(), { rtol: 1e-6, atol: 1e-6 });
    }
  });

  it('bad input names the layer and shapes; the doctor sees recurrence', () => {
    const m = new nn.LSTM(3, 4, { batchFirst: true });
    assert.throws(
      () => m.call(nk.randn([2, 5, 4])),
      /LSTM\(3, 4, batchFirst\): expected input \[N, T, 3\], got \[2, 5, 4\]/,
    );
    assert.throws(
      () => m.run(nk.randn([2, 5, 3]), { lengths: [5, 6] }),
      /expected 2 lengths, integers in \[1, 5\], got \[5, 6\]/,
    );
    assert.throws(
      () => m.run(nk.randn([2, 5, 3]), { h0: nk.zeros([1, 3, 4]) }),
      /expected h0 \[1, 2, 4\], got \[1, 3, 4\]/,
    );
    assert.throws(
      () => new nn.GRU(3, 4).run(nk.randn([5, 2, 3]), { c0: nk.zeros([1, 2, 4]) }),
      /c0 is for LSTM only/,
    );
    assert.throws(
      () => new nn.RNN(3, 0),
      /RNN: expected hiddenSize to be a positive integer, got 0/,
    );
    assert.ok(m.isRecurrent);
  });
});
