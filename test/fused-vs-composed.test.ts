// Every fused norm kernel against the same norm composed from primitive ops (mean, variance,
// sub, div, mul, add), forward and backward, on both backends; and the opt-in checkFinite.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import * as nk from '../src/index.js';
import type { Pool2dOptions } from '../src/ops/pool.js';
import { assertClose } from './helpers.js';

const { nn } = nk;

/** (x − mean) / sqrt(var + eps) over dims, composed from public ops. */
function composedNormalize(x: nk.Tensor, dims: number[], eps: number): nk.Tensor {
  const mean = nk.mean(x, dims, true);
  const c = x.sub(mean);
  const v = nk.mean(c.mul(c), dims, true);
  return c.div(nk.sqrt(v.add(eps)));
}

function channel(t: nk.Tensor, rank: number): nk.Tensor {
  return t.reshape([1, t.size, ...new Array(rank - 2).fill(1)]);
}

interface Case {
  name: string;
  shape: number[];
  params: number[][]; // parameter shapes
  fused: (x: nk.Tensor, p: nk.Tensor[]) => nk.Tensor;
  composed: (x: nk.Tensor, p: nk.Tensor[]) => nk.Tensor;
}

const eps = 1e-5;
const cases: Case[] = [
  {
    name: 'BatchNorm (training)',
    shape: [5, 3, 4, 3],
    params: [[3], [3]],
    fused: (x, [w, b]) => nk.batchNorm(x, null, null, w, b, { training: true }),
    composed: (x, [w, b]) =>
      composedNormalize(x, [0, 2, 3], eps).mul(channel(w, 4)).add(channel(b, 4)),
  },
  {
    name: 'BatchNorm + ReLU (fused pass)',
    shape: [5, 3, 7],
    params: [[3], [3]],
    fused: (x, [w, b]) => nk.batchNorm(x, null, null, w, b, { training: true, relu: true }),
    composed: (x, [w, b]) =>
      nk.relu(composedNormalize(x, [0, 2], eps).mul(channel(w, 3)).add(channel(b, 3))),
  },
  {
    // [N, C]: the column passes, whose backward masks g before its sums.
    name: 'BatchNorm1d on features + ReLU (fused pass)',
    shape: [9, 5],
    params: [[5], [5]],
    fused: (x, [w, b]) => nk.batchNorm(x, null, null, w, b, { training: true, relu: true }),
    composed: (x, [w, b]) =>
      nk.relu(composedNormalize(x, [0], eps).mul(channel(w, 2)).add(channel(b, 2))),
  },
  {
    name: 'GroupNorm',
    shape: [3, 6, 5, 3],
    params: [[6], [6]],
    fused: (x, [w, b]) => nk.groupNorm(x, 2, w, b),
    composed: (x, [w, b]) =>
      composedNormalize(x.reshape([3, 2, 3 * 15]), [2], eps)
        .reshape([3, 6, 5, 3])
        .mul(channel(w, 4))
        .add(channel(b, 4)),
  },
  {
    name: 'InstanceNorm',
    shape: [3, 4, 5, 3],
    params: [],
    fused: (x) => nk.instanceNorm(x),
    composed: (x) => composedNormalize(x, [2, 3], eps),
  },
  {
    name: 'LayerNorm',
    shape: [4, 3, 7],
    params: [
      [3, 7],
      [3, 7],
    ],
    fused: (x, [w, b]) => nk.layerNorm(x, [3, 7], w, b),
    composed: (x, [w, b]) => composedNormalize(x, [1, 2], eps).mul(w).add(b),
  },
];

