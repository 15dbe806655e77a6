import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { buildModel } from '../src/train/models.js';
import { assertClose } from './helpers.js';

const { nn } = nk;

function smallNet() {
  return new nn.Sequential(
    new nn.Conv2d(1, 4, 3, { padding: 1 }),
    new nn.BatchNorm2d(4),
    new nn.ReLU(),
    new nn.Dropout(0.5),
    new nn.Flatten(),
    new nn.Linear(4 * 5 * 5, 3),
  );
}

describe('Module', () => {
  it('train()/eval() recurse into children', () => {
    const m = buildModel({ model: 'resnet', norm: 'batch', width: 4 });
    m.eval();
    assert.ok(m.namedModules().every(([, c]) => c.training === false));
    m.train();
    assert.ok(m.namedModules().every(([, c]) => c.training === true));
  });

  it('parameters and buffers are kept apart, with dotted names', () => {
    const m = smallNet();
    assert.deepEqual(
      m.namedParameters().map(([k]) => k),
      ['0.weight', '0.bias', '1.weight', '1.bias', '5.weight', '5.bias'],
    );
    assert.deepEqual(
      m.namedBuffers().map(([k]) => k),
      ['1.running_mean', '1.running_var', '1.num_batches_tracked'],
    );
    assert.equal(m.numParameters(), 4 * 9 + 4 + 4 + 4 + 100 * 3 + 3);
    assert.deepEqual(Object.keys(m.stateDict()).length, 9);
    const r = buildModel({ model: 'resnet', norm: 'batch', width: 4 });
    assert.ok(Object.keys(r.stateDict()).includes('4.downsample.1.running_var'));
  });

  it('loadStateDict copies values and checks keys and shapes before writing anything', () => {
    nk.manualSeed(1);
    const a = smallNet(),
      b = smallNet();
    b.loadStateDict(a.stateDict());
    assert.deepEqual(
      Array.from(b.stateDict()['5.weight'].data),
      Array.from(a.stateDict()['5.weight'].data),
    );
    const c = smallNet();
    const before = Array.from(c.stateDict()['0.weight'].data);
    const sd = { ...a.stateDict() };
    delete sd['1.running_var'];
    sd['extra.weight'] = nk.zeros([1]);
    assert.throws(
      () => c.loadStateDict(sd),
      /missing keys: 1.running_var; unexpected keys: extra.weight/,
    );
    const bad = { ...a.stateDict(), '5.weight': nk.zeros([3, 99]) };
    assert.throws(
      () => c.loadStateDict(bad),
      /size mismatch for 5.weight: expected \[3, 100\], got \[3, 99\]/,
    );
    assert.deepEqual(Array.from(c.stateDict()['0.weight'].data), before);
    const res = c.loadStateDict(sd, { strict: false });
    assert.deepEqual(res, { missing: ['1.running_var'], unexpected: ['extra.weight'] });
  });

  it('summary lists modules with parameter counts', () => {
    const s = smallNet().summary();
    assert.match(s, /0\s+Conv2d\(1, 4, 3x3, padding=1\)\s+40/);
    assert.match(s, /1\s+BatchNorm2d\(4\)\s+8/);
    assert.match(s, /total parameters: 351 \(trainable 351\)/);
  });

  it('Dropout is active in training and the identity in eval', () => {
    const d = new nn.Dropout(0.5);
    const x = nk.ones([1000]);
    const y = d.call(x).toArray();
    assert.ok(y.every((v) => v === 0 || v === 2));
    const zeros = y.filter((v) => v === 0).length;
    assert.ok(zeros > 400 && zeros < 600, `${zeros} zeros`);
    d.eval();
    assert.deepEqual(Array.from(d.call(x).data), Array.from(x.data));
  });

  it('layers name themselves and the shapes in errors', () => {
    const conv = new nn.Conv2d(3, 8, 3);
    assert.throws(
      () => conv.call(nk.zeros([8, 1, 28, 28])),
      /Conv2d\(3, 8, 3x3\): conv2d: expected input \[N, 3, H, W\], got \[8, 1, 28, 28\]/,
    );
    assert.throws(
      () => new nn.Linear(4, 2).call(nk.zeros([3, 5])),
      /linear: expected input \[\.\.\., 4\], got \[3, 5\]/,
    );
    assert.throws(() => new nn.GroupNorm(3, 8), /numChannels 8 to be divisible by numGroups 3/);
    assert.throws(() => new nn.Conv2d(3, 8, 3, { groups: 2 }), /must be divisible by groups 2/);
  });

  it('norm equivalences: LayerNorm over (C, H, W) = GroupNorm(1, C); InstanceNorm = GroupNorm(C, C)', () => {
    const x = nk.randn([2, 4, 3, 5]);
    const ln = nk.layerNorm(x, [4, 3, 5]);
    const gn1 = nk.groupNorm(x, 1);
    assertClose(ln.data, gn1.data, { rtol: 1e-6, atol: 1e-6 });
    const inorm = new nn.InstanceNorm2d(4, { affine: true });
    const gn = new nn.GroupNorm(4, 4);
    inorm.weight!.data.set([1, 2, 3, 4]);
    gn.weight!.data.set([1, 2, 3, 4]);
    assertClose(inorm.call(x).data, gn.call(x).data, { rtol: 1e-6, atol: 1e-6 });
  });

  it('RMSNorm equals the same norm composed from primitive ops, forward and backward', () => {
    const x0 = nk.randn([4, 3, 6], { mean: 1 });
    const w0 = nk.randn([3, 6]);
    const run = (fused: boolean) => {
      const x = nk.tensor(x0.toArray(), x0.shape, { requiresGrad: true });
      const w = nk.tensor(w0.toArray(), w0.shape, { requiresGrad: true });
      const y = fused
        ? nk.rmsNorm(x, [3, 6], w, 1e-6)
        : x.div(nk.sqrt(nk.mean(x.mul(x), [1, 2], true).add(1e-6))).mul(w);
      y.mul(nk.arange(y.size).reshape(y.shape)).sum().backward();
      return [y.data, x.grad!.data, w.grad!.data].map((a) => Array.from(a));
    };
    const [fused, composed] = [run(true), run(false)];
    fused.forEach((a, i) =>
      assertClose(a, composed[i], { rtol: 1e-4, atol: 1e-4, what: `part ${i}` }),
    );
    const m = new nn.RMSNorm([3, 6]);
    assert.equal(m.eps, 1.1920928955078125e-7);
    assert.throws(
      () => m.call(nk.zeros([2, 6, 3])),
      /RMSNorm\(\[3, 6\]\): expected input \[\*, 3, 6\], got \[2, 6, 3\]/,
    );
  });

  it('BasicBlock keeps the shape with stride 1 and projects the shortcut with stride 2', () => {
    const norm = (c: number) => new nn.BatchNorm2d(c);
    assert.deepEqual(
      new nn.BasicBlock(4, 4, 1, norm).call(nk.randn([2, 4, 6, 6])).shape,
      [2, 4, 6, 6],
    );
    const down = new nn.BasicBlock(4, 8, 2, norm);
    assert.deepEqual(down.call(nk.randn([2, 4, 6, 6])).shape, [2, 8, 3, 3]);
    assert.ok(down.downsample instanceof nn.Sequential);
  });
});

