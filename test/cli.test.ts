import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'normkit-cli-'));

function run(...args: string[]) {
  return spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', cwd: dir });
}

describe('normkit CLI', () => {
  it('train writes a checkpoint and a table; eval reads it back', () => {
    const ckpt = join(dir, 'cnn.ckpt');
    const t = run(
      'train',
      '--model',
      'cnn',
      '--width',
      '4',
      '--epochs',
      '1',
      '--train-limit',
      '128',
      '--test-limit',
      '100',
      '--batch-size',
      '32',
      '--checkpoint',
      ckpt,
    );
    assert.equal(t.status, 0, t.stderr);
    assert.match(
      t.stdout,
      /normkit train: cnn with batch norm, [\d,]+ parameters, 128 training \/ 100 test images/,
    );
    assert.match(
      t.stdout,
      /epoch 1: train loss [\d.]+ acc [\d.]+% \| test loss [\d.]+ acc [\d.]+%/,
    );
    assert.match(t.stdout, /test acc/);
    const e = run('eval', '--checkpoint', ckpt);
    assert.equal(e.status, 0, e.stderr);
    assert.match(
      e.stdout,
      /cnn\/batch after 1 epochs: test loss [\d.]+, test accuracy [\d.]+% on 10000 images/,
    );
  });

  it('every norm trains on every model for a few steps', () => {
    for (const model of ['mlp', 'cnn', 'resnet']) {
      for (const norm of ['batch', 'group', 'layer', 'instance', 'none']) {
        if (model === 'mlp' && norm === 'instance') continue;
        const r = run(
          'train',
          '--model',
          model,
          '--norm',
          norm,
          '--width',
          '8',
          '--epochs',
          '1',
          '--train-limit',
          '64',
          '--test-limit',
          '32',
          '--batch-size',
          '16',
          '--checkpoint',
          join(dir, `${model}-${norm}.ckpt`),
        );
        assert.equal(r.status, 0, `${model}/${norm}: ${r.stderr}`);
      }
    }
  });

  it('bad arguments and files give clear errors', () => {
    const a = run('train', '--model', 'transformer');
    assert.notEqual(a.status, 0);
    assert.match(
      a.stderr,
      /argument 'transformer' is invalid. Allowed choices are mlp, cnn, resnet/,
    );
    const b = run('train', '--batch-size', '0');
    assert.match(b.stderr, /--batch-size must be an integer >= 1, got 0/);
    const c = run('eval', '--checkpoint', join(dir, 'missing.ckpt'));
    assert.notEqual(c.status, 0);
    assert.match(c.stderr, /normkit: ENOENT/);
    const d = run('train', '--data', dir, '--epochs', '1');
    assert.match(d.stderr, /Fashion-MNIST: train-images-idx3-ubyte\(\.gz\) not found in/);
  });
});
