// The Lipschitz bound and certificates: exact for one linear layer (float64 eigenvalues),
// never below what perturbations measure, refusing what it cannot bound; certificates that
// name whatever changed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as nk from '../src/node.js';
import { symmetricEigenvalues } from '../src/lab/eigen.js';

const { nn } = nk;

/** σ_max of the linear map f (input shape s) from its dense matrix, in float64. */
function exactNorm(f: (x: nk.Tensor) => nk.Tensor, s: number[]): number {
  const n = s.reduce((a, b) => a * b, 1);
  const cols: Float32Array[] = [];
  for (let j = 0; j < n; j++) {
    const e = nk.zeros([1, ...s]);
    e.data[j] = 1;
    cols.push(nk.noGrad(() => f(e)).toArray() as Float32Array);
  }
  const m = cols[0].length;
  const ata = new Float64Array(n * n);
  for (let a = 0; a < n; a++)
    for (let b = 0; b < n; b++) {
      let sum = 0;
      for (let r = 0; r < m; r++) sum += cols[a][r] * cols[b][r];
      ata[a * n + b] = sum;
    }
  const e = symmetricEigenvalues(ata, n);
  return Math.sqrt(e[n - 1]);
}

/** The largest ‖f(x+δ) − f(x)‖/‖δ‖ found by random directions and gradient ascent on δ. */
function empirical(model: nk.nn.Module, x: nk.Tensor): number {
  let best = 0;
  const fx = nk.noGrad(() => model.call(x));
  const ratio = (d: nk.Tensor) =>
    nk.noGrad(() => {
      const diff = model.call(x.add(d)).sub(fx);
      return Math.sqrt(diff.mul(diff).sum().item() / d.mul(d).sum().item());
    });
  for (let i = 0; i < 30; i++) best = Math.max(best, ratio(nk.randn(x.shape, { std: 1e-2 })));
  let d = nk.randn(x.shape, { std: 1e-2 });
  for (let i = 0; i < 60; i++) {
    d.requiresGrad = true;
    const diff = model.call(x.add(d)).sub(fx);
    diff.mul(diff).sum().div(d.mul(d).sum()).backward();
    const g = d.grad!;
    const next = nk.noGrad(() => {
      const step = d.add(g.mul(1e-4));
      return step.mul(1e-2 / Math.sqrt(step.mul(step).sum().item() / step.size));
    });
    best = Math.max(best, ratio(next));
    d = next;
  }
  return best;
}

