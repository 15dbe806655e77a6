// The BatchNorm doctor: every check with a model that triggers it and one that does not, no
// false alarm on the CLI's own models, and the runtime guard for a forgotten eval().
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { runCli } from './helpers.js';
import { makeOptimizer } from '../src/cli/optimizer.js';
import { MODEL_KINDS, NORM_KINDS, buildModel } from '../src/train/models.js';

const { nn, optim } = nk;
const checks = (f: nk.Finding[]) => f.map((x) => `${x.severity} ${x.check} ${x.path}`);

class Recurrent extends nn.Module {
  readonly isRecurrent = true;
  constructor(readonly inner: nk.nn.Module) {
    super();
    this.registerModule('cell', inner);
  }
  forward(x: nk.Tensor): nk.Tensor {
    return this.inner.call(x);
  }
}

describe('doctor', () => {
  it('bias before BatchNorm, dropout before BatchNorm (measured), BatchNorm after the activation', () => {
    nk.manualSeed(1);
    assert.deepEqual(
      checks(nk.doctor(new nn.Sequential(new nn.Linear(4, 3), new nn.BatchNorm1d(3)))),
      ['warning bias-before-bn 0'],
    );
    assert.deepEqual(
      nk.doctor(new nn.Sequential(new nn.Linear(4, 3, { bias: false }), new nn.BatchNorm1d(3))),
      [],
    );
    const bad = new nn.Sequential(
      new nn.Linear(8, 16, { bias: false }),
      new nn.BatchNorm1d(16),
      new nn.ReLU(),
      new nn.Dropout(0.5),
      new nn.Linear(16, 16, { bias: false }),
      new nn.BatchNorm1d(16),
      new nn.ReLU(),
      new nn.Linear(16, 2),
    );
    nk.recalibrateBatchNorm(bad, [nk.randn([32, 8])]);
    const f = nk.doctor(bad, { sampleInput: nk.randn([64, 8]) });
    assert.deepEqual(checks(f), ['warning dropout-before-bn 3']);
    const ratio = Number(/input variance is ([\d.]+)x as large/.exec(f[0].reason)![1]);
    assert.ok(ratio > 1.3, `variance ratio ${ratio}`);
    assert.match(f[0].fix, /after the last BatchNorm/);
    const good = new nn.Sequential(
      new nn.Linear(8, 16, { bias: false }),
      new nn.BatchNorm1d(16),
      new nn.ReLU(),
      new nn.Dropout(0.5),
      new nn.Linear(16, 2),
    );
    assert.deepEqual(nk.doctor(good), []);
    const after = new nn.Sequential(new nn.Linear(4, 3), new nn.ReLU(), new nn.BatchNorm1d(3));
    assert.deepEqual(checks(nk.doctor(after)), ['info bn-after-activation 2']);
  });

  it('weight decay on norm parameters, Adam + L2', () => {
    const m = () =>
      new nn.Sequential(
        new nn.Linear(4, 3, { bias: false }),
        new nn.BatchNorm1d(3),
        new nn.ReLU(),
        new nn.Linear(3, 2),
      );
    const a = m();
    assert.deepEqual(
      checks(
        nk.doctor(a, { optimizer: new optim.SGD(a.parameters(), { lr: 0.1, weightDecay: 5e-4 }) }),
      ),
      ['warning weight-decay-on-norm '],
    );
    const b = m();
    assert.deepEqual(
      nk.doctor(b, {
        optimizer: new optim.SGD(optim.paramGroupsNoDecayForNorm(b, 5e-4), { lr: 0.1 }),
      }),
      [],
    );
    const c = m();
    assert.deepEqual(
      checks(
        nk.doctor(c, {
          optimizer: new optim.Adam(optim.paramGroupsNoDecayForNorm(c, 5e-4), { lr: 1e-3 }),
        }),
      ),
      ['warning adam-l2 '],
    );
    const d = m();
    assert.deepEqual(
      nk.doctor(d, {
        optimizer: new optim.AdamW(optim.paramGroupsNoDecayForNorm(d, 5e-2), { lr: 1e-3 }),
      }),
      [],
    );
  });

  it('batch sizes, recurrence, discriminators', () => {
    const m = new nn.Sequential(new nn.Linear(4, 3, { bias: false }), new nn.BatchNorm1d(3));
    assert.deepEqual(checks(nk.doctor(m, { batchSize: 8 })), ['warning small-batch 1']);
    assert.deepEqual(checks(nk.doctor(m, { batchSize: 1 })), ['error batch-too-small 1']);
    assert.deepEqual(nk.doctor(m, { batchSize: 64 }), []);
    assert.deepEqual(checks(nk.doctor(new nn.Sequential(new Recurrent(new nn.BatchNorm1d(3))))), [
      'warning bn-in-recurrence 0.cell',
    ]);
    assert.deepEqual(nk.doctor(new nn.Sequential(new Recurrent(new nn.LayerNorm(3)))), []);
    assert.deepEqual(checks(nk.doctor(m, { role: 'discriminator' })), [
      'warning bn-in-discriminator 1',
    ]);
    assert.deepEqual(nk.doctor(m, { role: 'generator' }), []);
  });

  it('statistics never updated, no running statistics in eval, momentum of the other convention', () => {
    const fresh = new nn.Sequential(
      new nn.Linear(4, 3, { bias: false }),
      new nn.BatchNorm1d(3),
    ).eval();
    assert.deepEqual(checks(nk.doctor(fresh)), ['error stats-never-updated 1']);
    nk.recalibrateBatchNorm(fresh, [nk.randn([8, 4])]);
    assert.deepEqual(nk.doctor(fresh), []);
    assert.deepEqual(
      checks(nk.doctor(new nn.BatchNorm1d(3, { trackRunningStats: false }).eval())),
      ['info no-running-stats '],
    );
    const f = nk.doctor(new nn.BatchNorm1d(3, { momentum: 0.99 }));
    assert.deepEqual(checks(f), ['warning momentum-convention ']);
    assert.match(f[0].fix, /use momentum 0.01 \(PyTorch style\)/);
    assert.deepEqual(
      checks(nk.doctor(new nn.BatchNorm1d(3, { convention: 'keras', momentum: 0.1 }))),
      ['warning momentum-convention '],
    );
    assert.deepEqual(nk.doctor(new nn.BatchNorm1d(3, { convention: 'keras' })), []);
  });

  it("no false alarm on the CLI's own models", () => {
    for (const model of MODEL_KINDS)
      for (const norm of NORM_KINDS) {
        if (model === 'mlp' && norm === 'instance') continue;
        const m = buildModel({ model, norm, width: 8 });
        for (const kind of ['sgd', 'adam', 'adamw'] as const) {
          const opt = makeOptimizer(kind, m, 0.01, 0);
          assert.deepEqual(
            nk.doctor(m, { optimizer: opt as never, batchSize: 64 }),
            [],
            `${model}/${norm}/${kind}`,
          );
        }
      }
  });

  it('warns once about a BatchNorm in training mode inside noGrad(), naming its path; silenceable', async () => {
    const warnings: Error[] = [];
    const on = (w: Error) => warnings.push(w);
    process.on('warning', on);
    const model = new nn.Sequential(new nn.Linear(4, 3, { bias: false }), new nn.BatchNorm1d(3));
    const x = nk.randn([8, 4]);
    const was = nn.setBatchNormEvalGuard(false);
    nk.noGrad(() => model.call(x));
    nn.setBatchNormEvalGuard(was);
    nk.recalibrateBatchNorm(model, [x]); // training mode without gradients on purpose: quiet
    nk.noGrad(() => model.call(x));
    nk.noGrad(() => model.call(x));
    model.eval();
    nk.noGrad(() => model.call(x));
    await new Promise((r) => setImmediate(r));
    process.off('warning', on);
    const ours = warnings.filter((w) => /normkit/.test(w.message));
    assert.equal(ours.length, 1);
    assert.match(
      ours[0].message,
      /BatchNorm1d\(3\) at '1' ran in training mode inside noGrad\(\).*call model.eval\(\) first.*setBatchNormEvalGuard\(false\)/,
    );
  });

  it('normkit doctor --checkpoint: no findings on a run the CLI trained; its eval never warns', () => {
    const dir = mkdtempSync(join(tmpdir(), 'normkit-doctor-'));
    const ckpt = join(dir, 'r.ckpt');
    const run = runCli;
    const t = run(
      'train',
      '--model',
      'mlp',
      '--width',
      '8',
      '--epochs',
      '1',
      '--train-limit',
      '128',
      '--test-limit',
      '64',
      '--checkpoint',
      ckpt,
    );
    assert.equal(t.status, 0, t.stderr);
    const d = run('doctor', '--checkpoint', ckpt);
    assert.equal(d.status, 0, d.stderr);
    assert.match(d.stdout, /mlp\/batch, sgd, batch 64: no findings/);
    const e = run('eval', '--checkpoint', ckpt);
    assert.equal(e.status, 0, e.stderr);
    assert.doesNotMatch(e.stderr, /NORMKIT_BATCHNORM|ran in training mode/);
  });
});
