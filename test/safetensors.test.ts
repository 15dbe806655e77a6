// safetensors: both directions with PyTorch (fixtures by gen_safetensors.py: a file PyTorch
// wrote loads into normkit's model and gives PyTorch's outputs; the file normkit's CLI wrote
// loaded into PyTorch strictly and gave the outputs recorded, and normkit still writes it
// byte for byte), round trips of every dtype, and every malformed header refused clearly.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as nk from '../src/index.js';
import { loadSafetensorsFile, saveSafetensorsFile } from '../src/node.js';
import { buildModel } from '../src/train/models.js';
import { assertClose, fixture, runCli, trainTiny } from './helpers.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));
const fileBytes = (name: string) => new Uint8Array(readFileSync(join(FIXTURES, name)));

/** A file from a header object and data bytes, as the format lays them out. */
function build(header: unknown, data = new Uint8Array(0), headerText?: string): Uint8Array {
  const json = new TextEncoder().encode(headerText ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('safetensors', () => {
  const fx = fixture('safetensors.json');
  const x = () => nk.tensor(fx.x, fx.xShape);

  it('a file PyTorch wrote loads into the same model and gives its outputs', () => {
    const sd = nk.loadSafetensors(fileBytes('torch-cnn.safetensors'));
    assert.equal(sd['1.num_batches_tracked'].item(), 3);
    const m = buildModel({ model: 'cnn', norm: 'batch', width: 8 });
    m.loadStateDict(sd); // strict
    m.eval();
    assertClose(m.call(x()).toArray(), fx.torchToNormkit.output, { rtol: 1e-5, atol: 1e-5 });
  });

  it("the file normkit's CLI exported gives PyTorch's outputs, and is still written byte for byte", () => {
    const bytes = fileBytes('normkit-cnn.safetensors');
    const sd = nk.loadSafetensors(bytes);
    const m = buildModel({ model: 'cnn', norm: 'batch', width: 8 });
    m.loadStateDict(sd);
    m.eval();
    assertClose(m.call(x()).toArray(), fx.normkitToTorch.output, { rtol: 1e-5, atol: 1e-5 });
    assert.equal(
      m.stateDict()['1.num_batches_tracked'].item(),
      fx.normkitToTorch.numBatchesTracked,
    );
    assert.deepEqual(nk.safetensorsMetadata(bytes), fx.normkitToTorch.metadata);
    const again = nk.saveSafetensors(m.stateDict(), { metadata: fx.normkitToTorch.metadata });
    assert.deepEqual(Buffer.from(again), Buffer.from(bytes));
  });

  it('round trip: float32, float64, int64 counters, scalars and empty tensors; aligned header', () => {
    const sd = {
      a: nk.randn([3, 5]),
      b: nk.randn([2], { dtype: 'float64' }),
      'bn.num_batches_tracked': nk.scalar(123456789012, { dtype: 'float64' }),
      s: nk.scalar(-2.5),
      empty: nk.zeros([0, 4]),
    };
    const bytes = nk.saveSafetensors(sd, { metadata: { who: 'test' } });
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal(headerLen % 8, 0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
    assert.equal(header['bn.num_batches_tracked'].dtype, 'I64');
    assert.equal(header.b.dtype, 'F64');
    const back = nk.loadSafetensors(bytes);
    for (const [k, t] of Object.entries(sd)) {
      assert.deepEqual(back[k].shape, t.shape, k);
      assert.equal(back[k].dtype, k === 'bn.num_batches_tracked' ? 'float64' : t.dtype, k);
      assert.deepEqual(Array.from(back[k].data), Array.from(t.data), k);
    }
    assert.deepEqual(nk.safetensorsMetadata(bytes), { who: 'test' });
    assert.throws(
      () => nk.saveSafetensors({ 'x.num_batches_tracked': nk.scalar(0.5) }),
      /x.num_batches_tracked: int64 key holds 0.5, not an integer/,
    );
  });

  it('float16 and bfloat16 read exactly as float32', () => {
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7c00, 0x3555]);
    const bf16 = new Uint16Array([0x3f80, 0xc040, 0x0000, 0xff80]);
    const data = new Uint8Array(18);
    data.set(new Uint8Array(f16.buffer), 0);
    data.set(new Uint8Array(bf16.buffer), 10);
    const sd = nk.loadSafetensors(
      build(
        {
          h: { dtype: 'F16', shape: [5], data_offsets: [0, 10] },
          b: { dtype: 'BF16', shape: [2, 2], data_offsets: [10, 18] },
        },
        data,
      ),
    );
    assert.deepEqual(Array.from(sd.h.data), [
      1,
      -2,
      2 ** -24,
      Infinity,
      Math.fround(0.333251953125),
    ]);
    assert.deepEqual(Array.from(sd.b.data), [1, -3, 0, -Infinity]);
  });

  it('malformed files are refused, naming what is wrong', () => {
    const f32 = (n: number) => new Uint8Array(4 * n);
    const entry = (dtype: string, shape: number[], offs: number[]) => ({
      dtype,
      shape,
      data_offsets: offs,
    });
    const cases: [Uint8Array, RegExp][] = [
      [new Uint8Array(5), /truncated: 5 bytes, but the header length alone takes 8/],
      [build({}).subarray(0, 9), /truncated: the header claims 2 bytes, the file has 1/],
      [build(null, f32(0), '{"a": '), /the header is not valid UTF-8 JSON/],
      [build([1, 2]), /the header must be a JSON object, got an array/],
      [
        build({ a: entry('I8', [2], [0, 2]) }, new Uint8Array(2)),
        /a: dtype "I8" is not one normkit reads/,
      ],
      [
        build({ a: entry('F32', [2, -1], [0, 8]) }, f32(2)),
        /a: shape \[2,-1\] is not a list of non-negative integers/,
      ],
      [
        build({ a: entry('F32', [2], [8, 0]) }, f32(2)),
        /a: data_offsets \[8,0\] is not \[begin, end\]/,
      ],
      [
        build({ a: entry('F32', [3], [0, 12]) }, f32(2)),
        /a: data_offsets \[0, 12\] run past the data \(8 bytes\): truncated\?/,
      ],
      [
        build({ a: entry('F32', [3], [0, 8]) }, f32(2)),
        /a: F32 \[3\] needs 12 bytes, data_offsets \[0, 8\] hold 8/,
      ],
      [
        build({ a: entry('F32', [2], [0, 8]), b: entry('F32', [1], [4, 8]) }, f32(2)),
        /b: data_offsets \[4, 8\] overlap another tensor's bytes/,
      ],
      [
        build({ a: entry('F32', [1], [4, 8]) }, f32(2)),
        /a: data_offsets \[4, 8\] leave bytes \[0, 4\) unused/,
      ],
      [build({ a: entry('F32', [1], [0, 4]) }, f32(2)), /the tensors cover 4 of the 8 data bytes/],
      [build({ __metadata__: { v: 1 } }), /__metadata__.v: expected a string, got 1/],
      [
        build(
          { a: entry('I64', [1], [0, 8]) },
          new Uint8Array(new BigInt64Array([2n ** 60n]).buffer),
        ),
        /a: int64 value 1152921504606846976 at 0 is beyond 2\^53/,
      ],
    ];
    for (const [bytes, re] of cases) assert.throws(() => nk.loadSafetensors(bytes), re);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 2n ** 40n, true);
    assert.throws(
      () => nk.loadSafetensors(huge),
      /the header claims 1099511627776 bytes, more than the 100 MB limit/,
    );
  });

  it('files in Node: written atomically, read back, errors name the file; normkit export', () => {
    const dir = mkdtempSync(join(tmpdir(), 'normkit-st-'));
    const path = join(dir, 'm.safetensors');
    const sd = { w: nk.randn([4, 3]) };
    saveSafetensorsFile(path, sd);
    assert.deepEqual(Array.from(loadSafetensorsFile(path).w.data), Array.from(sd.w.data));
    writeFileSync(join(dir, 'bad.safetensors'), Buffer.alloc(3));
    assert.throws(
      () => loadSafetensorsFile(join(dir, 'bad.safetensors')),
      /bad\.safetensors: loadSafetensors: truncated/,
    );

    const ckpt = join(dir, 'c.ckpt');
    const t = trainTiny(ckpt, 'mlp', 16);
    assert.equal(t.status, 0, t.stderr);
    const out = join(dir, 'mlp.safetensors');
    const e = runCli('export', '--checkpoint', ckpt, '--safetensors', out);
    assert.equal(e.status, 0, e.stderr);
    assert.match(e.stdout, /mlp\.safetensors: \d+ tensors of the mlp\/batch model/);
    const m = buildModel({ model: 'mlp', norm: 'batch', width: 16 });
    m.loadStateDict(loadSafetensorsFile(out));
    const none = runCli('export', '--checkpoint', ckpt);
    assert.notEqual(none.status, 0);
    assert.match(none.stderr, /export: name an output, e.g. --safetensors model.safetensors/);
  });
});
