// BatchNorm statistics tools: recalibration against PyTorch's update_bn, AdaBN with
// snapshots, frozen BatchNorm for fine-tuning; bad input leaves the statistics untouched.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { assertClose, fixture, runCli } from './helpers.js';

const { nn } = nk;

function fromTorch(name: string): nk.nn.Module {
  return name === 'mlp'
    ? new nn.Sequential(
        new nn.Linear(6, 5, { bias: false }),
        new nn.BatchNorm1d(5, { momentum: 0.3 }),
        new nn.ReLU(),
        new nn.Linear(5, 4, { bias: false }),
        new nn.BatchNorm1d(4),
      )
    : new nn.Sequential(
        new nn.Conv2d(2, 3, 3, { padding: 1, bias: false }),
        new nn.BatchNorm2d(3, { momentum: 0.05 }),
        new nn.ReLU(),
      );
}

function load(model: nk.nn.Module, state: Record<string, number[]>): void {
  const own = model.stateDict();
  model.loadStateDict(
    Object.fromEntries(
      Object.entries(state).map(([k, v]) => [
        k,
        nk.tensor(v, own[k].shape, { dtype: own[k].dtype }),
      ]),
    ),
  );
}

const stats = (m: nk.nn.Module) =>
  Object.fromEntries(
    m.namedBuffers().map(([k, t]) => [k, Array.from(t.data)] as [string, number[]]),
  );

