// The DCGAN: a few steps with every discriminator norm, samples as a valid PNG grid, the CLI.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { data } from '../src/node.js';
import { DISC_NORMS, pngGrid, sampleImages, trainGan } from '../src/train/gan.js';
import * as nk from '../src/index.js';
import { runCli } from './helpers.js';

describe('DCGAN', () => {
  it('trains a few steps with every discriminator norm; finite losses, scores in (0, 1)', () => {
    const { train } = data.loadFashionMnist(undefined, { trainLimit: 64, testLimit: 1 });
    for (const discNorm of DISC_NORMS) {
      const { generator, history } = trainGan(train, {
        discNorm,
        steps: 3,
        batchSize: 16,
        seed: 1,
      });
      assert.equal(history.length, 3);
      for (const h of history) {
        assert.ok(Number.isFinite(h.lossD) && Number.isFinite(h.lossG), discNorm);
        assert.ok(
          h.realScore > 0 && h.realScore < 1 && h.fakeScore > 0 && h.fakeScore < 1,
          discNorm,
        );
      }
      assert.ok(!generator.training);
      const s = sampleImages(generator, 4);
      assert.deepEqual(s.shape, [4, 1, 28, 28]);
      assert.ok(s.toArray().every((v) => v >= 0 && v <= 1));
    }
    assert.throws(
      () => trainGan(train, { discNorm: 'group' as never, steps: 1, batchSize: 16, seed: 0 }),
      /gan: expected --disc-norm batch \| spectral \| layer \| none, got group/,
    );
  });

  it('writes samples as an 8-bit grayscale PNG whose pixels are the images', () => {
    const img = nk.tensor(
      Array.from({ length: 2 * 784 }, (_, i) => (i % 784) / 783),
      [2, 1, 28, 28],
    );
    const png = pngGrid(img, 2);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.equal(png.readUInt32BE(16), 56); // width
    assert.equal(png.readUInt32BE(20), 28); // height
    const idatLen = png.readUInt32BE(33);
    const raw = inflateSync(png.subarray(41, 41 + idatLen));
    assert.equal(raw.length, (56 + 1) * 28);
    assert.equal(raw[1], 0); // first pixel 0
    assert.equal(raw[(56 + 1) * 27 + 28], 255); // last pixel of the first image
  });

  it('normkit gan writes its samples', () => {
    const dir = mkdtempSync(join(tmpdir(), 'normkit-gan-'));
    const r = runCli(
      'gan',
      '--steps',
      '4',
      '--batch-size',
      '16',
      '--train-limit',
      '64',
      '--disc-norm',
      'layer',
      '--out',
      dir,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /step 4: loss D [\d.]+ G [\d.]+ \| D\(real\) [\d.]+ D\(fake\) [\d.]+/);
    assert.deepEqual(
      [...readFileSync(join(dir, 'gan-layer.png')).subarray(1, 4)],
      [0x50, 0x4e, 0x47],
    );
    assert.doesNotMatch(r.stderr, /NORMKIT_BATCHNORM/);
    const bad = runCli('gan', '--disc-norm', 'group');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /Allowed choices are batch, spectral, layer, none/);
  });
});
