// Loops written as in PyTorch, with no tidy(): tensors dropped without dispose() are freed
// once the event loop turns (a FinalizationRegistry), and a synchronous loop whose memory
// grows at every step gets one warning, which the out-of-memory error repeats.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';

const MiB = 2 ** 20;

function smallModel() {
  nk.manualSeed(3);
  return new nk.nn.Sequential(
    new nk.nn.Conv2d(1, 8, 3, { padding: 1 }),
    new nk.nn.BatchNorm2d(8),
    new nk.nn.ReLU(),
    new nk.nn.Flatten(),
    new nk.nn.Linear(8 * 16 * 16, 4),
  );
}

function warningsDuring<T>(fn: () => Promise<T>): Promise<{ result: T; warnings: Error[] }> {
  const warnings: Error[] = [];
  const on = (w: Error) => warnings.push(w);
  process.on('warning', on);
  return fn().then(async (result) => {
    await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    process.off('warning', on);
    return { result, warnings: warnings.filter((w) => /normkit/.test(w.message)) };
  });
}

describe('memory without tidy()', () => {
  it('a loop that awaits between steps stays bounded over 5,000 steps', async () => {
    const model = smallModel();
    const opt = new nk.optim.SGD(model.parameters(), { lr: 0.01 });
    const labels = Uint8Array.from({ length: 16 }, (_, i) => i % 4);
    const start = nk.memoryStats();
    let perStep = 0;
    let peak = 0;
    for (let step = 0; step < 5000; step++) {
      const before = nk.memoryStats().bytesInUse;
      const x = nk.randn([16, 1, 16, 16]);
      const loss = nk.crossEntropy(model.call(x), labels);
      opt.zeroGrad();
      loss.backward();
      opt.step();
      if (step === 1) perStep = nk.memoryStats().bytesInUse - before;
      peak = Math.max(peak, nk.memoryStats().bytesReserved);
      await new Promise((r) => setImmediate(r)); // as a data loop's I/O would
    }
    // Without the safety net this loop would hold 5,000 steps' tensors (perStep each).
    assert.ok(perStep * 5000 > 1000 * MiB, `${perStep} bytes a step`);
    const grew = peak - start.bytesReserved;
    assert.ok(grew < 256 * MiB, `reserved grew by ${(grew / MiB).toFixed(1)} MiB`);
  });

  it('a synchronous loop that grows gets one warning (silenceable), and the OOM error says why', async () => {
    const model = smallModel();
    const labels = new Uint8Array([0, 1, 2, 3]);
    const step = () => {
      const x = nk.randn([4, 1, 16, 16]);
      nk.crossEntropy(model.call(x), labels).backward();
      return nk.empty([MiB / 4]); // 1 MiB a step, dropped without dispose()
    };
    nk.setMemoryWarnings(false);
    const silent = await warningsDuring(async () => {
      for (let i = 0; i < 30; i++) step();
    });
    assert.equal(silent.warnings.length, 0);
    nk.setMemoryWarnings(true);
    const loud = await warningsDuring(async () => {
      for (let i = 0; i < 60; i++) step();
      const limit = nk.memoryStats().bytesReserved + 4 * MiB;
      nk.setMemoryLimit(limit);
      try {
        return assert.throws(() => {
          for (let i = 0; i < 10; i++) step();
        }, /out of tensor memory: .* Memory grew by 1\.\d MiB at each of the last 20 backward\(\) calls\. Run each step inside tidy\(/);
      } finally {
        nk.setMemoryLimit(4 * 2 ** 30);
      }
    });
    assert.equal(loud.warnings.length, 1);
    assert.match(
      loud.warnings[0].message,
      /tensor memory grew by 1\.\d MiB per step over the last 20 backward\(\) calls .* never lets the event loop turn.*tidy\(\(\) => \{ \.\.\. \}\).*setMemoryWarnings\(false\)/,
    );
  });
});
