import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { decodeCheckpoint, loadCheckpoint, saveCheckpoint } from '../src/io/checkpoint.js';
import { runTrain } from '../src/cli/train.js';
import { readRun, saveRun } from '../src/train/session.js';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';

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

  it('no single-bit flip anywhere loads: header, payload and checksum are all covered', () => {
    nk.manualSeed(4);
    const model = new nk.nn.Sequential(new nk.nn.Linear(4, 3), new nk.nn.BatchNorm1d(3));
    const opt = new nk.optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
    nk.tidy(() => {
      nk.crossEntropy(model.call(nk.randn([6, 4])), new Uint8Array([0, 1, 2, 0, 1, 2])).backward();
      opt.step();
    });
    const p = join(dir, 'flip.ckpt');
    saveRun(p, model, opt, {
      config: { model: 'mlp', norm: 'batch', width: 3 },
      epochsDone: 1,
      history: [],
    });
    const buf = readFileSync(p);
    const headerEnd = 'NORMKIT-CHECKPOINT\n'.length + 4 + buf.readUInt32LE(19);
    const bits: number[] = [];
    for (let bit = 0; bit < headerEnd * 8; bit++) bits.push(bit); // every header bit
    for (let bit = (buf.length - 32) * 8; bit < buf.length * 8; bit++) bits.push(bit); // digest
    const g = new nk.Generator(9);
    for (let i = 0; i < 2000; i++)
      bits.push(headerEnd * 8 + g.int((buf.length - 32 - headerEnd) * 8));
    let refused = 0;
    for (const bit of bits) {
      const f = Buffer.from(buf);
      f[bit >> 3] ^= 1 << (bit & 7);
      try {
        decodeCheckpoint(f, 'flip.ckpt');
      } catch {
        refused++;
      }
    }
    assert.equal(refused, bits.length, `${bits.length - refused} of ${bits.length} flips loaded`);
    assert.ok(headerEnd * 8 > 3000, `${headerEnd * 8} header bits`);
  });

  it('a tensor table that does not match the payload is refused, even under a valid checksum', () => {
    const p = join(dir, 'table.ckpt');
    saveCheckpoint(
      p,
      {
        a: { shape: [2, 2], dtype: 'float32', data: Float32Array.from([1, 2, 3, 4]) },
        b: { shape: [2], dtype: 'float32', data: Float32Array.from([5, 6]) },
      },
      {},
    );
    const buf = readFileSync(p);
    const hlen = buf.readUInt32LE(19);
    const header = JSON.parse(buf.subarray(23, 23 + hlen).toString());
    const payload = buf.subarray(23 + hlen, buf.length - 32);
    const forge = (edit: (h: any) => void, version = 2) => {
      const h = structuredClone(header);
      h.version = version;
      edit(h);
      const json = Buffer.from(JSON.stringify(h));
      const len = Buffer.alloc(4);
      len.writeUInt32LE(json.length);
      const body = Buffer.concat([buf.subarray(0, 19), len, json, payload]);
      if (version === 1) return body;
      return Buffer.concat([body, createHash('sha256').update(body).digest()]);
    };
    assert.deepEqual(
      Array.from(
        decodeCheckpoint(
          forge(() => {}),
          't',
        ).arrays.b.data,
      ),
      [5, 6],
    );
    const cases: [(h: any) => void, RegExp][] = [
      [
        (h) => (h.entries[0].offset = 4),
        /entry 0: a \[2,2\] float32 should be 16 bytes at 0, table says 16 at 4/,
      ],
      [
        (h) => (h.entries[1].bytes = 4),
        /entry 1: b \[2\] float32 should be 8 bytes at 16, table says 4 at 16/,
      ],
      [(h) => (h.entries[0].dtype = 'float64'), /entry 0: a \[2,2\] float64 should be 32 bytes/],
      [(h) => (h.entries[0].dtype = 'int8'), /entry 0: a: dtype "int8"/],
      [(h) => (h.entries[0].shape = [4, 1]), null as unknown as RegExp],
      [(h) => (h.entries[1].shape = [3]), /entry 1: b \[3\] float32 should be 12 bytes/],
      [(h) => (h.entries[0].shape = [-2, -2]), /entry 0: a: shape \[-2,-2\]/],
      [(h) => (h.entries[1].key = 'a'), /entry 1: key "a"/],
      [(h) => h.entries.pop(), /entries cover 16 of 24 payload bytes/],
      [(h) => (h.entries = 'x'), /no tensor table/],
    ];
    for (const [edit, err] of cases) {
      if (err === null) {
        // A reshape that keeps the size is consistent: it loads with the shape it states.
        assert.deepEqual(decodeCheckpoint(forge(edit), 't').arrays.a.shape, [4, 1]);
        continue;
      }
      assert.throws(() => decodeCheckpoint(forge(edit), 't'), err);
      assert.throws(() => decodeCheckpoint(forge(edit, 1), 't'), err); // version 1 files too
    }
    // Version 1 files (no whole-file checksum) still load.
    assert.deepEqual(
      Array.from(
        decodeCheckpoint(
          forge(() => {}, 1),
          't',
        ).arrays.a.data,
      ),
      [1, 2, 3, 4],
    );
  });

  it('saving removes temporary files of killed writes, not those of running writers', () => {
    const p = join(dir, 'stale.ckpt');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(`${p}.tmp-${dead}`, 'partial');
    writeFileSync(`${p}.tmp-${process.ppid}`, 'in progress');
    saveCheckpoint(p, { w: { shape: [1], dtype: 'float32', data: Float32Array.from([1]) } }, {});
    const left = readdirSync(dir).filter((f) => f.startsWith('stale.ckpt.tmp-'));
    assert.deepEqual(left, [`stale.ckpt.tmp-${process.ppid}`]);
  });

  it('a failed loadStateDict writes nothing, whichever entry is bad', () => {
    const m = new nk.nn.Sequential(new nk.nn.Linear(2, 2), new nk.nn.BatchNorm1d(2));
    const before = Object.fromEntries(
      Object.entries(m.stateDict()).map(([k, t]) => [k, Array.from(t.data)]),
    );
    const good = () =>
      Object.fromEntries(
        Object.entries(m.stateDict()).map(([k, t]) => [k, nk.full(t.shape, 9, { dtype: t.dtype })]),
      );
    const disposed = nk.zeros([2]);
    disposed.dispose();
    const bad: [unknown, RegExp][] = [
      [disposed, /1\.running_var: the tensor \[2\] was disposed/],
      [null, /1\.running_var: expected a Tensor, got null/],
      [[0, 0], /1\.running_var: expected a Tensor, got an array/],
    ];
    for (const [value, err] of bad) {
      const sd: Record<string, any> = good();
      sd['1.running_var'] = value; // a later key than the ones a partial load would write
      assert.throws(() => m.loadStateDict(sd), err);
      for (const [k, t] of Object.entries(m.stateDict()))
        assert.deepEqual(Array.from(t.data), before[k], k);
    }
  });

  it('train refuses a resume with another optimizer and a checkpoint path that is a directory, before training', () => {
    const base = {
      model: 'mlp' as const,
      norm: 'batch' as const,
      width: 8,
      batchSize: 32,
      epochs: 2,
      optimizer: 'sgd' as const,
      weightDecay: 0,
      seed: 1,
      trainLimit: 64,
      testLimit: 32,
    };
    let epochs = 0;
    const reporter = { epochStart: () => void epochs++ };
    const p = join(dir, 'opt.ckpt');
    runTrain({ ...base, checkpoint: p, resume: false, stopAfter: 1, reporter });
    const saved = readFileSync(p);
    epochs = 0;
    assert.throws(
      () => runTrain({ ...base, optimizer: 'adam', checkpoint: p, resume: true, reporter }),
      /--resume: .*opt\.ckpt was trained with --optimizer sgd, asked for adam; resume with --optimizer sgd/,
    );
    assert.throws(
      () => runTrain({ ...base, checkpoint: dir, resume: false, reporter }),
      /--checkpoint .* is a directory; give a file path/,
    );
    assert.equal(epochs, 0);
    assert.deepEqual(readFileSync(p), saved);
  });
});
