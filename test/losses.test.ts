// Binary cross entropy (on probabilities and on logits) against PyTorch (gen_bce.py), and
// channel dropout.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { assertClose, fixture, gradcheck, rand64 } from './helpers.js';

describe('binary cross entropy', () => {
  for (const rec of fixture('bce.json')) {
    const extra = rec.weight ? 'weight' : rec.posWeight ? 'posWeight' : 'plain';
    it(`${rec.kind}, reduction ${rec.reduction}, ${extra} matches PyTorch`, () => {
      const x = nk.tensor(rec.x, rec.shape, { requiresGrad: true });
      const t = nk.tensor(rec.t, rec.shape);
      const opts: Record<string, unknown> = { reduction: rec.reduction };
      if (rec.weight) opts.weight = nk.tensor(rec.weight, [4]);
      if (rec.posWeight) opts.posWeight = nk.tensor(rec.posWeight, [4]);
      const loss = rec.kind === 'bce' ? nk.bce(x, t, opts) : nk.bceWithLogits(x, t, opts);
      assertClose(loss.toArray(), rec.loss, { rtol: 1e-5, atol: 1e-5, what: 'loss' });
      loss.mul(nk.tensor(rec.readout, loss.shape)).sum().backward();
      assertClose(x.grad!.toArray(), rec.dx, { rtol: 1e-4, atol: 1e-5, what: 'dx' });
    });
  }

  it('float64 gradient checks and shape errors', () => {
    const t = nk.tensor([1, 0, 1, 1, 0, 0], [2, 3], { dtype: 'float64' });
    gradcheck((x) => nk.bceWithLogits(x, t), [rand64([2, 3], 2)]);
    const p = nk.add(nk.mul(nk.sigmoid(rand64([2, 3])), 0.9), 0.05).detach();
    gradcheck((x) => nk.bce(x, t), [p]);
    assert.throws(
      () => nk.bce(nk.rand([2, 3]), nk.rand([3, 2])),
      /bce: expected target of shape \[2, 3\], got \[3, 2\]/,
    );
  });
});

describe('channel dropout', () => {
  it('Dropout2d zeroes whole channels and scales the rest; identity in eval mode', () => {
    nk.manualSeed(6);
    const d = new nk.nn.Dropout2d(0.5);
    const x = nk.ones([4, 8, 3, 3]);
    const y = d.call(x).toArray();
    let dropped = 0;
    for (let c = 0; c < 32; c++) {
      const ch = y.subarray(c * 9, (c + 1) * 9);
      assert.ok(ch.every((v) => v === ch[0]) && (ch[0] === 0 || ch[0] === 2), `channel ${c}`);
      if (ch[0] === 0) dropped++;
    }
    assert.ok(dropped > 4 && dropped < 28, `${dropped} of 32 channels dropped`);
    d.eval();
    assert.deepEqual(Array.from(d.call(x).toArray()), Array.from(x.toArray()));
    assert.deepEqual(new nk.nn.Dropout2d(0.5).call(nk.ones([8, 2, 2])).shape, [8, 2, 2]);
    assert.throws(
      () => new nk.nn.Dropout2d(0.5).call(nk.ones([8, 2])),
      /Dropout2d\(p=0.5\): expected input \[N, C, H, W\] or \[C, H, W\], got \[8, 2\]/,
    );
  });
});

describe('dropout masks', () => {
  after(() => nk.setBackend('wasm'));
  it('draw uniform() once per element in order, on both backends and for float64, and leave the generator where uniform() would', () => {
    const p = 0.3,
      n = 10007;
    // The reference: the generator's uniform() stream, one draw per element.
    nk.manualSeed(11);
    const expected = Array.from({ length: n }, () => (nk.rng.uniform() < p ? 0 : 1 / (1 - p)));
    const next = nk.rng.nextU32();
    for (const [backend, dtype] of [
      ['wasm', 'float32'],
      ['js', 'float32'],
      ['wasm', 'float64'],
    ] as const) {
      nk.setBackend(backend);
      nk.manualSeed(11);
      const y = nk.dropout(nk.ones([n], { dtype }), p);
      const want = dtype === 'float32' ? Array.from(Float32Array.from(expected)) : expected;
      assert.deepEqual(Array.from(y.data), want, `${backend} ${dtype}`);
      assert.equal(nk.rng.nextU32(), next, `${backend} ${dtype}: the generator's state after`);
    }
  });
});
