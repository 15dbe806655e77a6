import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { decodeCheckpoint, loadCheckpoint, saveCheckpoint } from '../src/io/checkpoint.js';
import { runTrain } from '../src/cli/train.js';
import { readRun } from '../src/train/session.js';

const dir = mkdtempSync(join(tmpdir(), 'normkit-ckpt-'));

describe('checkpoints', () => {
  it('round-trip arrays and metadata', () => {
    const p = join(dir, 'a.ckpt');
    saveCheckpoint(
      p,
      {
        w: { shape: [2, 2], dtype: 'float32', data: Float32Array.from([1, 2, 3, 4]) },
        d: { shape: [1], dtype: 'float64', data: Float64Array.from([0.1]) },
      },
      { hello: 'world' },
    );
    const { arrays, meta } = loadCheckpoint(p);
    assert.deepEqual(meta, { hello: 'world' });
    assert.deepEqual(Array.from(arrays.w.data), [1, 2, 3, 4]);
    assert.equal(arrays.d.data[0], 0.1);
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('.tmp-')),
      [],
    );
  });

  it('refuse truncated, corrupt and foreign files', () => {
    const p = join(dir, 'b.ckpt');
    saveCheckpoint(
      p,
      { w: { shape: [3], dtype: 'float32', data: Float32Array.from([1, 2, 3]) } },
      {},
    );
    const buf = readFileSync(p);
    assert.throws(
      () => decodeCheckpoint(buf.subarray(0, buf.length - 4), 'b.ckpt'),
      /b.ckpt: corrupt or truncated: the file checksum does not match/,
    );
    const flipped = Buffer.from(buf);
    flipped[flipped.length - 1] ^= 0xff;
    assert.throws(
      () => decodeCheckpoint(flipped, 'b.ckpt'),
      /corrupt or truncated: the file checksum does not match/,
    );
    assert.throws(
      () => decodeCheckpoint(Buffer.from('hello world, not a checkpoint'), 'c'),
      /not a normkit checkpoint/,
    );
    assert.throws(
      () => decodeCheckpoint(buf.subarray(0, 30), 'b.ckpt'),
      /truncated or corrupt header/,
    );
  });

  it('an interrupted write leaves the previous checkpoint intact', () => {
    const p = join(dir, 'c.ckpt');
    saveCheckpoint(
      p,
      { w: { shape: [1], dtype: 'float32', data: Float32Array.from([7]) } },
      { v: 1 },
    );
    // A failing write (meta that cannot be serialized) must not touch the old file.
    const cyclic: any = {};
    cyclic.self = cyclic;
    assert.throws(() =>
      saveCheckpoint(
        p,
        { w: { shape: [1], dtype: 'float32', data: Float32Array.from([8]) } },
        cyclic,
      ),
    );
    assert.deepEqual(loadCheckpoint(p).meta, { v: 1 });
    // A stale temporary file from a crashed writer is ignored by readers.
    writeFileSync(`${p}.tmp-99999`, 'partial');
    assert.equal(loadCheckpoint(p).arrays.w.data[0], 7);
  });

  it('resume continues where a run stopped, bit for bit', () => {
    const base = {
      model: 'mlp' as const,
      norm: 'batch' as const,
      width: 32,
      batchSize: 32,
      epochs: 3,
      optimizer: 'adam' as const,
      weightDecay: 1e-4,
      seed: 3,
      trainLimit: 256,
      testLimit: 200,
      reporter: {},
    };
    const straight = join(dir, 'straight.ckpt'),
      resumed = join(dir, 'resumed.ckpt');
    const h1 = runTrain({ ...base, checkpoint: straight, resume: false });
    runTrain({ ...base, checkpoint: resumed, resume: false, stopAfter: 1 });
    assert.equal(readRun(resumed).meta.epochsDone, 1);
    nk.manualSeed(12345); // a different global state must not matter: resume restores it
    const h2 = runTrain({ ...base, checkpoint: resumed, resume: true });
    assert.deepEqual(
      h2.map((h) => h.testAccuracy),
      h1.map((h) => h.testAccuracy),
    );
    const a = readRun(straight).arrays,
      b = readRun(resumed).arrays;
    assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
    for (const k of Object.keys(a))
      assert.deepEqual(Array.from(b[k].data), Array.from(a[k].data), k);
    assert.ok(existsSync(resumed));
  });
});