describe('BatchNorm statistics tools', () => {
  for (const rec of fixture('bn_tools.json')) {
    it(`recalibrateBatchNorm matches torch.optim.swa_utils.update_bn (${rec.name})`, () => {
      const model = fromTorch(rec.name);
      load(model, rec.before);
      model.eval();
      const batches = rec.batches.map((b: any) => ({ x: nk.tensor(b.x, b.shape) }));
      assert.equal(nk.recalibrateBatchNorm(model, batches), batches.length);
      const sd = model.stateDict();
      for (const [k, v] of Object.entries(rec.after as Record<string, number[]>)) {
        assertClose(sd[k].data, v, { rtol: 1e-5, atol: 1e-6, what: k });
      }
      const bns = model.namedModules().filter(([, m]) => m instanceof nn.BatchNormBase);
      assert.deepEqual(
        bns.map(([, m]) => (m as nk.nn.BatchNormBase).momentum),
        rec.momenta,
      );
      assert.equal(model.training, rec.training);
      assert.ok(bns.every(([, m]) => !m.training));
    });
  }

  it('AdaBN: statistics per domain, kept and swapped with snapshots', () => {
    nk.manualSeed(3);
    const model = new nn.Sequential(new nn.Linear(4, 3), new nn.BatchNorm1d(3));
    const source = [nk.randn([16, 4]), nk.randn([16, 4])];
    const target = [nk.randn([16, 4], { mean: 3, std: 2 }), nk.randn([16, 4], { mean: 3, std: 2 })];
    nk.recalibrateBatchNorm(model, source);
    const onSource = nk.snapshotBatchNormStats(model);
    assert.equal(nk.adaptBatchNorm(model, target), 2);
    const onTarget = nk.snapshotBatchNormStats(model);
    const rm = (s: ReturnType<typeof nk.snapshotBatchNormStats>) => Array.from(s['1'].runningMean);
    assert.ok(rm(onTarget).some((v, i) => Math.abs(v - rm(onSource)[i]) > 0.5));
    // The target statistics equal the mean of the two batches' statistics of the linear outputs.
    const h = nk.noGrad(() => target.map((x) => (model as nk.nn.Sequential).layers[0].call(x)));
    const means = h.map((t) => nk.mean(t, 0).toArray());
    assertClose(
      rm(onTarget),
      means[0].map((v, i) => (v + means[1][i]) / 2),
      { rtol: 1e-5, atol: 1e-6 },
    );
    nk.restoreBatchNormStats(model, onSource);
    assert.deepEqual(stats(model)['1.running_mean'], Array.from(onSource['1'].runningMean));
    assert.equal(onTarget['1'].numBatchesTracked, 2);
    // A snapshot that does not fit is refused whole.
    const before = stats(model);
    assert.throws(
      () =>
        nk.restoreBatchNormStats(model, {
          '1': { ...onSource['1'], runningMean: new Float32Array(5) },
        }),
      /restoreBatchNormStats\(Sequential\): 1: expected 3 channels, got 5 and 3/,
    );
    assert.throws(
      () => nk.restoreBatchNormStats(model, { ...onSource, '7': onSource['1'] }),
      /unknown layers 7/,
    );
    assert.deepEqual(stats(model), before);
  });

  it('Keras-convention layers recalibrate to the plain average of the batches too', () => {
    nk.manualSeed(4);
    const bn = new nn.BatchNorm1d(2, { convention: 'keras' });
    const xs = [nk.randn([10, 2], { mean: 1 }), nk.randn([6, 2], { mean: -2 })];
    nk.recalibrateBatchNorm(bn, xs);
    const m = xs.map((x) => nk.mean(x, 0).toArray());
    const v = xs.map((x) => nk.variance(x, 0, { correction: 0 }).toArray()); // Keras stores biased
    assertClose(
      bn.runningMean!.data,
      [0, 1].map((c) => (m[0][c] + m[1][c]) / 2),
      { rtol: 1e-5, atol: 1e-6 },
    );
    assertClose(
      bn.runningVar!.data,
      [0, 1].map((c) => (v[0][c] + v[1][c]) / 2),
      { rtol: 1e-5, atol: 1e-6 },
    );
    assert.equal(bn.momentum, 0.99);
  });

  it('bad input: nothing moves', () => {
    const model = new nn.Sequential(new nn.Linear(4, 3), new nn.BatchNorm1d(3));
    nk.recalibrateBatchNorm(model, [nk.randn([8, 4])]);
    const before = stats(model);
    assert.throws(
      () => nk.recalibrateBatchNorm(model, []),
      /recalibrateBatchNorm: no batches given/,
    );
    assert.throws(
      () => nk.recalibrateBatchNorm(model, [nk.randn([8, 4]), nk.randn([8, 5])]),
      /recalibrateBatchNorm: .*\[8, 5\].*\(statistics left as they were\)/,
    );
    assert.throws(
      () => nk.adaptBatchNorm(model, [7 as any]),
      /adaptBatchNorm: batch 0 is not a tensor/,
    );
    assert.deepEqual(stats(model), before);
    assert.ok(model.training);
    assert.throws(
      () => nk.recalibrateBatchNorm(new nn.Linear(2, 2), [nk.randn([2, 2])]),
      /recalibrateBatchNorm: Linear\(2, 2\) has no BatchNorm layer with running statistics/,
    );
  });

  it('freezeBatchNorm keeps statistics and γ, β fixed while the rest trains; unfreeze undoes it', () => {
    nk.manualSeed(5);
    const model = new nn.Sequential(
      new nn.Linear(4, 3),
      new nn.BatchNorm1d(3),
      new nn.ReLU(),
      new nn.Linear(3, 2),
    );
    const bn = model.layers[1] as nk.nn.BatchNorm1d;
    nk.recalibrateBatchNorm(model, [nk.randn([8, 4])]);
    assert.equal(nk.freezeBatchNorm(model), 1);
    model.train();
    assert.ok(model.training && !bn.training);
    const opt = new nk.optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 1e-2 });
    const frozenBefore = stats(model);
    const gamma = Array.from(bn.weight!.data);
    const w0 = Array.from(model.parameters()[0].data);
    for (let i = 0; i < 3; i++) {
      nk.tidy(() => {
        opt.zeroGrad();
        nk.crossEntropy(
          model.call(nk.randn([8, 4])),
          new Uint8Array([0, 1, 0, 1, 0, 1, 0, 1]),
        ).backward();
        opt.step();
      });
    }
    assert.deepEqual(stats(model), frozenBefore);
    assert.deepEqual(Array.from(bn.weight!.data), gamma);
    assert.notDeepEqual(Array.from(model.parameters()[0].data), w0);
    assert.equal(model.numParameters(), 4 * 3 + 3 + 3 * 2 + 2); // γ, β not trainable
    nk.unfreezeBatchNorm(model);
    assert.ok(bn.training && bn.weight!.requiresGrad);
    nk.freezeBatchNorm(model, { affine: 'train' });
    assert.ok(bn.weight!.requiresGrad && !bn.training);
    assert.throws(
      () => nk.freezeBatchNorm(model, { affine: 'yes' as any }),
      /expected affine 'freeze' or 'train', got yes/,
    );
  });

  it('the CLI: certify writes a certificate, recalibrate re-estimates, verify then names the change', () => {
    const dir = mkdtempSync(join(tmpdir(), 'normkit-bntools-'));
    const ckpt = join(dir, 'r.ckpt'),
      cert = join(dir, 'cert.json');
    const run = runCli;
    const t = run(
      'train',
      '--model',
      'cnn',
      '--width',
      '4',
      '--epochs',
      '1',
      '--train-limit',
      '256',
      '--test-limit',
      '64',
      '--checkpoint',
      ckpt,
    );
    assert.equal(t.status, 0, t.stderr);
    const c = run('certify', '--checkpoint', ckpt, '--test-limit', '100', '--out', cert);
    assert.equal(c.status, 0, c.stderr);
    assert.match(c.stdout, /Lipschitz bound [\d.]+ .*\ncertified accuracy at radius 0: [\d.]+%/);
    assert.equal(run('certify', '--checkpoint', ckpt, '--verify', cert).status, 0);
    const r = run('recalibrate', '--checkpoint', ckpt, '--batches', '10');
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /BatchNorm statistics re-estimated on 10 batches of 64: test accuracy [\d.]+% -> [\d.]+%/,
    );
    const v = run('certify', '--checkpoint', ckpt, '--verify', cert);
    assert.notEqual(v.status, 0);
    assert.match(v.stderr, /the certificate no longer holds .*1\.running_mean/);
  });
});
