// foldBatchNorm: folded copies give the unfolded eval outputs (float32 and float64) for every
// foldable layer kind (groups, stride, dilation, transposed, no bias, no affine), the CLI's
// CNN and ResNet; the original is untouched; what cannot fold is reported or refused. The
// folding eval-mode Sequential does on its own under noGrad. And cloneModule, which folding
// builds on.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { buildModel } from '../src/train/models.js';
import { assertClose } from './helpers.js';

const { nn } = nk;

/** Running statistics and affine parameters far from their initial values. */
function randomizeNorms(m: nk.nn.Module): void {
  for (const [, mod] of m.namedModules()) {
    if (!(mod instanceof nn.BatchNormBase)) continue;
    const C = mod.numFeatures;
    const put = (t: nk.Tensor | null, f: (c: number) => number) =>
      t?.data.set(Array.from({ length: C }, (_, c) => f(c)));
    put(mod.runningMean, (c) => Math.sin(c + 1));
    put(mod.runningVar, (c) => 0.2 + (c % 5) * 0.4);
    put(mod.weight, (c) => 0.5 + Math.cos(c));
    put(mod.bias, (c) => 0.3 * Math.sin(3 * c));
  }
}

const countNorms = (m: nk.nn.Module) =>
  m.namedModules().filter(([, x]) => x instanceof nn.BatchNormBase).length;

describe('foldBatchNorm', () => {
  it('every foldable layer kind, float32 and float64: folded equals unfolded', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      nk.manualSeed(4);
      const model = new nn.Sequential(
        new nn.Conv2d(4, 6, 3, { stride: 2, padding: 1, groups: 2 }),
        new nn.BatchNorm2d(6),
        new nn.ReLU(),
        new nn.ConvTranspose2d(6, 4, 4, { stride: 2, padding: 1, groups: 2, bias: false }),
        new nn.BatchNorm2d(4, { affine: false }),
        new nn.Conv2d(4, 3, 3, { dilation: 2, padding: 2, bias: false }),
        new nn.BatchNorm2d(3),
        new nn.Flatten(),
        new nn.Linear(3 * 8 * 8, 5),
        new nn.BatchNorm1d(5),
      );
      randomizeNorms(model);
      const x = nk.randn([3, 4, 8, 8], { dtype });
      const m = dtype === 'float64' ? nn.cloneModule(model, { dtype }) : model;
      const before = Object.fromEntries(
        Object.entries(m.stateDict()).map(([k, t]) => [k, Array.from(t.data)]),
      );
      const { model: folded, report } = nk.foldBatchNorm(m, { batch: x });
      assert.equal(report.folded.length, 4);
      assert.equal(report.left.length, 0);
      assert.equal(countNorms(folded), 0);
      assert.ok(
        report.maxAbsDiff! < (dtype === 'float64' ? 1e-12 : 1e-5),
        String(report.maxAbsDiff),
      );
      // The original is untouched, training mode included.
      assert.ok(m.training);
      for (const [k, t] of Object.entries(m.stateDict()))
        assert.deepEqual(Array.from(t.data), before[k], k);
      m.eval();
      const want = nk.noGrad(() => m.call(x)).toArray();
      assertClose(nk.noGrad(() => folded.call(x)).toArray(), want, {
        rtol: dtype === 'float64' ? 1e-12 : 1e-5,
        atol: dtype === 'float64' ? 1e-12 : 1e-5,
        what: dtype,
      });
    }
    for (const [seq, x] of [
      [new nn.Sequential(new nn.Conv1d(3, 4, 3, { padding: 1 }), new nn.BatchNorm1d(4)), [2, 3, 9]],
      [new nn.Sequential(new nn.Linear(3, 4), new nn.BatchRenorm1d(4)), [5, 3]],
      [new nn.Sequential(new nn.Conv1d(3, 4, 1), new nn.MaskedBatchNorm1d(4)), [2, 3, 6]],
    ] as const) {
      randomizeNorms(seq);
      const r = nk.foldBatchNorm(seq, { batch: nk.randn([...x]) }).report;
      assert.equal(r.folded.length, 1);
      assert.ok(r.maxAbsDiff! < 1e-5, String(r.maxAbsDiff));
    }
  });

  it("the CLI's CNN and ResNet fold completely; the report names every pair", () => {
    for (const kind of ['cnn', 'resnet'] as const) {
      nk.manualSeed(7);
      const m = buildModel({ model: kind, norm: 'batch', width: 8 });
      randomizeNorms(m);
      const x = nk.rand([5, 1, 28, 28]);
      const { model: folded, report } = nk.foldBatchNorm(m, { batch: x });
      assert.equal(countNorms(folded), 0, kind);
      assert.equal(report.folded.length, countNorms(m), kind);
      assert.ok(report.maxAbsDiff! < 1e-4, `${kind}: ${report.maxAbsDiff}`);
      assert.ok(!folded.training);
    }
    const cnn = buildModel({ model: 'cnn', norm: 'batch', width: 8 });
    const { report } = nk.foldBatchNorm(cnn);
    assert.deepEqual(
      report.folded.map((f) => [f.layer, f.norm]),
      [
        ['0 Conv2d(1, 8, 3x3, padding=1, bias=false)', '1 BatchNorm2d(8)'],
        ['4 Conv2d(8, 16, 3x3, padding=1, bias=false)', '5 BatchNorm2d(16)'],
        ['9 Linear(784, 128, bias=false)', '10 BatchNorm1d(128)'],
      ],
    );
    assert.equal(report.maxAbsDiff, null);
  });

  it('what cannot fold is left with a reason, or refused', () => {
    const m = new nn.Sequential(
      new nn.Linear(3, 4),
      new nn.ReLU(),
      new nn.BatchNorm1d(4),
      new nn.Linear(4, 4),
      new nn.BatchNorm1d(4),
    );
    m.namedModules()[4][1].registerForwardHook(() => undefined);
    const { report } = nk.foldBatchNorm(m);
    assert.deepEqual(report.folded, []);
    assert.deepEqual(
      report.left.map((l) => l.reason),
      [
        'a hook is registered on it or on the layer before',
        'it does not read a Linear or convolution directly (in a Sequential, BasicBlock or imported ONNX graph)',
      ],
    );
    const noStats = new nn.Sequential(
      new nn.Conv2d(1, 2, 3),
      new nn.BatchNorm2d(2, { trackRunningStats: false }),
    );
    assert.throws(
      () => nk.foldBatchNorm(noStats),
      /foldBatchNorm: 1 BatchNorm2d\(2, trackRunningStats=false\) has no running statistics/,
    );
  });
});