describe('fused norm kernels equal their composition from primitive ops', () => {
  for (const c of cases) {
    for (const backend of ['js', 'wasm'] as const) {
      it(`${c.name} (${backend}), forward and backward`, () => {
        nk.setBackend(backend);
        try {
          nk.manualSeed(9);
          const x0 = nk.randn(c.shape, { mean: 0.5, std: 2 });
          const p0 = c.params.map((s) => nk.randn(s));
          const run = (f: Case['fused']) => {
            const x = nk.tensor(x0.toArray(), x0.shape, { requiresGrad: true });
            const ps = p0.map((p) => nk.tensor(p.toArray(), p.shape, { requiresGrad: true }));
            const y = f(x, ps);
            y.mul(nk.arange(y.size).reshape(y.shape).mul(0.01)).sum().backward();
            return [y, x, ...ps].map((t, i) => Array.from((i === 0 ? t : t.grad!).data));
          };
          const fused = run(c.fused),
            composed = run(c.composed);
          fused.forEach((v, i) =>
            assertClose(v, composed[i], {
              rtol: 1e-4,
              atol: 1e-4,
              what: `${i === 0 ? 'output' : `gradient ${i}`}`,
            }),
          );
        } finally {
          nk.setBackend('wasm');
        }
      });
    }
  }
});

describe('checkFinite and constructor validation across the family', () => {
  const layers: [string, () => nk.nn.Module, number[]][] = [
    ['BatchNorm2d(2)', () => new nn.BatchNorm2d(2, { checkFinite: true }), [2, 2, 2, 2]],
    ['GroupNorm(1, 2)', () => new nn.GroupNorm(1, 2, { checkFinite: true }), [2, 2, 2, 2]],
    ['LayerNorm([2])', () => new nn.LayerNorm([2], { checkFinite: true }), [2, 2, 2, 2]],
    ['InstanceNorm2d(2)', () => new nn.InstanceNorm2d(2, { checkFinite: true }), [2, 2, 2, 2]],
    ['RMSNorm([2])', () => new nn.RMSNorm([2], { checkFinite: true }), [2, 2, 2, 2]],
  ];
  for (const [name, make, shape] of layers) {
    it(`${name} names itself and the bad element`, () => {
      const x = nk.randn(shape).toArray();
      x[5] = Infinity;
      const escaped = name.replace(/[()[\]]/g, (ch) => `\\${ch}`);
      assert.throws(
        () => make().call(nk.tensor(x, shape)),
        new RegExp(
          `${escaped}: input \\[2, 2, 2, 2\\] holds Infinity at flat index 5 \\(checkFinite\\)`,
        ),
      );
    });
  }

  it('non-positive eps is refused by every norm', () => {
    assert.throws(() => new nn.GroupNorm(1, 2, { eps: 0 }), /GroupNorm: expected eps > 0, got 0/);
    assert.throws(() => new nn.LayerNorm(2, { eps: -1 }), /LayerNorm: expected eps > 0, got -1/);
    assert.throws(
      () => new nn.InstanceNorm1d(2, { eps: 0 }),
      /InstanceNorm1d: expected eps > 0, got 0/,
    );
    assert.throws(() => new nn.RMSNorm(2, { eps: 0 }), /RMSNorm: expected eps > 0, got 0/);
    assert.throws(
      () => nk.layerNorm(nk.zeros([2, 2]), [2], null, null, 0),
      /layerNorm: expected eps > 0, got 0/,
    );
  });

  it('masked batch norm gradients equal BatchNorm1d on the real positions alone', () => {
    const x0 = nk.randn([2, 2, 3], { mean: 1 });
    const mask = nk.tensor([1, 1, 0, 1, 1, 1], [2, 3]);
    const real = [
      [0, 0],
      [0, 1],
      [1, 0],
      [1, 1],
      [1, 2],
    ];
    const m = new nn.MaskedBatchNorm1d(2);
    const x = nk.tensor(x0.toArray(), x0.shape, { requiresGrad: true });
    // Loss over real positions only: padded outputs carry weight 0.
    const k = nk.tensor(
      Array.from({ length: 12 }, (_, i) => (i % 3 === 2 && i < 6 ? 0 : i + 1)),
      [2, 2, 3],
    );
    m.call(x, mask).mul(k).sum().backward();
    const X = x0.toArray(),
      K = k.toArray(),
      rows: number[] = [],
      kr: number[] = [];
    for (const [n, l] of real)
      for (let c = 0; c < 2; c++) (rows.push(X[n * 6 + c * 3 + l]), kr.push(K[n * 6 + c * 3 + l]));
    const xb = nk.tensor(rows, [5, 2], { requiresGrad: true });
    const bn = new nn.BatchNorm1d(2);
    bn.call(xb)
      .mul(nk.tensor(kr, [5, 2]))
      .sum()
      .backward();
    const G = x.grad!.toArray(),
      GB = xb.grad!.toArray();
    real.forEach(([n, l], r) => {
      for (let c = 0; c < 2; c++)
        assertClose([G[n * 6 + c * 3 + l]], [GB[r * 2 + c]], { rtol: 1e-4, atol: 1e-5 });
    });
    assert.equal(G[2], 0); // the padded position of sample 0, channel 0
    assert.equal(G[5], 0);
    assertClose(m.weight!.grad!.data, bn.weight!.grad!.data, { rtol: 1e-4, atol: 1e-5 });
  });
});

