import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { data } from '../src/node.js';
import { trainEpoch } from '../src/train/loop.js';

describe('trainEpoch', () => {
  it('trains on the label-smoothed loss when asked (crossEntropy labelSmoothing)', () => {
    nk.manualSeed(3);
    const inputs = Float32Array.from(nk.randn([12, 5]).data);
    const labels = Uint8Array.from({ length: 12 }, (_, i) => i % 4);
    const loader = new data.DataLoader(inputs, labels, [5], { batchSize: 12 });
    const model = new nk.nn.Linear(5, 4);
    const x = nk.tensor(inputs, [12, 5]);
    const expected = (s: number) =>
      nk.noGrad(() => nk.crossEntropy(model.call(x), labels, { labelSmoothing: s }).item());
    // lr 0: the step changes nothing, so the epoch's loss is the loss of this one batch.
    const opt = new nk.optim.SGD(model.parameters(), { lr: 0 });
    const plain = trainEpoch(model, opt, loader, 1);
    const smoothed = trainEpoch(model, opt, loader, 1, { labelSmoothing: 0.3 });
    assert.ok(Math.abs(plain.loss - expected(0)) < 1e-6, `${plain.loss} vs ${expected(0)}`);
    assert.ok(Math.abs(smoothed.loss - expected(0.3)) < 1e-6);
    assert.ok(Math.abs(smoothed.loss - plain.loss) > 1e-3);
  });
});