describe('Lipschitz bound', () => {
  it('equals σ_max of a single Linear and of a strided, padded, dilated Conv2d', () => {
    nk.manualSeed(1);
    const lin = new nn.Linear(7, 5).eval();
    const b = nk.lipschitzBound(lin, { inputShape: [7] });
    const exact = exactNorm((x) => nk.matmul(x, lin.weight.transpose(0, 1)), [7]);
    assert.ok(Math.abs(b.bound - exact) <= 1e-3 * exact, `${b.bound} vs ${exact}`);
    assert.equal(b.layers[0].method, 'power iteration');
    const conv = new nn.Conv2d(2, 3, 3, { stride: 2, padding: 1, dilation: 2 }).eval();
    const c = nk.lipschitzBound(conv, { inputShape: [2, 6, 5] });
    const ce = exactNorm(
      (x) => nk.conv2d(x, conv.weight, null, { stride: 2, padding: 1, dilation: 2 }),
      [2, 6, 5],
    );
    assert.ok(Math.abs(c.bound - ce) <= 1e-3 * ce, `${c.bound} vs ${ce}`);
  });

  it('is never below what perturbations measure: CNN with BatchNorm, residual blocks, pooling', () => {
    nk.manualSeed(2);
    const cnn = new nn.Sequential(
      new nn.Conv2d(1, 4, 3, { padding: 1 }),
      new nn.BatchNorm2d(4),
      new nn.ReLU(),
      new nn.MaxPool2d(2),
      new nn.BasicBlock(4, 6, 2, (c) => new nn.BatchNorm2d(c)),
      new nn.AvgPool2d(2, { stride: 1 }),
      new nn.Flatten(),
      new nn.Linear(6 * 2 * 2, 3),
    );
    nk.recalibrateBatchNorm(cnn, [nk.randn([8, 1, 12, 12]), nk.randn([8, 1, 12, 12])]);
    cnn.eval();
    const b = nk.lipschitzBound(cnn, { inputShape: [1, 12, 12] });
    assert.ok(
      cnn.parameters().every((p) => p.grad === null),
      'the bound leaves no gradients',
    );
    const x = nk.randn([1, 1, 12, 12]);
    const seen = empirical(cnn, x);
    assert.ok(seen > 0 && seen <= b.bound, `measured ${seen}, bound ${b.bound}`);
    assert.deepEqual(b.layers.map((l) => l.path).slice(0, 4), ['0', '1', '2', '3']);
    assert.ok(b.layers.some((l) => l.path === '4.downsample' && l.method === 'composition'));
  });

  it('refuses training mode, layers it cannot bound, and shapes that do not fit', () => {
    const m = new nn.Sequential(new nn.Linear(4, 4), new nn.LayerNorm(4), new nn.GroupNorm(2, 4));
    assert.throws(
      () => nk.lipschitzBound(m, { inputShape: [4] }),
      /is in training mode .*call model.eval\(\) first/,
    );
    m.eval();
    assert.throws(
      () => nk.lipschitzBound(m, { inputShape: [4] }),
      /lipschitzBound: cannot bound 1 LayerNorm\(\[4\]\); 2 GroupNorm\(2, 4\)/,
    );
    assert.throws(
      () => nk.lipschitzBound(m, { inputShape: [5] }),
      /inputShape \[5\] does not fit Sequential/,
    );
    assert.throws(
      () => nk.lipschitzBound(m, { inputShape: [0] }),
      /expected inputShape to be one sample's shape/,
    );
  });
});

describe('certificates', () => {
  it('certify gives radii that hold, and verifyCertificate names what changed', () => {
    nk.manualSeed(3);
    const model = new nn.Sequential(
      new nn.Linear(6, 8),
      new nn.BatchNorm1d(8),
      new nn.ReLU(),
      new nn.Linear(8, 3),
    );
    nk.recalibrateBatchNorm(model, [nk.randn([16, 6])]);
    model.eval();
    const bound = nk.lipschitzBound(model, { inputShape: [6] });
    const x = nk.randn([20, 6]);
    const labels = Uint8Array.from(nk.argmaxRows(nk.noGrad(() => model.call(x))));
    labels[0] = (labels[0] + 1) % 3; // one wrong label
    const cert = nk.certify(model, x, { bound, labels });
    assert.equal(cert.radii[0], 0);
    assert.equal(cert.correct![0], false);
    assert.equal(nk.certifiedAccuracy(cert, 0), 19 / 20);
    // Perturbations inside a certified radius never change that sample's class.
    for (let i = 1; i < 20; i++) {
      const r = cert.radii[i];
      for (let k = 0; k < 10; k++) {
        const d = nk.randn([1, 6]);
        const scale = (0.99 * r) / Math.sqrt(d.mul(d).sum().item());
        const xi = nk.tensor(x.toArray().subarray(i * 6, (i + 1) * 6), [1, 6]).add(d.mul(scale));
        assert.equal(nk.argmaxRows(nk.noGrad(() => model.call(xi)))[0], cert.predictions[i]);
      }
    }
    assert.equal(nk.verifyCertificate(model, cert), true);
    nk.recalibrateBatchNorm(model, [nk.randn([16, 6], { mean: 1 })]);
    assert.throws(
      () => nk.verifyCertificate(model, cert),
      /verifyCertificate: the certificate no longer holds for Sequential: 1.running_mean, 1.running_var changed since/,
    );
    model.train();
    assert.throws(() => nk.certify(model, x, { bound }), /certify: Sequential is in training mode/);
    model.eval();
    assert.throws(
      () => nk.certify(model, x, { bound: NaN }),
      /expected a positive finite bound, got NaN/,
    );
    assert.throws(
      () => nk.certify(model, x, { bound, labels: [1, 2] }),
      /2 labels for a batch of 20/,
    );
  });
});
