// The kernel thread pool: results are bit-identical whatever the thread count, because work
// is only ever split over independent outputs.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { setGrainScale, workerExecArgv } from '../src/kernels/wasm/threads.js';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';

function run(threads: number): Float32Array[] {
  nk.setNumThreads(threads);
  nk.manualSeed(11);
  const model = new nk.nn.Sequential(
    new nk.nn.Conv2d(3, 16, 3, { padding: 1 }),
    new nk.nn.BatchNorm2d(16),
    new nk.nn.ReLU(),
    new nk.nn.MaxPool2d(2),
    new nk.nn.GroupNorm(4, 16),
    // 128 single-run statistics, paired across statistics: 3 threads split them 43/43/42,
    // so runs pair differently (or with themselves) than on one thread.
    new nk.nn.InstanceNorm2d(16, { affine: true }),
    new nk.nn.Flatten(),
    new nk.nn.LayerNorm(16 * 16 * 16),
    new nk.nn.RMSNorm(16 * 16 * 16),
    new nk.nn.Linear(16 * 16 * 16, 10),
  );
  const opt = new nk.optim.Adam(model.parameters(), { lr: 1e-2 });
  const x = nk.randn([8, 3, 32, 32]);
  const labels = Uint8Array.from({ length: 8 }, (_, i) => i % 10);
  const out: Float32Array[] = [];
  for (let step = 0; step < 3; step++) {
    nk.tidy(() => {
      const logits = model.call(x);
      out.push(logits.toArray() as Float32Array);
      opt.zeroGrad();
      nk.crossEntropy(logits, labels).backward();
      opt.step();
    });
  }
  for (const p of model.parameters()) out.push(p.toArray() as Float32Array);
  const a = nk.randn([300, 200]),
    b = nk.randn([200, 500]);
  out.push(nk.matmul(a, b).toArray() as Float32Array);
  // Sums over rows: threads take ranges of columns (a linear layer's bias gradient).
  out.push(nk.randn([1, 700, 301]).sum([1]).toArray() as Float32Array);
  return out;
}

describe('kernel threads', () => {
  const initial = nk.getNumThreads();
  after(() => nk.setNumThreads(initial));

  it('defaults to the available cores and can be changed', () => {
    nk.setNumThreads(3);
    assert.equal(nk.getNumThreads(), 3);
    assert.throws(() => nk.setNumThreads(0), /setNumThreads: expected a positive integer, got 0/);
  });

  it('initThreads starts them in Node as setNumThreads does, and checks its argument', async () => {
    await nk.initThreads(2);
    assert.equal(nk.getNumThreads(), 2);
    await assert.rejects(nk.initThreads(1.5), /initThreads: expected a positive integer, got 1.5/);
    assert.equal(nk.getNumThreads(), 2);
  });

  it('caps the thread count at twice the cores (at least 4), saying so', async () => {
    const warnings: Error[] = [];
    const on = (w: Error) => warnings.push(w);
    process.on('warning', on);
    nk.setNumThreads(999);
    await new Promise((r) => setImmediate(r));
    process.off('warning', on);
    assert.equal(nk.getNumThreads(), Math.max(4, 2 * availableParallelism()));
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0].message,
      /setNumThreads: 999 threads asked for, \d+ cores available; using \d+/,
    );
    nk.setNumThreads(2);
  });

  it('kernel workers run under node -e and --input-type=module (their execArgv filtered)', () => {
    assert.deepEqual(
      workerExecArgv(['--input-type=module', '-e', 'code', '--max-old-space-size=512']),
      ['--max-old-space-size=512'],
    );
    assert.deepEqual(workerExecArgv(['--input-type', 'module', '--eval', 'x', '-p', 'y']), []);
    // V8's wasm flags are process-wide: the worker has them and refuses them in execArgv.
    assert.deepEqual(
      workerExecArgv([
        '--experimental-wasm-relaxed-simd',
        '--wasm-max-mem-pages=1',
        '--enable-source-maps',
      ]),
      ['--enable-source-maps'],
    );
    const index = fileURLToPath(new URL('../src/index.js', import.meta.url));
    const code =
      `import * as nk from ${JSON.stringify(pathToFileURL(index).href)};` +
      'nk.setNumThreads(2);' +
      'const y = nk.matmul(nk.ones([300, 200]), nk.ones([200, 300]));' +
      'console.log(nk.getNumThreads(), y.data[0]);';
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), '2 200');
  });

  it('gives bit-identical training results with 1, 2 and 3 threads', () => {
    setGrainScale(0); // split every kernel call, however small
    const one = run(1);
    for (const threads of [2, 3]) {
      const many = run(threads);
      assert.equal(many.length, one.length);
      many.forEach((arr, i) =>
        assert.deepEqual(arr, one[i], `array ${i} differs with ${threads} threads`),
      );
    }
  });
});
