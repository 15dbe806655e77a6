import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { idxHeader } from './helpers.js';
import { BUNDLED_DIR, loadFashionMnist } from '../src/data/node.js';
import { buildModel } from '../src/train/models.js';
import { evaluate } from '../src/train/loop.js';
import { readRun, restoreRun } from '../src/train/session.js';

const main = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const progress = fileURLToPath(new URL('../src/cli/progress.js', import.meta.url));
const pkg = fileURLToPath(new URL('../../package.json', import.meta.url));
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
    for (const model of ['mlp', 'cnn', 'resnet', 'lstm', 'transformer']) {
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
    const a = run('train', '--model', 'gpt');
    assert.notEqual(a.status, 0);
    assert.match(
      a.stderr,
      /argument 'gpt' is invalid. Allowed choices are mlp, cnn, resnet, lstm, transformer/,
    );
    const b = run('train', '--batch-size', '0');
    assert.match(b.stderr, /--batch-size must be an integer >= 1, got 0/);
    const c = run('eval', '--checkpoint', join(dir, 'missing.ckpt'));
    assert.notEqual(c.status, 0);
    assert.match(c.stderr, /normkit: ENOENT/);
    const d = run('train', '--data', dir, '--epochs', '1');
    assert.match(d.stderr, /Fashion-MNIST: train-images-idx3-ubyte\(\.gz\) not found in/);
  });

  it('a last batch of one image is left out for BatchNorm, said up front, and the run completes', () => {
    const ckpt = join(dir, 'last-one.ckpt');
    const r = run(
      'train',
      '--model',
      'mlp',
      '--width',
      '8',
      '--epochs',
      '1',
      '--train-limit',
      '199',
      '--test-limit',
      '50',
      '--batch-size',
      '99',
      '--checkpoint',
      ckpt,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /note: the last batch of each epoch would hold 1 image \(199 images, --batch-size 99\), which BatchNorm cannot normalize in training: it is left out/,
    );
    assert.ok(existsSync(ckpt));
  });

  it('a non-finite loss stops the run with a clear message and keeps the last good checkpoint', () => {
    const ckpt = join(dir, 'nan.ckpt');
    const args = [
      'train',
      '--model',
      'mlp',
      '--width',
      '8',
      '--train-limit',
      '256',
      '--test-limit',
      '50',
      '--batch-size',
      '32',
      '--checkpoint',
      ckpt,
    ];
    assert.equal(run(...args, '--epochs', '1').status, 0);
    const good = readFileSync(ckpt);
    const r = run(...args, '--epochs', '2', '--resume', '--lr', '1e308');
    assert.notEqual(r.status, 0);
    assert.match(
      r.stderr,
      /normkit: epoch 2, step \d+: the loss is (NaN|Infinity); training stopped \(the last good checkpoint: epoch 1 in .*nan\.ckpt\)\. The learning rate \(--lr 1e\+308\) is likely too high/,
    );
    assert.deepEqual(readFileSync(ckpt), good);
  });

  it('trains with --augment, and resumes only with the same choice', () => {
    const ckpt = join(dir, 'aug.ckpt');
    const args = ['train', '--model', 'mlp', '--width', '8', '--train-limit', '128'];
    const more = ['--test-limit', '20', '--checkpoint', ckpt];
    const r = run(...args, ...more, '--epochs', '1', '--augment');
    assert.equal(r.status, 0, r.stderr);
    const without = run(...args, ...more, '--epochs', '2', '--resume');
    assert.notEqual(without.status, 0);
    assert.match(without.stderr, /aug\.ckpt was trained with --augment; resume with it/);
    assert.equal(run(...args, ...more, '--epochs', '2', '--resume', '--augment').status, 0);
  });

  it('trains with --label-smoothing, refuses values outside [0, 1], resumes only with the same value', () => {
    const ckpt = join(dir, 'smooth.ckpt');
    const args = ['train', '--model', 'mlp', '--width', '8', '--train-limit', '128'];
    const more = ['--test-limit', '20', '--checkpoint', ckpt];
    const bad = run(...args, ...more, '--label-smoothing', '1.5');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /--label-smoothing: expected a number in \[0, 1\], got 1\.5/);
    const r = run(...args, ...more, '--epochs', '1', '--label-smoothing', '0.2');
    assert.equal(r.status, 0, r.stderr);
    const other = run(...args, ...more, '--epochs', '2', '--resume');
    assert.notEqual(other.status, 0);
    assert.match(other.stderr, /smooth\.ckpt was trained with --label-smoothing 0\.2, asked for 0/);
    const again = run(...args, ...more, '--epochs', '2', '--resume', '--label-smoothing', '0.2');
    assert.equal(again.status, 0, again.stderr);
  });

  it('holds out --validation images, evaluates them every epoch, and resumes only with the same count', () => {
    const ckpt = join(dir, 'val.ckpt');
    const args = ['train', '--model', 'mlp', '--width', '8', '--train-limit', '300'];
    const more = ['--test-limit', '50', '--checkpoint', ckpt];
    const tooMany = run(...args, ...more, '--validation', '300');
    assert.notEqual(tooMany.status, 0);
    assert.match(
      tooMany.stderr,
      /--validation 300: the training set has 300 images; hold out fewer/,
    );
    const r = run(...args, ...more, '--epochs', '1', '--validation', '100');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /200 training \+ 100 validation \/ 50 test images/);
    assert.match(r.stdout, /val loss [\d.]+ acc [\d.]+%/);
    // The recorded accuracy is the saved model's on training images 200..299.
    const saved = readRun(ckpt);
    const model = buildModel(saved.meta.config);
    restoreRun(saved, model, null);
    const { train } = loadFashionMnist(BUNDLED_DIR, { trainLimit: 300 });
    const held = {
      images: train.images.subarray(200 * 784),
      labels: train.labels.subarray(200),
      count: 100,
    };
    assert.equal(saved.meta.history[0].validationAccuracy, evaluate(model, held).accuracy);
    const other = run(...args, ...more, '--epochs', '2', '--resume');
    assert.notEqual(other.status, 0);
    assert.match(other.stderr, /val\.ckpt was trained with --validation 100, asked for 0/);
    const again = run(...args, ...more, '--epochs', '2', '--resume', '--validation', '100');
    assert.equal(again.status, 0, again.stderr);
  });

  it('refuses an empty data set and sizes that cannot fit, before training', () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty, { recursive: true });
    for (const split of ['train', 't10k']) {
      writeFileSync(join(empty, `${split}-images-idx3-ubyte`), idxHeader([0, 28, 28]));
      writeFileSync(join(empty, `${split}-labels-idx1-ubyte`), idxHeader([0]));
    }
    const e = run('train', '--data', empty, '--checkpoint', join(dir, 'e.ckpt'));
    assert.notEqual(e.status, 0);
    assert.match(e.stderr, /empty: 0 training and 0 test images; need at least one of each/);
    const w = run(
      'train',
      '--width',
      '100000',
      '--train-limit',
      '10',
      '--checkpoint',
      join(dir, 'w.ckpt'),
    );
    assert.notEqual(w.status, 0);
    assert.match(
      w.stderr,
      /building the cnn \(width 100000\): tensor \[200000, 100000, 3, 3\] float32: out of tensor memory: requested [\d.]+ GiB.*One tensor this large cannot fit/,
    );
  });

  it('prints no colour codes off a terminal or with NO_COLOR; --version and --help', () => {
    const r = run(
      'train',
      '--model',
      'mlp',
      '--width',
      '4',
      '--epochs',
      '1',
      '--train-limit',
      '64',
      '--test-limit',
      '20',
      '--checkpoint',
      join(dir, 'c.ckpt'),
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /train loss/);
    assert.doesNotMatch(r.stdout + r.stderr, /\x1b\[/);
    // On a terminal cli-table3 colours its header; NO_COLOR turns that off. (Its colour
    // library also stays plain under CI=true or TERM=dumb, so those are set for the check.)
    const { CI: _ci, NO_COLOR: _nc, ...base } = process.env;
    const table = (env: Record<string, string>) =>
      spawnSync(
        process.execPath,
        [
          '-e',
          `process.stdout.isTTY = true; import(${JSON.stringify(progress)}).then((m) => console.log(m.historyTable([{ epoch: 1, trainLoss: 1, trainAccuracy: 0.5, testLoss: 1, testAccuracy: 0.5, seconds: 1 }])))`,
        ],
        { encoding: 'utf8', env: { ...base, TERM: 'xterm', ...env } },
      ).stdout;
    assert.match(table({}), /\x1b\[/);
    assert.doesNotMatch(table({ NO_COLOR: '1' }), /\x1b\[/);
    const v = run('--version');
    assert.equal(v.stdout.trim(), JSON.parse(readFileSync(pkg, 'utf8')).version);
    const h = run('train', '--help');
    assert.doesNotMatch(h.stdout, /\(default: the available cores\) \(default: \d+\)/);
    assert.match(
      h.stdout,
      /--threads <n>\s+kernel threads \(at most \d+\) \(default: \d+, the\s+available\s+cores\)/,
    );
  });
});
