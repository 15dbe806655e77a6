// The CLI's sequence classifiers: per-image lengths mask the padding (what lies past an
// image's length cannot change its logits), random-length crops in training come from the
// seeded generator, and bad lengths are refused.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { rng } from '../src/random.js';
import { buildModel } from '../src/train/models.js';
import { assertClose, runCli } from './helpers.js';

const LENGTHS = [28, 3, 17, 1, 9];

/** x with every row past each image's length replaced by noise. */
function noisyPadding(x: nk.Tensor, lengths: number[]): nk.Tensor {
  const y = x.toArray() as Float32Array;
  lengths.forEach((len, n) => {
    for (let i = n * 784 + len * 28; i < (n + 1) * 784; i++) y[i] = 5 * Math.sin(i);
  });
  return nk.tensor(y, x.shape);
}

describe('sequence classifiers', () => {
  for (const model of ['lstm', 'transformer'] as const) {
    it(`${model}: the padding past each length does not change the logits`, () => {
      nk.manualSeed(3);
      const m = buildModel({ model, norm: 'layer', width: 16 }).eval();
      const x = nk.rand([LENGTHS.length, 1, 28, 28]);
      const a = m.call(x, LENGTHS).toArray();
      const b = m.call(noisyPadding(x, LENGTHS), LENGTHS).toArray();
      assertClose(b, a, { rtol: 1e-5, atol: 1e-5, what: `${model} logits` });
      // Without lengths the noise is read: the mask is what made them equal.
      const full = m.call(noisyPadding(x, LENGTHS)).toArray();
      assert.ok(
        full.some((v, i) => Math.abs(v - a[i]) > 1e-3),
        'the padding should matter without lengths',
      );
    });
  }

  it('training crops to random lengths drawn from the seeded generator; eval reads all rows', () => {
    const m = buildModel({ model: 'lstm', norm: 'none', width: 8, minLength: 5 });
    const x = nk.rand([6, 1, 28, 28]);
    nk.manualSeed(9);
    const cropped = m.train().call(x).toArray();
    nk.manualSeed(9);
    const lengths = Array.from({ length: 6 }, () => 5 + Math.floor(rng.uniform() * 24));
    assert.ok(lengths.every((l) => l >= 5 && l <= 28));
    assertClose(cropped, m.call(x, lengths).toArray(), { rtol: 0, atol: 0 });
    const evalOut = m.eval().call(x).toArray();
    assertClose(evalOut, m.call(x, Array(6).fill(28)).toArray(), { rtol: 0, atol: 0 });
    assert.ok(evalOut.some((v, i) => v !== cropped[i]));
  });

  it('bad lengths and minLength are refused with the model named', () => {
    const m = buildModel({ model: 'transformer', norm: 'none', width: 8 });
    assert.throws(
      () => m.call(nk.rand([2, 1, 28, 28]), [3, 29]),
      /TransformerClassifier\(8\): expected 2 lengths, integers in \[1, 28\], got \[3, 29\]/,
    );
    assert.throws(
      () => buildModel({ model: 'lstm', norm: 'none', minLength: 0 }),
      /LstmClassifier: expected minLength an integer in \[1, 28\], got 0/,
    );
    assert.throws(
      () => buildModel({ model: 'cnn', norm: 'batch', minLength: 5 }),
      /minLength is for the lstm and transformer models, not cnn/,
    );
  });

  it('normkit train --min-length trains, and --resume refuses another length', () => {
    const dir = mkdtempSync(join(tmpdir(), 'normkit-seq-'));
    const ckpt = join(dir, 'lstm.ckpt');
    const args = ['train', '--model', 'lstm', '--width', '8', '--train-limit', '64'];
    const common = ['--test-limit', '32', '--batch-size', '16', '--checkpoint', ckpt];
    const r = runCli(
      ...args,
      '--min-length',
      '10',
      '--epochs',
      '2',
      '--stop-after',
      '1',
      ...common,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /epoch 1: train loss [\d.]+/);
    const again = runCli(...args, '--min-length', '12', '--epochs', '2', '--resume', ...common);
    assert.notEqual(again.status, 0);
    assert.match(again.stderr, /trained with --min-length 10, asked for 12/);
    const cnn = runCli('train', '--model', 'cnn', '--min-length', '10', '--epochs', '1');
    assert.notEqual(cnn.status, 0);
    assert.match(cnn.stderr, /minLength is for the lstm and transformer models, not cnn/);
  });
});