describe('init', () => {
  it('the same seed gives the same model bit for bit', () => {
    nk.manualSeed(42);
    const a = buildModel({ model: 'cnn', norm: 'batch', width: 4 });
    nk.manualSeed(42);
    const b = buildModel({ model: 'cnn', norm: 'batch', width: 4 });
    for (const [k, t] of Object.entries(a.stateDict()))
      assert.deepEqual(Array.from(b.stateDict()[k].data), Array.from(t.data), k);
  });

  it('Kaiming and Xavier have the stated spread', () => {
    const std = (t: nk.Tensor) =>
      Math.sqrt(Array.from(t.data).reduce((s, v) => s + v * v, 0) / t.size);
    const w = nk.empty([256, 128, 3, 3]);
    nn.init.kaimingNormal_(w, { nonlinearity: 'relu' });
    assert.ok(Math.abs(std(w) - Math.sqrt(2 / (128 * 9))) < 0.01 * Math.sqrt(2 / (128 * 9)) * 3);
    nn.init.kaimingUniform_(w, { nonlinearity: 'relu' });
    const bound = Math.sqrt(6 / (128 * 9));
    assert.ok(w.toArray().every((v) => Math.abs(v) <= bound));
    assert.ok(Math.abs(std(w) - Math.sqrt(2 / (128 * 9))) < 0.03 * Math.sqrt(2 / (128 * 9)));
    nn.init.xavierUniform_(w);
    const xb = Math.sqrt(6 / (128 * 9 + 256 * 9));
    assert.ok(w.toArray().every((v) => Math.abs(v) <= xb));
    nn.init.xavierNormal_(w);
    assert.ok(
      Math.abs(std(w) - Math.sqrt(2 / (128 * 9 + 256 * 9))) <
        0.03 * Math.sqrt(2 / (128 * 9 + 256 * 9)),
    );
  });

  it("Linear's default init is PyTorch's: U(±1/sqrt(fanIn)) for weight and bias", () => {
    const l = new nn.Linear(400, 300);
    const b = 1 / Math.sqrt(400);
    assert.ok(l.weight.toArray().every((v) => Math.abs(v) <= b));
    assert.ok(l.weight.toArray().some((v) => Math.abs(v) > 0.95 * b));
    assert.ok(l.bias!.toArray().every((v) => Math.abs(v) <= b));
  });
});

describe('fused BatchNorm + ReLU', () => {
  for (const backend of ['js', 'wasm'] as const) {
    it(`equals BatchNorm then ReLU, forward and backward, training and eval (${backend})`, () => {
      nk.setBackend(backend);
      try {
        nk.manualSeed(5);
        const x0 = nk.randn([6, 4, 5, 3]);
        const results = [true, false].map((fused) => {
          const bn = new nn.BatchNorm2d(4);
          bn.weight!.data.set([1, -2, 0.5, 3]);
          bn.bias!.data.set([0.1, 0.2, -0.3, 0]);
          const net = fused ? new nn.Sequential(bn, new nn.ReLU()) : null;
          const out: number[][] = [];
          for (const training of [true, true, false]) {
            bn.train(training);
            const x = nk.tensor(x0.toArray(), x0.shape, { requiresGrad: true });
            const y = net ? net.call(x) : nk.relu(bn.call(x));
            y.mul(nk.arange(y.size).reshape(y.shape)).sum().backward();
            out.push(
              Array.from(y.data),
              Array.from(x.grad!.data),
              Array.from(bn.weight!.grad!.data),
            );
            bn.zeroGrad();
          }
          out.push(Array.from(bn.runningMean!.data), Array.from(bn.runningVar!.data));
          return out;
        });
        results[0].forEach((a, i) =>
          assertClose(a, results[1][i], { rtol: 1e-5, atol: 1e-5, what: `part ${i}` }),
        );
      } finally {
        nk.setBackend('wasm');
      }
    });
  }
});
