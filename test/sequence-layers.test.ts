// Embedding and Conv1d against PyTorch (fixtures from gen_sequence_layers.py), and their
// errors.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { assertClose, checkLayerRecord, fixture } from './helpers.js';

const { nn } = nk;
const close = { rtol: 1e-5, atol: 1e-5 };

describe('Embedding and Conv1d', () => {
  for (const [i, rec] of fixture('sequence_layers.json').entries()) {
    it(`${rec.kind} ${JSON.stringify(rec.args)} ${JSON.stringify(rec.options ?? { paddingIdx: rec.paddingIdx })} matches PyTorch (${i})`, () => {
      if (rec.kind === 'embedding') {
        const m = new nn.Embedding(rec.args[0], rec.args[1], { paddingIdx: rec.paddingIdx });
        if (rec.paddingIdx !== null) {
          const row = (rec.paddingIdx + rec.args[0]) % rec.args[0];
          assert.deepEqual(
            Array.from(m.weight.data.subarray(row * rec.args[1], (row + 1) * rec.args[1])),
            new Array(rec.args[1]).fill(0),
          );
        }
        m.weight.data.set(rec.weight);
        const idx = nk.tensor(rec.indices.flat(), rec.indicesShape);
        const y = m.call(idx);
        assert.deepEqual(y.shape, [...rec.indicesShape, rec.args[1]]);
        y.mul(nk.tensor(rec.w, y.shape)).sum().backward();
        assertClose(y.toArray(), rec.y, { ...close, what: 'y' });
        assertClose(m.weight.grad!.toArray(), rec.dweight, { ...close, what: 'dweight' });
        return;
      }
      const o = rec.options;
      const m = new nn.Conv1d(rec.args[0], rec.args[1], rec.args[2], o);
      checkLayerRecord(m, rec, close);
      assert.deepEqual(m.weight.shape, rec.weightShape);
    });
  }

  it('bad indices, sizes and inputs are refused, naming the layer', () => {
    const e = new nn.Embedding(5, 3, { paddingIdx: 0 });
    assert.throws(
      () => e.call(nk.tensor([1, 5])),
      /Embedding\(5, 3, paddingIdx=0\): expected integer indices in \[0, 4\], got 5 at flat position 1 of indices \[2\]/,
    );
    assert.throws(() => e.call(nk.tensor([1.5])), /got 1.5 at flat position 0/);
    assert.throws(
      () => new nn.Embedding(5, 0),
      /Embedding: expected numEmbeddings and embeddingDim of positive integers, got \[5, 0\]/,
    );
    assert.throws(
      () => new nn.Embedding(5, 3, { paddingIdx: 5 }),
      /expected paddingIdx in \[-5, 4\], got 5/,
    );
    const c = new nn.Conv1d(3, 4, 3);
    assert.throws(
      () => c.call(nk.randn([2, 4, 9])),
      /Conv1d\(3, 4, 3\): expected input \[N, 3, L\], got \[2, 4, 9\]/,
    );
    assert.throws(() => new nn.Conv1d(3, 4, 3, { groups: 2 }), /must be divisible by groups 2/);
  });

  it('spectral norm applies to an Embedding (rows as the matrix rows)', () => {
    nk.manualSeed(4);
    const e = nn.spectralNorm(new nn.Embedding(6, 4));
    const y = e.call(nk.tensor([0, 5, 2]));
    assert.deepEqual(y.shape, [3, 4]);
    assert.deepEqual(Object.keys(e.stateDict()).sort(), ['weight_orig', 'weight_u', 'weight_v']);
  });
});
