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

  it('a failed allocation throws the out-of-memory error and changes nothing', () => {
    const a = nk.ones([1000]);
    const before = nk.memoryStats();
    assert.throws(
      () => nk.zeros([2 ** 31]),
      (e: Error) =>
        e.name === 'OutOfMemoryError' &&
        /tensor \[2147483648\] float32: out of tensor memory: requested 8\.00 GiB, [\d.]+ MiB in use in \d+ tensors, [\d.]+ MiB reserved, limit 4\.00 GiB\. One tensor this large cannot fit/.test(
          e.message,
        ),
    );
    assert.deepEqual(nk.memoryStats(), before);
    const b = nk.full([1000], 7); // the allocator still works
    assert.equal(b.data[999], 7);
    assert.equal(a.data[0], 1);
    nk.dispose([a, b]);
  });

  it('freed blocks coalesce: memory filled with 64 MiB tensors and freed takes any size that fits', () => {
    const start = nk.memoryStats();
    nk.setMemoryLimit(start.bytesReserved + 256 * 2 ** 20);
    try {
      const blocks: nk.Tensor[] = [];
      const quarter = (64 * 2 ** 20) / 4;
      assert.throws(() => {
        for (;;) blocks.push(nk.empty([quarter]));
      }, /out of tensor memory: requested 64\.0 MiB, .* limit [\d.]+ MiB\. .*tidy\(/);
      assert.ok(blocks.length >= 3, `${blocks.length} blocks of 64 MiB`);
      const full = nk.memoryStats();
      nk.dispose(blocks);
      assert.equal(nk.memoryStats().bytesInUse, start.bytesInUse);
      // Sizes that no freed block has, each fitting only in merged free space.
      const big = nk.empty([(150 * 2 ** 20) / 4]);
      const small = nk.empty([(30 * 2 ** 20) / 4 + 3]);
      const odd = nk.empty([12345]);
      assert.ok(nk.memoryStats().bytesReserved <= full.bytesReserved);
      nk.dispose([big, small, odd]);
      const again = nk.empty([(190 * 2 ** 20) / 4]);
      again.dispose();
    } finally {
      nk.setMemoryLimit(4 * 2 ** 30);
    }
    assert.throws(() => nk.setMemoryLimit(NaN), /setMemoryLimit: expected a positive number/);
  });

  it('assigning .grad frees the gradient it replaces (keep a copy with clone())', () => {
    const p = nk.randn([256, 256], { requiresGrad: true });
    p.mul(2).sum().backward();
    const g = p.grad!;
    const copy = g.clone();
    const inUse = nk.memoryStats().bytesInUse;
    p.grad = null;
    assert.equal(nk.memoryStats().bytesInUse, inUse - 256 * 256 * 4);
    assert.ok(g.isDisposed);
    assert.equal(copy.data[0], 2);
    p.mul(3).sum().backward();
    const second = p.grad!;
    p.grad = second; // the same tensor again: kept
    assert.ok(!second.isDisposed);
    p.grad = copy; // another tensor: the old one is freed
    assert.ok(second.isDisposed);
    assert.equal(p.grad.data[5], 2);
    const wrong = nk.zeros([256]);
    assert.throws(
      () => (p.grad = wrong),
      /grad: assigned \[256\] float32 to a \[256, 256\] float32 tensor/,
    );
    assert.equal(p.grad, copy); // a refused assignment changes nothing
    wrong.dispose();
    nk.dispose([p, copy]);
  });

  it('a leaf made inside tidy() takes its gradient with it (and dispose() frees both)', () => {
    const x0 = nk.randn([64, 1024]);
    const before = nk.memoryStats().bytesInUse;
    for (let step = 0; step < 5; step++) {
      nk.tidy(() => {
        const x = nk.clone(x0);
        x.requiresGrad = true;
        nk.relu(x).sum().backward();
        assert.equal(x.grad!.size, 64 * 1024);
      });
      assert.equal(nk.memoryStats().bytesInUse, before, `step ${step}`);
    }
    const p = nk.randn([256], { requiresGrad: true });
    p.mul(2).sum().backward();
    const g = p.grad!;
    p.dispose();
    assert.ok(g.isDisposed, 'the gradient went with its tensor');
    x0.dispose();
  });

  it('a PyTorch-style loop that sets x.grad = null instead of disposing holds memory flat', () => {
    const bn = new nk.nn.BatchNorm2d(8);
    const x = nk.randn([4, 8, 16, 16], { requiresGrad: true });
    let after10 = 0;
    for (let step = 0; step < 60; step++) {
      nk.tidy(() => {
        const y = bn.call(x);
        y.mul(y).sum().backward();
      });
      x.grad = null;
      for (const p of bn.parameters()) p.grad = null;
      if (step === 9) after10 = nk.memoryStats().bytesInUse;
    }
    assert.equal(nk.memoryStats().bytesInUse, after10);
  });
});
