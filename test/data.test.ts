import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { data } from '../src/node.js';
import { idxHeader } from './helpers.js';

describe('IDX reader and Fashion-MNIST', () => {
  it('reads the bundled subset: 10,000 training and 10,000 test images', () => {
    const { train, test } = data.loadFashionMnist();
    assert.equal(train.count, 10000);
    assert.equal(test.count, 10000);
    assert.equal(train.images.length, 10000 * 784);
    const counts = new Array(10).fill(0);
    for (const l of test.labels) counts[l]++;
    assert.deepEqual(counts, new Array(10).fill(1000)); // the test set is balanced
    let mean = 0;
    for (const v of train.images) mean += v;
    assert.ok(Math.abs(mean / train.images.length) < 0.05, 'inputs are normalized to mean ~0');
  });

  it('parses plain and gzipped IDX and refuses truncated or corrupt files', () => {
    const raw = Buffer.from([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6]);
    const a = data.parseIdx(raw);
    assert.deepEqual(a.shape, [2, 3]);
    assert.deepEqual(Array.from(a.data), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(data.parseIdx(gzipSync(raw), 'x.gz', gunzipSync).shape, [2, 3]);
    assert.throws(
      () => data.parseIdx(gzipSync(raw), 'x.gz'),
      /x.gz: gzipped; pass a gunzip function/,
    );
    assert.throws(
      () => data.parseIdx(raw.subarray(0, 15), 'x.idx'),
      /x.idx: expected 6 data bytes for shape \[2, 3\], got 3/,
    );
    assert.throws(
      () => data.parseIdx(Buffer.concat([raw, Buffer.from([9])]), 'x.idx'),
      /expected 6 data bytes .* got 7/,
    );
    assert.throws(() => data.parseIdx(raw.subarray(0, 6), 'x.idx'), /truncated header/);
    assert.throws(() => data.parseIdx(Buffer.from([1, 2, 3, 4, 5]), 'x.idx'), /not an IDX file/);
    const gz = gzipSync(raw);
    assert.throws(
      () => data.parseIdx(gz.subarray(0, gz.length - 6), 'x.gz', gunzipSync),
      /x.gz: corrupt gzip stream/,
    );
    assert.equal(data.readIdx(join(data.BUNDLED_DIR, 't10k-labels-idx1-ubyte.gz')).shape[0], 10000);
  });

  it('checks a gzipped header against the expected shape before inflating the rest', () => {
    const header = idxHeader;
    // Counts how much each call may inflate: a refused file never gets a full inflate.
    let largest = 0;
    const spy: data.Gunzip = (b, o) => {
      largest = Math.max(largest, o.maxOutputLength);
      return gunzipSync(b, o);
    };
    const images = { dims: [null, 28, 28] };
    // 2 images declared, 200 MB of zeros inflated: 200 KB of gzip. The trailer is forged to
    // match the declared size, so only the inflate limit stops it.
    const bomb = gzipSync(Buffer.concat([header([2, 28, 28]), Buffer.alloc(200e6)]), { level: 9 });
    assert.ok(bomb.length < 300e3, `${bomb.length} bytes`);
    assert.throws(
      () => data.parseIdx(bomb, 'bomb.gz', spy, images),
      /the IDX header declares 1584 bytes, the gzip trailer 200000016/,
    );
    bomb.writeUInt32LE(16 + 2 * 784, bomb.length - 4);
    largest = 0;
    assert.throws(
      () => data.parseIdx(bomb, 'bomb.gz', spy, images),
      /bomb.gz: inflates past the 1584 bytes its header declares/,
    );
    assert.equal(largest, Math.max(1584, 1032 * 1024));
    // A header that declares more than accepted, or another shape, is refused on the peek.
    const huge = gzipSync(Buffer.concat([header([3_000_000, 28, 28]), Buffer.alloc(1000)]));
    largest = 0;
    assert.throws(
      () => data.parseIdx(huge, 'huge.gz', spy, images),
      /huge.gz: the header declares \[3000000, 28, 28\], 2352000000 bytes, more than the 1073741824 accepted/,
    );
    assert.ok(largest <= 1032 * 1024);
    const other = gzipSync(Buffer.concat([header([2, 3]), Buffer.alloc(6)]));
    assert.throws(
      () => data.parseIdx(other, 'o.gz', spy, images),
      /o.gz: expected shape \[n, 28, 28\], the header declares \[2, 3\]/,
    );
    assert.throws(
      () => data.parseIdx(Buffer.concat([header([2, 3]), Buffer.alloc(6)]), 'o', undefined, images),
      /o: expected shape \[n, 28, 28\]/,
    );
    // A good file whose Huffman tables outgrow the first peek still reads.
    const noisy = Buffer.concat([
      header([40, 28, 28]),
      Buffer.from(Array.from({ length: 40 * 784 }, (_, i) => (i * 7919) % 251)),
    ]);
    assert.deepEqual(
      data.parseIdx(gzipSync(noisy), 'n.gz', gunzipSync, images).shape,
      [40, 28, 28],
    );
  });
});

describe('DataLoader', () => {
  const inputs = Float32Array.from({ length: 10 * 2 }, (_, i) => i);
  const labels = Uint8Array.from({ length: 10 }, (_, i) => i);

  it('batches in order, with and without dropLast', () => {
    const dl = new data.DataLoader(inputs, labels, [2], { batchSize: 4 });
    const batches = [...dl.epoch()];
    assert.equal(dl.length, 3);
    assert.deepEqual(
      batches.map((b) => b.labels.length),
      [4, 4, 2],
    );
    assert.deepEqual(Array.from(batches[2].x.data), [16, 17, 18, 19]);
    assert.deepEqual(batches[0].x.shape, [4, 2]);
    const dropped = new data.DataLoader(inputs, labels, [2], { batchSize: 4, dropLast: true });
    assert.equal([...dropped.epoch()].length, 2);
  });

  it('shuffles reproducibly per seed and epoch, covering every sample once', () => {
    const a = new data.DataLoader(inputs, labels, [2], { batchSize: 3, shuffle: true, seed: 1 });
    const b = new data.DataLoader(inputs, labels, [2], { batchSize: 3, shuffle: true, seed: 1 });
    assert.deepEqual(Array.from(a.order(0)), Array.from(b.order(0)));
    assert.notDeepEqual(Array.from(a.order(0)), Array.from(a.order(1)));
    assert.deepEqual(
      [...a.order(3)].sort((x, y) => x - y),
      [...labels],
    );
    const batch = a.batch(a.order(0), 0);
    const k = a.order(0)[0];
    assert.deepEqual(Array.from(batch.x.data.subarray(0, 2)), [2 * k, 2 * k + 1]);
    assert.equal(batch.labels[0], k);
  });

  it('augments with random crops and flips, seeded by seed, epoch and batch', () => {
    // 6 images [1, 5, 7] of distinct values, so each output pixel says where it came from.
    const imgs = Float32Array.from({ length: 6 * 35 }, (_, i) => i + 1);
    const six = Uint8Array.from({ length: 6 }, (_, i) => i);
    const opts = { batchSize: 3, shuffle: true, seed: 4 };
    const aug = { crop: 2, flip: true, fill: -1 };
    const dl = new data.DataLoader(imgs, six, [1, 5, 7], { ...opts, augment: aug });
    const plain = new data.DataLoader(imgs, six, [1, 5, 7], opts);
    const order = dl.order(0);
    const again = new data.DataLoader(imgs, six, [1, 5, 7], { ...opts, augment: aug });
    assert.deepEqual(
      Array.from(dl.batch(order, 1, 3).x.data),
      Array.from(again.batch(order, 1, 3).x.data),
    );
    assert.notDeepEqual(
      Array.from(dl.batch(order, 1, 3).x.data),
      Array.from(dl.batch(order, 1, 4).x.data),
    );
    const seen = new Set<string>();
    for (let epoch = 0; epoch < 30; epoch++) {
      const got = dl.batch(order, 0, epoch),
        base = plain.batch(order, 0, epoch);
      assert.deepEqual(got.labels, base.labels);
      for (let i = 0; i < 3; i++) {
        const img = base.x.data.subarray(i * 35, (i + 1) * 35),
          out = got.x.data.subarray(i * 35, (i + 1) * 35);
        // Exactly one shift (dy, dx) in [−2, 2]² with or without a mirror explains the item.
        const fits = [];
        for (let dy = -2; dy <= 2; dy++)
          for (let dx = -2; dx <= 2; dx++)
            for (const flip of [false, true]) {
              let ok = true;
              for (let y = 0; y < 5 && ok; y++)
                for (let x = 0; x < 7 && ok; x++) {
                  const sy = y + dy,
                    sx = (flip ? 6 - x : x) + dx;
                  const want = sy >= 0 && sy < 5 && sx >= 0 && sx < 7 ? img[sy * 7 + sx] : -1;
                  ok = out[y * 7 + x] === want;
                }
              if (ok) fits.push(`${dy},${dx},${flip}`);
            }
        assert.equal(fits.length, 1, `item ${i} of epoch ${epoch}: ${fits.join(' | ')}`);
        seen.add(fits[0]);
      }
    }
    // Any seed, epoch and batch (the per-batch seed once came out negative and threw).
    const big = new data.DataLoader(imgs, six, [1, 5, 7], {
      ...opts,
      seed: 1000,
      augment: aug,
    });
    for (let epoch = 0; epoch < 50; epoch++) for (let b = 0; b < 2; b++) big.batch(order, b, epoch);
    // 90 draws from 50 outcomes: both mirrors and shifts in both directions occur.
    assert.ok(
      [...seen].some((f) => f.endsWith('true')) && [...seen].some((f) => f.endsWith('false')),
    );
    assert.ok(
      [...seen].some((f) => f.startsWith('-2')) && [...seen].some((f) => f.startsWith('2')),
    );
    assert.throws(
      () => dl.batch(order, 0),
      /DataLoader.batch: with augment, pass the epoch \(batch\(order, b, epoch\)\)/,
    );
    assert.throws(
      () => new data.DataLoader(inputs, labels, [2], { batchSize: 2, augment: { flip: true } }),
      /augment expects image items \[C, H, W\], got item shape \[2\]/,
    );
    assert.throws(
      () => new data.DataLoader(imgs, six, [1, 5, 7], { batchSize: 2, augment: { crop: 5 } }),
      /expected augment.crop to be an integer from 0 to 4, got 5/,
    );
  });

  it('refuses inconsistent inputs', () => {
    assert.throws(
      () => new data.DataLoader(inputs, labels, [3], { batchSize: 2 }),
      /10 labels but 6.666666666666667 inputs of shape \[3\]/,
    );
    assert.throws(
      () => new data.DataLoader(inputs, labels, [2], { batchSize: 0 }),
      /batchSize to be a positive integer, got 0/,
    );
  });
});
