// Batch Renormalization, ghost batch norm and masked batch norm.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { assertClose } from './helpers.js';

const { nn } = nk;

/** Output, input gradient (of sum(y·k)), weight/bias gradients and running stats per step. */
function trace(
  m: nk.nn.Module & { runningMean: nk.Tensor | null; runningVar: nk.Tensor | null },
  inputs: nk.Tensor[],
  mask?: nk.Tensor,
) {
  const out: number[][] = [];
  for (const x0 of inputs) {
    const x = nk.tensor(x0.toArray(), x0.shape, { requiresGrad: true });
    const y = mask ? m.call(x, mask) : m.call(x);
    y.mul(nk.arange(y.size).reshape(y.shape).mul(0.01)).sum().backward();
    out.push(Array.from(y.data), Array.from(x.grad!.data));
    for (const p of m.parameters()) out.push(Array.from(p.grad!.data));
    m.zeroGrad();
    out.push(Array.from(m.runningMean!.data), Array.from(m.runningVar!.data));
  }
  return out;
}

describe('Batch Renormalization', () => {
  it('with rMax 1 and dMax 0 is BatchNorm exactly (outputs, gradients, running stats)', () => {
    const xs = [0, 1, 2].map((i) => nk.randn([6, 3, 4, 2], { mean: i, std: 2 }));
    const a = trace(new nn.BatchRenorm2d(3), xs);
    const b = trace(new nn.BatchNorm2d(3), xs);
    a.forEach((v, i) => assertClose(v, b[i], { rtol: 1e-5, atol: 1e-6, what: `part ${i}` }));
  });

  it('applies clipped r and d from the running statistics, constant in the backward pass', () => {
    const m = new nn.BatchRenorm1d(2, { rMax: 1.5, dMax: 0.5 });
    m.runningMean!.data.set([1, -1]);
    m.runningVar!.data.set([0.25, 9]);
    m.weight!.data.set([2, -1]);
    m.bias!.data.set([0.5, 0]);
    const x0 = nk.tensor([0.1, 3, 2.2, -4, -0.7, 0.5, 1.9, 1.5], [4, 2]);
    const X = Array.from(x0.data);
    const rd = [0, 1].map((c) => {
      const v = X.filter((_, i) => i % 2 === c);
      const mu = v.reduce((s, t) => s + t, 0) / 4;
      const varB = v.reduce((s, t) => s + (t - mu) ** 2, 0) / 4;
      const sigma = Math.sqrt(m.runningVar!.data[c] + m.eps),
        sigmaB = Math.sqrt(varB + m.eps);
      const r = Math.min(1.5, Math.max(1 / 1.5, sigmaB / sigma));
      const d = Math.min(0.5, Math.max(-0.5, (mu - m.runningMean!.data[c]) / sigma));
      return { mu, sigmaB, r, d };
    });
    const w = [2, -1],
      b = [0.5, 0];
    const ref = X.map((v, i) => {
      const { mu, sigmaB, r, d } = rd[i % 2];
      return w[i % 2] * (((v - mu) / sigmaB) * r + d) + b[i % 2];
    });
    const x = nk.tensor(X, [4, 2], { requiresGrad: true });
    const y = m.call(x);
    assertClose(y.data, ref, { rtol: 1e-5, atol: 1e-5 });
    y.mul(nk.tensor([1, 2, 3, 4, 5, 6, 7, 8], [4, 2]))
      .sum()
      .backward();
    // r, d constant: dx is BatchNorm's input gradient with weight γ·r.
    const bn = new nn.BatchNorm1d(2);
    bn.weight!.data.set([w[0] * rd[0].r, w[1] * rd[1].r]);
    const xb = nk.tensor(X, [4, 2], { requiresGrad: true });
    bn.call(xb)
      .mul(nk.tensor([1, 2, 3, 4, 5, 6, 7, 8], [4, 2]))
      .sum()
      .backward();
    assertClose(x.grad!.data, xb.grad!.data, { rtol: 1e-4, atol: 1e-5 });
  });

  it("relaxes rMax and dMax on the paper's schedule", () => {
    assert.deepEqual(nn.renormLimits(0), { rMax: 1, dMax: 0 });
    const mid = nn.renormLimits(5000 + 20000);
    assertClose([mid.rMax, mid.dMax], [2, 4]);
    assert.deepEqual(nn.renormLimits(1e6), { rMax: 3, dMax: 5 });
    const m = new nn.BatchRenorm1d(2, { schedule: { warmupSteps: 1, rMaxSteps: 2, dMaxSteps: 2 } });
    for (let i = 0; i < 3; i++) m.call(nk.randn([4, 2]));
    assert.deepEqual([m.rMax, m.dMax], [2, 2.5]); // third call: one step past warm-up, half way up
    assert.throws(() => new nn.BatchRenorm2d(2, { rMax: 0.5 }), /expected rMax >= 1 and dMax >= 0/);
  });
});

