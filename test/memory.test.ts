import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { trainStep } from '../src/train/loop.js';

describe('memory', () => {
  it('tidy frees everything but the result and kept tensors', () => {
    const before = nk.memoryStats().liveBlocks;
    let kept: nk.Tensor | null = null;
    const out = nk.tidy(() => {
      const a = nk.ones([100]);
      kept = nk.keep(a.mul(2));
      a.add(1);
      return a.mul(3);
    });
    assert.equal(nk.memoryStats().liveBlocks, before + 2);
    assert.equal(out.data[0], 3);
    assert.equal(kept!.data[0], 2);
    nk.dispose([out, kept]);
    assert.equal(nk.memoryStats().liveBlocks, before);
  });

  it('a disposed tensor throws on use; reshaped views keep the storage alive', () => {
    const a = nk.tensor([1, 2, 3, 4], [2, 2]);
    const v = a.reshape([4]);
    a.dispose();
    assert.deepEqual(Array.from(v.data), [1, 2, 3, 4]);
    assert.throws(() => a.data, /Tensor \[2, 2\] \(id \d+\) was disposed and cannot be used/);
    assert.throws(() => nk.add(a, 1), /add: a \[2, 2\] was disposed/);
    v.dispose();
  });

  it('tensor views stay valid when the memory grows', () => {
    const a = nk.tensor([1, 2, 3]);
    const view = a.data;
    const big = nk.zeros([64 * 1024 * 1024]); // 256 MiB forces growth
    assert.deepEqual(Array.from(view), [1, 2, 3]);
    assert.deepEqual(Array.from(a.data), [1, 2, 3]);
    big.dispose();
    a.dispose();
  });

  it('10,000 training steps of a small model hold memory flat', () => {
    nk.manualSeed(0);
    const model = new nk.nn.Sequential(
      new nk.nn.Conv2d(1, 4, 3, { padding: 1 }),
      new nk.nn.BatchNorm2d(4),
      new nk.nn.ReLU(),
      new nk.nn.MaxPool2d(2),
      new nk.nn.Flatten(),
      new nk.nn.Linear(16, 3),
      new nk.nn.BatchNorm1d(3),
    );
    const opt = new nk.optim.Adam(model.parameters(), { lr: 1e-3 });
    const labels = new Uint8Array([0, 1, 2, 1]);
    let afterWarmup = { bytesInUse: 0, bytesReserved: 0, liveBlocks: 0 };
    for (let step = 0; step < 10000; step++) {
      nk.tidy(() => trainStep(model, opt, nk.randn([4, 1, 4, 4]), labels));
      if (step === 9) afterWarmup = nk.memoryStats();
    }
    const end = nk.memoryStats();
    assert.equal(end.liveBlocks, afterWarmup.liveBlocks);
    assert.equal(end.bytesInUse, afterWarmup.bytesInUse);
    assert.equal(end.bytesReserved, afterWarmup.bytesReserved);
  });
});