describe('eval-mode Sequential folds BatchNorm into the layer before it', () => {
  /** Counts the passes of every BatchNorm in m (forward, or fused with the ReLU after it). */
  function countNormCalls(m: nk.nn.Module): () => number {
    let calls = 0;
    for (const [, mod] of m.namedModules()) {
      if (!(mod instanceof nn.BatchNormBase)) continue;
      const norm = mod as unknown as { run: (...a: unknown[]) => nk.Tensor };
      const run = norm.run.bind(mod);
      norm.run = (...a: unknown[]) => (calls++, run(...a));
    }
    return () => calls;
  }

  it("the CLI's CNN under noGrad: the same outputs, its conv+BN pairs folded", () => {
    nk.manualSeed(3);
    const model = buildModel({ model: 'cnn', norm: 'batch', width: 8 });
    randomizeNorms(model);
    model.eval();
    const calls = countNormCalls(model);
    const x = nk.randn([5, 1, 28, 28]);
    const unfused = nk.tidy(() => model.call(x).toArray()); // gradients recorded: not folded
    assert.equal(calls(), 3, 'with gradients recorded every norm runs');
    const fused = nk.noGrad(() => nk.tidy(() => model.call(x).toArray()));
    // Both convolutions' norms fold; the linear layer's norm runs (its weight, 392 x 128, is
    // larger than its output: folding it per call would cost more than the norm).
    assert.equal(calls(), 4, 'under noGrad only the linear layer norm runs');
    assertClose(fused, unfused, { rtol: 1e-5, atol: 1e-5, what: 'folded eval output' });
    // One image: the second convolution's output (16 x 14 x 14) is under 8x its weight
    // (16 x 8 x 3 x 3), so its norm runs as well.
    nk.noGrad(() => nk.tidy(() => model.call(nk.randn([1, 1, 28, 28]))));
    assert.equal(calls(), 6);
  });

  it('not while training, nor for a norm without running statistics, nor when hooked', () => {
    const conv = new nn.Conv2d(2, 3, 3, { padding: 1 });
    const seq = (bn: nk.nn.Module) => new nn.Sequential(conv, bn);
    const x = nk.randn([2, 2, 12, 12]); // output 864 values, over 8x the weight (54)
    const cases: [string, nk.nn.Sequential, boolean][] = [
      ['training mode', seq(new nn.BatchNorm2d(3)).train(), true],
      [
        'trackRunningStats false',
        seq(new nn.BatchNorm2d(3, { trackRunningStats: false })).eval(),
        true,
      ],
      ['eval mode', seq(new nn.BatchNorm2d(3)).eval(), false],
    ];
    for (const [what, m, runs] of cases) {
      const calls = countNormCalls(m);
      nk.noGrad(() => nk.tidy(() => m.call(x)));
      assert.equal(calls() > 0, runs, `${what}: the norm ${runs ? 'runs' : 'is folded'}`);
    }
    const hooked = seq(new nn.BatchNorm2d(3)).eval();
    const calls = countNormCalls(hooked);
    const h = hooked.layers[1].registerForwardHook(() => {});
    nk.noGrad(() => nk.tidy(() => hooked.call(x)));
    h.remove();
    assert.equal(calls(), 1, 'a hooked norm runs on its own');
  });
});

describe('cloneModule', () => {
  it('copies deeply, keeps shared references shared, and does not copy a parent', () => {
    const block = new nn.BasicBlock(2, 4, 2, (c) => new nn.BatchNorm2d(c));
    const outer = new nn.Sequential(block, new nn.ReLU());
    const c = nn.cloneModule(block);
    assert.notEqual(c, block);
    assert.equal(c.path, '');
    assert.equal(c.namedChildren().find(([n]) => n === 'bn1')![1], c.bn1);
    assert.notEqual(c.conv1.weight, block.conv1.weight);
    assert.ok(c.conv1.weight.requiresGrad);
    const x = nk.randn([2, 2, 6, 6]);
    block.eval();
    c.eval();
    assert.deepEqual(Array.from(c.call(x).data), Array.from(block.call(x).data));
    c.conv1.weight.data.fill(0);
    assert.notEqual(block.conv1.weight.data[0], 0);
    assert.equal(outer.layers[0], block);
    const d = nn.cloneModule(block, { dtype: 'float64' }).eval();
    assert.equal(d.conv1.weight.dtype, 'float64');
    assert.equal((d.bn1 as nk.nn.BatchNorm2d).runningVar!.dtype, 'float64');
    assertClose(d.call(x.to('float64')).toArray(), block.call(x).toArray(), {
      rtol: 1e-5,
      atol: 1e-5,
    });
    assert.throws(
      () => nn.cloneModule(block, { dtype: 'float32' as 'float64' }),
      /dtype can be 'float64' only/,
    );
  });
});