describe('ghost batch norm', () => {
  it('normalizes each virtual batch separately and moves running stats by their mean', () => {
    const x = nk.randn([10, 3, 2], { mean: 1 });
    const ghost = new nn.BatchNorm1d(3, { virtualBatchSize: 4 });
    const y = ghost.call(x);
    const chunks = [
      [0, 4],
      [4, 8],
      [8, 10],
    ].map(([a, b]) => nk.slice(x, 0, a, b));
    const parts = chunks.map((c) => new nn.BatchNorm1d(3, { trackRunningStats: false }).call(c));
    assertClose(y.data, nk.concat(parts, 0).data, { rtol: 1e-6, atol: 1e-6 });
    const means = chunks.map((c) => Array.from(nk.mean(c, [0, 2]).data));
    const vars = chunks.map((c) => Array.from(nk.variance(c, [0, 2]).data)); // unbiased
    for (let c = 0; c < 3; c++) {
      const mm = (means[0][c] + means[1][c] + means[2][c]) / 3;
      const vv = (vars[0][c] + vars[1][c] + vars[2][c]) / 3;
      assertClose(
        [ghost.runningMean!.data[c], ghost.runningVar!.data[c]],
        [0.1 * mm, 0.9 + 0.1 * vv],
        { rtol: 1e-5 },
      );
    }
    ghost.eval();
    const evalRef = nk.batchNorm(x, ghost.runningMean, ghost.runningVar, ghost.weight, ghost.bias, {
      training: false,
    });
    assertClose(ghost.call(x).data, evalRef.data, { rtol: 0, atol: 0 }); // eval ignores virtual batches
    assert.throws(
      () => new nn.BatchNorm2d(3, { virtualBatchSize: 0 }),
      /virtualBatchSize to be a positive integer, got 0/,
    );
  });
});

describe('masked batch norm', () => {
  it('with an all-ones mask is BatchNorm1d', () => {
    const xs = [0, 1].map((i) => nk.randn([3, 2, 5], { mean: i }));
    const ones = nk.ones([3, 5]);
    const a = trace(new nn.MaskedBatchNorm1d(2) as any, xs, ones);
    const b = trace(new nn.BatchNorm1d(2) as any, xs);
    a.forEach((v, i) => assertClose(v, b[i], { rtol: 1e-5, atol: 1e-5, what: `part ${i}` }));
  });

  it('excludes padded positions from batch and running statistics', () => {
    const x = nk.randn([2, 3, 4], { mean: 2 });
    const mask = nk.tensor([1, 1, 1, 0, 1, 1, 0, 0], [2, 4]);
    const m = new nn.MaskedBatchNorm1d(3);
    const y = m.call(x, mask);
    // The same values without padding, as a [n, C] batch for BatchNorm1d.
    const X = x.toArray(),
      rows: number[] = [];
    const keep = [
      [0, 0],
      [0, 1],
      [0, 2],
      [1, 0],
      [1, 1],
    ];
    for (const [n, l] of keep) for (let c = 0; c < 3; c++) rows.push(X[n * 12 + c * 4 + l]);
    const bn = new nn.BatchNorm1d(3);
    const yb = bn.call(nk.tensor(rows, [5, 3])).toArray();
    const Y = y.toArray();
    keep.forEach(([n, l], k) => {
      for (let c = 0; c < 3; c++)
        assertClose([Y[n * 12 + c * 4 + l]], [yb[k * 3 + c]], { rtol: 1e-5, atol: 1e-5 });
    });
    assertClose(m.runningMean!.data, bn.runningMean!.data, { rtol: 1e-5, atol: 1e-6 });
    assertClose(m.runningVar!.data, bn.runningVar!.data, { rtol: 1e-5, atol: 1e-6 });
  });

  it('refuses bad masks and leaves the running statistics untouched', () => {
    const m = new nn.MaskedBatchNorm1d(2);
    const x = nk.randn([2, 2, 3]);
    assert.throws(
      () => m.call(x, nk.ones([2, 4])),
      /MaskedBatchNorm1d\(2\): expected mask \[2, 3\] for input \[2, 2, 3\], got \[2, 4\]/,
    );
    assert.throws(
      () => m.call(x, nk.full([2, 3], 0.5)),
      /mask values must be 0 or 1, got 0.5 at 0/,
    );
    assert.throws(
      () => m.call(x, nk.tensor([1, 0, 0, 0, 0, 0], [2, 3])),
      /Expected more than 1 unmasked value per channel when training, got 1/,
    );
    assert.deepEqual(Array.from(m.runningMean!.data), [0, 0]);
    assert.deepEqual(Array.from(m.runningVar!.data), [1, 1]);
    assert.equal(m.numBatchesTracked, 0);
  });
});