describe('ReLU then MaxPool2d in a Sequential (the ReLU runs after the pool)', () => {
  const settings: [number | [number, number], Pool2dOptions][] = [
    [2, {}],
    [3, { stride: 2, padding: 1 }],
    [[2, 3], { stride: 1, ceilMode: true }],
    [3, { stride: 2, ceilMode: true, padding: 1 }],
  ];
  // Whole numbers around 0: windows with ties, zeros and only negatives; and a NaN.
  const g = new nk.Generator(5);
  const values = Array.from({ length: 2 * 3 * 7 * 9 }, (_, i) =>
    i === 40 ? NaN : Math.round(2 * g.normal()),
  );
  after(() => nk.setBackend('wasm'));
  for (const backend of ['wasm', 'js'] as const)
    for (const [kernel, options] of settings) {
      it(`equals ReLU and pool run apart, values and gradients bit for bit (${backend}, ${JSON.stringify([kernel, options])})`, () => {
        nk.setBackend(backend);
        const run = (hooked: boolean) => {
          const relu = new nn.ReLU();
          const pool = new nn.MaxPool2d(kernel, options);
          // A hooked layer runs on its own (Sequential fuses no hooked pair).
          if (hooked) relu.registerForwardHook(() => undefined);
          const x = nk.tensor(values, [2, 3, 7, 9], { requiresGrad: true });
          const y = new nn.Sequential(relu, pool).call(x);
          nk.manualSeed(9);
          y.mul(nk.randn(y.shape)).sum().backward();
          return [Array.from(y.data), Array.from(x.grad!.data)];
        };
        const [y1, g1] = run(false),
          [y0, g0] = run(true);
        assert.deepEqual(y1, y0);
        assert.deepEqual(g1, g0);
        assert.ok(y1.some((v) => v === 0) && g1.some((v) => v !== 0));
      });
    }
});

describe('BasicBlock runs its layers as a chain (BatchNorm + ReLU fused)', () => {
  it('equals the block with its layers run apart, output, gradients and running statistics bit for bit', () => {
    nk.setBackend('wasm');
    const run = (hooked: boolean) => {
      nk.manualSeed(3);
      const block = new nn.BasicBlock(4, 8, 2, (c) => new nn.BatchNorm2d(c));
      // A hooked norm runs on its own: the block's composition without fusion.
      if (hooked) block.bn1.registerForwardHook(() => undefined);
      const x = nk.randn([3, 4, 9, 7], { requiresGrad: true });
      const y = block.call(x);
      y.mul(y).sum().backward();
      return [
        Array.from(y.data),
        Array.from(x.grad!.data),
        ...block.parameters().map((p) => Array.from(p.grad!.data)),
        ...block.buffers().map((b) => Array.from(b.data)),
      ];
    };
    const fused = run(false),
      apart = run(true);
    fused.forEach((v, i) => assert.deepEqual(v, apart[i], `part ${i}`));
  });
});
