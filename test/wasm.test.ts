// Every WASM kernel against the JS reference on random inputs with odd sizes (SIMD tails).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { assertClose } from './helpers.js';
import { channelLayout, jsNormPrimitives, rowLayout } from '../src/kernels/js/stats.js';
import { wasmNormPrimitives } from '../src/kernels/wasm/primitives.js';
import { setGrainScale } from '../src/kernels/wasm/threads.js';
import { wasmKernels } from '../src/kernels/wasm/loader.js';
import { makeWasmGemm, makeWasmPrepareB } from '../src/kernels/wasm/gemm.js';

/** Runs fn on the JS kernels and on the WASM kernels and returns both results. */
function both<T>(fn: () => T): [T, T] {
  nk.setBackend('js');
  const js = fn();
  nk.setBackend('wasm');
  return [js, fn()];
}

/** Output and input gradients of f on fixed inputs. */
function forwardBackward(
  f: (...xs: nk.Tensor[]) => nk.Tensor,
  inputs: nk.Tensor[],
): Float32Array[] {
  const xs = inputs.map((t) => nk.tensor(t.toArray(), t.shape, { requiresGrad: true }));
  const y = f(...xs);
  const w = nk.tensor(
    Float32Array.from({ length: y.size }, (_, i) => Math.sin(i)),
    y.shape,
  );
  y.mul(w).sum().backward();
  return [y.toArray() as Float32Array, ...xs.map((x) => x.grad!.toArray() as Float32Array)];
}

describe('WASM kernels equal the JS reference', () => {
  after(() => nk.setBackend('wasm'));

  it('loads in Node and is the default backend', () => {
    assert.equal(nk.wasmLoadError(), null);
    assert.equal(nk.getBackend(), 'wasm');
  });

  it('matmul on odd sizes, transposes and batches', () => {
    for (const [M, K, N] of [
      [1, 1, 1],
      [3, 5, 7],
      [13, 300, 9],
      [65, 17, 130],
      [4, 257, 8],
      [170, 520, 37], // several row blocks (MC) and equal K blocks (KC)
      [9, 7, 530], // two column blocks (NC)
    ]) {
      const a = nk.randn([M, K]),
        b = nk.randn([K, N]);
      const [js, wasm] = both(() => forwardBackward((x, y) => nk.matmul(x, y), [a, b]));
      js.forEach((v, i) =>
        assertClose(wasm[i], v, { rtol: 1e-4, atol: 1e-4, what: `[${M},${K},${N}] part ${i}` }),
      );
    }
    // One to four rows go without packing: dot products against a transposed B (a linear
    // layer's x · Wᵀ), rows of B added up otherwise; K and N with SIMD tails.
    for (const [M, K, N] of [
      [1, 3136, 128],
      [2, 37, 5],
      [3, 17, 9],
      [4, 1, 13],
      [5, 19, 7],
    ]) {
      const x = nk.randn([M, K]),
        w = nk.randn([N, K]),
        bias = nk.randn([N]);
      const [js, wasm] = both(() => forwardBackward((p, q, r) => nk.linear(p, q, r), [x, w, bias]));
      js.forEach((v, i) =>
        assertClose(wasm[i], v, {
          rtol: 1e-4,
          atol: 1e-4,
          what: `linear [${M},${K},${N}] part ${i}`,
        }),
      );
    }
    const inputs = [nk.randn([2, 1, 7, 5]), nk.randn([3, 5, 6])];
    const [js, wasm] = both(() => forwardBackward((x, y) => nk.matmul(x, y), inputs));
    js.forEach((v, i) =>
      assertClose(wasm[i], v, { rtol: 1e-4, atol: 1e-4, what: `batched part ${i}` }),
    );
  });

  it('a product the GEMM runs as Cᵀ = Bᵀ·Aᵀ has the bits of the one it runs as written', () => {
    const k = wasmKernels()!;
    for (const [M, K, N] of [
      [300, 200, 9], // a short last column panel: the transposed product has none
      [301, 600, 11], // three K blocks added into C, edge tiles both ways
      [2000, 512, 100], // a long A: fewer bytes packed the other way
    ]) {
      assert.equal(k.gemmSwaps(M, N, K), 1, `[${M},${K},${N}] runs transposed`);
      assert.equal(k.gemmSwaps(N, M, K), 0, `[${N},${K},${M}] runs as written`);
      const a = nk.randn([M, K]),
        b = nk.randn([K, N]);
      const swapped = nk.matmul(a, b).toArray() as Float32Array;
      const written = nk.ops.matmulTransposed(b, a, true, true).transpose(0, 1).toArray();
      assert.deepEqual(swapped, written, `[${M},${K},${N}]`);
    }
  });

  it("a B packed once for several products (makeWasmPrepareB) gives the GEMM's bits", () => {
    const gemm = makeWasmGemm(),
      prepare = makeWasmPrepareB(gemm);
    const mat = (t: nk.Tensor, rows: number, cols: number, tr = false) => ({
      data: t.data,
      offset: 0,
      rowStride: tr ? 1 : cols,
      colStride: tr ? rows : 1,
    });
    // [M, K, N, B stored transposed]: packed (M > 4, M < N), a few rows and M >= N (through
    // the GEMM as they come), B both ways, K over one block, edge panels.
    const cases: [number, number, number, boolean][] = [
      [64, 128, 512, true],
      [9, 600, 301, false],
      [3, 40, 70, true],
      [80, 30, 20, false],
      [8, 20, 1100, false], // three 512-column blocks on one thread
    ];
    for (const threads of [1, 2, 3]) {
      nk.setNumThreads(threads);
      setGrainScale(0);
      for (const [M, K, N, tr] of cases) {
        const b = nk.randn(tr ? [N, K] : [K, N]);
        const B = mat(b, K, N, tr);
        const warm = [nk.randn([M, K]), nk.randn([M, N])];
        gemm(M, N, K, mat(warm[0], M, K), B, mat(warm[1], M, N), false); // scratch grows here
        const before = nk.memoryStats().bytesInUse;
        const shared = prepare(M, N, K, B);
        for (const accumulate of [false, true]) {
          const a = nk.randn([M, K]);
          const c1 = nk.randn([M, N]),
            c2 = nk.clone(c1);
          gemm(M, N, K, mat(a, M, K), B, mat(c1, M, N), accumulate);
          shared.run(M, mat(a, M, K), mat(c2, M, N), accumulate);
          assert.deepEqual(c2.data, c1.data, `[${M},${K},${N}] tr ${tr}, ${threads} threads`);
          for (const t of [a, c1, c2]) t.dispose();
        }
        shared.dispose();
        assert.equal(nk.memoryStats().bytesInUse, before, 'the packed blocks are freed');
        for (const t of [b, ...warm]) t.dispose();
      }
    }
    setGrainScale(1);
    nk.setNumThreads(1);
  });

  it('batched matmul: equal batches, a shared operand, transposes, small and large products', () => {
    for (const scale of [1, 0]) {
      setGrainScale(scale); // 0: even a batch of tiny products is split across threads
      for (const [sa, sb, tA, tB] of [
        [[4, 3, 7, 5], [4, 3, 5, 6], false, false],
        [[4, 3, 5, 7], [4, 3, 6, 5], true, true],
        [[9, 5], [4, 3, 5, 7], false, false], // a shared left operand
        [[5, 8, 4], [4, 6], false, false], // a shared right operand
        [[2, 130, 140], [2, 140, 120], false, false], // products over a thread's grain
      ] as const) {
        const inputs = [nk.randn([...sa]), nk.randn([...sb])];
        const f = (x: nk.Tensor, y: nk.Tensor) => nk.ops.matmulTransposed(x, y, tA, tB);
        const [js, wasm] = both(() => forwardBackward(f, inputs));
        js.forEach((v, i) =>
          assertClose(wasm[i], v, { rtol: 1e-4, atol: 1e-4, what: `[${sa}]x[${sb}] part ${i}` }),
        );
      }
    }
    setGrainScale(1);
  });

  it('softmax and log-softmax over the last dim and over strided dims, with gradients', () => {
    for (const scale of [1, 0]) {
      setGrainScale(scale);
      for (const [shape, dim] of [
        [[3, 37], -1],
        [[2, 5, 1], -1],
        [[4, 3, 9], 1], // inner 9: two vectors and one lane
        [[2, 7, 5, 6], 2],
        [[5, 3, 4], 0], // one outer row
        [[3, 2, 3], 1], // inner 3: lanes only
      ] as const) {
        const x = nk.randn([...shape], { std: 3 });
        for (const f of [nk.softmax, nk.logSoftmax]) {
          const [js, wasm] = both(() => forwardBackward((p) => f(p, dim), [x]));
          js.forEach((v, i) =>
            assertClose(wasm[i], v, {
              rtol: 1e-5,
              atol: 1e-6,
              what: `${f.name} [${shape}] part ${i}`,
            }),
          );
        }
      }
    }
    setGrainScale(1);
  });

  it('permute: runs kept, runs broken, size-1 dims, more levels than the kernel takes', () => {
    for (const scale of [1, 0]) {
      setGrainScale(scale);
      for (const [shape, perm] of [
        [
          [4, 7, 3, 5],
          [0, 2, 1, 3],
        ],
        [
          [4, 7, 3, 5],
          [3, 1, 0, 2],
        ],
        [
          [6, 1, 5],
          [2, 1, 0],
        ],
        [
          [2, 3, 4, 5, 6],
          [4, 2, 0, 3, 1],
        ], // five levels: blocks of the outer one (permuteOuter)
        [
          [3, 2, 5, 2, 3, 7],
          [5, 0, 3, 1, 4, 2],
        ], // six levels, runs broken
        [
          [33, 17],
          [1, 0],
        ],
      ] as const) {
        const x = nk.randn([...shape]);
        nk.setBackend('wasm');
        assert.equal(nk.kernels.findKernel('Permute', [x], { perm }).backend, 'wasm');
        const [js, wasm] = both(() => forwardBackward((p) => nk.permute(p, perm), [x]));
        js.forEach((v, i) =>
          assertClose(wasm[i], v, { rtol: 0, atol: 0, what: `permute [${shape}] part ${i}` }),
        );
      }
    }
    setGrainScale(1);
  });

  it('conv2d forward and both backward kernels', () => {
    const cases: [number[], number[], nk.ops.Conv2dOptions][] = [
      [[2, 3, 9, 7], [5, 3, 3, 3], { padding: 1 }],
      [[3, 4, 11, 6], [6, 2, 3, 2], { stride: 2, padding: [1, 0], dilation: [1, 2], groups: 2 }],
      [[2, 5, 4, 3], [7, 5, 1, 1], {}],
      // 270 = 30·3·3 columns of weights: two K blocks forward, four row blocks backward.
      [[2, 30, 6, 5], [7, 30, 3, 3], { padding: 1 }],
      // Stride 2 over rows wide enough for im2col's four-at-a-time copy, with tails.
      [[2, 3, 9, 21], [4, 3, 3, 3], { stride: 2, padding: 1 }],
      [[2, 3, 8, 19], [4, 3, 1, 1], { stride: 2 }],
    ];
    for (const [xs, ws, opts] of cases) {
      const x = nk.randn(xs),
        w = nk.randn(ws),
        b = nk.randn([ws[0]]);
      const [js, wasm] = both(() =>
        forwardBackward((p, q, r) => nk.conv2d(p, q, r, opts), [x, w, b]),
      );
      js.forEach((v, i) =>
        assertClose(wasm[i], v, {
          rtol: 1e-4,
          atol: 1e-4,
          what: `conv ${JSON.stringify(opts)} part ${i}`,
        }),
      );
    }
  });

  it('BatchNorm train forward/backward and eval, odd sizes', () => {
    for (const shape of [
      [7, 3],
      [5, 3, 13],
      [3, 5, 7, 9],
      [2, 4, 1, 1],
    ]) {
      const C = shape[1];
      const x = nk.randn(shape, { mean: 3, std: 2 }),
        w = nk.randn([C]),
        b = nk.randn([C]);
      const rm = nk.randn([C]),
        rv = nk.rand([C], { low: 0.5, high: 2 });
      // relu: the fused ReLU, whose backward masks g inside the norm's backward passes.
      for (const [training, relu] of [
        [true, false],
        [false, false],
        [true, true],
      ]) {
        const f = (p: nk.Tensor, q: nk.Tensor, r: nk.Tensor) =>
          nk.batchNorm(p, rm, rv, q, r, { training, momentum: 0, relu });
        const [js, wasm] = both(() => forwardBackward(f, [x, w, b]));
        js.forEach((v, i) =>
          assertClose(wasm[i], v, {
            rtol: 1e-4,
            atol: 1e-4,
            what: `${shape} training=${training} relu=${relu} part ${i}`,
          }),
        );
      }
    }
  });

  it('BatchNorm statistics stay exact when a run starts with an outlier (the two-pass fallback)', () => {
    // Long runs (56x56) each starting 1000σ off: one-pass shifted sums would lose ~1e-4.
    const x = nk.randn([2, 3, 56, 56]);
    const X = x.data;
    for (let r = 0; r < 6; r++) X[r * 3136] = 1000 + r;
    const [js, wasm] = both(() =>
      nk.batchNorm(x, null, null, null, null, { training: true }).toArray(),
    );
    assertClose(wasm, js, { rtol: 0, atol: 2e-5 });
  });

  it('normalize passes over several chunks of statistics, runs paired across statistics', () => {
    // The SIMD passes take statistics in chunks of ≥ 32768 floats and runs two at a time:
    // 69 instance statistics of 1023 floats are chunks of 33, 33 and 3 on one thread (odd: a
    // run paired with itself); GroupNorm(3) on 12 channels pairs runs whose weights differ
    // (Q = 4). A mean of 1e4 with σ 0.5 checks the forward's centre split in two floats (hi
    // in the loop, lo folded into the shift); the next test checks the backward's.
    const cases: [string, number[], (p: nk.Tensor, q: nk.Tensor, r: nk.Tensor) => nk.Tensor][] = [
      ['instanceNorm', [3, 23, 33, 31], (p, q, r) => nk.instanceNorm(p, q, r)],
      ['groupNorm', [3, 12, 41, 40], (p, q, r) => nk.groupNorm(p, 3, q, r)],
    ];
    for (const [name, shape, f] of cases) {
      const C = shape[1];
      const x = nk.randn(shape, { mean: 1e4, std: 0.5 }),
        w = nk.randn([C]),
        b = nk.randn([C]);
      const [js, wasm] = both(() => forwardBackward(f, [x, w, b]));
      js.forEach((v, i) =>
        assertClose(wasm[i], v, { rtol: 1e-5, atol: 1e-5, what: `${name} ${shape} part ${i}` }),
      );
    }
  });

  it('normalize backward with float64 centres that float32 cannot hold', () => {
    // The ops pass float32 means; the primitives take float64 ones, split hi + lo in SIMD.
    const shape = [3, 23, 33, 31];
    const X = nk.randn(shape, { mean: 1e4, std: 0.5 }).data as Float32Array;
    const G = nk.randn(shape).data as Float32Array;
    for (const L of [channelLayout(shape), rowLayout(3 * 23, 33 * 31)]) {
      const m = jsNormPrimitives.moments(X, L);
      const inv = m.m2.map((q) => 1 / Math.sqrt(q / m.count + 1e-5));
      const prm = { P: L.numStats, Q: 1, w: inv.map((_, i) => 1 + i / 10), b: inv.map(() => 0) };
      const out = [0, 1].map(() => nk.zeros(shape).data as Float32Array);
      const sums = [jsNormPrimitives, wasmNormPrimitives()].map((K, i) =>
        K.normalizeBackward(G, X, out[i], L, m.mean, inv, prm),
      );
      assertClose(out[1], out[0], { rtol: 1e-5, atol: 1e-5, what: `dx, ${L.outer} runs` });
      assertClose(sums[1].sgx, sums[0].sgx, { rtol: 1e-5, atol: 1e-3, what: 'Σ g·(x − mean)' });
      assertClose(sums[1].sg, sums[0].sg, { rtol: 1e-5, atol: 1e-3, what: 'Σ g' });
    }
  });

  it('row normalization (LayerNorm, GroupNorm) forward/backward, odd sizes', () => {
    const x = nk.randn([3, 6, 5, 3], { mean: -2 }),
      w = nk.randn([6]),
      b = nk.randn([6]);
    const [js, wasm] = both(() =>
      forwardBackward((p, q, r) => nk.groupNorm(p, 3, q, r), [x, w, b]),
    );
    js.forEach((v, i) =>
      assertClose(wasm[i], v, { rtol: 1e-4, atol: 1e-4, what: `groupNorm part ${i}` }),
    );
    const z = nk.randn([5, 3, 13], { mean: 2 }),
      lw = nk.randn([3, 13]),
      lb = nk.randn([3, 13]);
    const [js3, wasm3] = both(() =>
      forwardBackward((p, q, r) => nk.layerNorm(p, [3, 13], q, r), [z, lw, lb]),
    );
    js3.forEach((v, i) =>
      assertClose(wasm3[i], v, { rtol: 1e-4, atol: 1e-4, what: `layerNorm affine part ${i}` }),
    );
    // Many rows: the column sums of dweight/dbias go through float32 partials per group of
    // rows, four groups of 33 (the last short) for 130 rows, five of 64 (the last 44) for 300.
    for (const rows of [130, 300]) {
      const tall = nk.randn([rows, 1030]),
        tw = nk.randn([1030]),
        tb = nk.randn([1030]);
      const [js5, wasm5] = both(() =>
        forwardBackward((p, q, r) => nk.layerNorm(p, [1030], q, r), [tall, tw, tb]),
      );
      js5.forEach((v, i) =>
        assertClose(wasm5[i], v, { rtol: 1e-4, atol: 1e-3, what: `${rows}-row layerNorm ${i}` }),
      );
      const [js6, wasm6] = both(() =>
        forwardBackward((p, q) => nk.rmsNorm(p, [1030], q), [tall, tw]),
      );
      js6.forEach((v, i) =>
        assertClose(wasm6[i], v, { rtol: 1e-4, atol: 1e-3, what: `${rows}-row rmsNorm ${i}` }),
      );
    }
    // Long rows (more than 4 chunks of 2048 columns): the passes go by blocks of 58 rows
    // (2 MB of each tensor) and chunk by chunk, the row sums merged in chunk order; 130 rows,
    // so the dweight/dbias sums of the first 64 rows carry over two block boundaries, and a
    // short last chunk (9001 = 4·2048 + 809). At grain 0 the chunks are split across threads.
    for (const scale of [1, 0]) {
      setGrainScale(scale);
      const long = nk.randn([130, 9001], { mean: 1 }),
        gw = nk.randn([9001]),
        gb = nk.randn([9001]);
      const [js7, wasm7] = both(() =>
        forwardBackward((p, q, r) => nk.layerNorm(p, [9001], q, r), [long, gw, gb]),
      );
      js7.forEach((v, i) =>
        assertClose(wasm7[i], v, { rtol: 1e-4, atol: 1e-3, what: `long-row layerNorm ${i}` }),
      );
      const [js8, wasm8] = both(() =>
        forwardBackward((p, q) => nk.rmsNorm(p, [9001], q), [long, gw]),
      );
      js8.forEach((v, i) =>
        assertClose(wasm8[i], v, { rtol: 1e-4, atol: 1e-3, what: `long-row rmsNorm ${i}` }),
      );
    }
    setGrainScale(1);
    const rw = nk.randn([3, 13]);
    const [js4, wasm4] = both(() => forwardBackward((p, q) => nk.rmsNorm(p, [3, 13], q), [z, rw]));
    js4.forEach((v, i) =>
      assertClose(wasm4[i], v, { rtol: 1e-4, atol: 1e-4, what: `rmsNorm part ${i}` }),
    );
    const y = nk.randn([4, 7, 11]);
    const [js2, wasm2] = both(() => forwardBackward((p) => nk.layerNorm(p, [11]), [y]));
    js2.forEach((v, i) =>
      assertClose(wasm2[i], v, { rtol: 1e-4, atol: 1e-4, what: `layerNorm part ${i}` }),
    );
  });

  it('broadcasting binary ops (and their gradients, sums over broadcast dims), odd sizes', () => {
    const pairs: [number[], number[]][] = [
      [
        [3, 37],
        [3, 37],
      ],
      [
        [2, 5, 7, 9],
        [5, 1, 1],
      ],
      [[4, 13], [13]],
      [
        [6, 1, 11],
        [1, 7, 1],
      ],
      [[], [3, 5]],
      [
        [2, 3, 4, 5],
        [2, 1, 4, 1],
      ], // four levels: stays on the JS kernel
    ];
    for (const [sa, sb] of pairs) {
      const a = nk.randn(sa),
        b = nk.randn(sb).add(3);
      for (const [name, f] of Object.entries({
        add: nk.add,
        sub: nk.sub,
        mul: nk.mul,
        div: nk.div,
      })) {
        const [js, wasm] = both(() => forwardBackward((x, y) => f(x, y), [a, b]));
        js.forEach((v, i) =>
          assertClose(wasm[i], v, {
            rtol: 1e-5,
            atol: 1e-5,
            what: `${name} [${sa}] [${sb}] part ${i}`,
          }),
        );
      }
    }
  });

  it('sums over adjacent dims and per-channel sums, odd sizes', () => {
    const cases: [number[], number[], boolean][] = [
      [[3, 4, 5, 6], [1, 2], false],
      [[3, 4, 5, 6], [0], true],
      [[3, 4, 5, 6], [3], false],
      [[3, 4, 5, 6], [0, 1, 2, 3], false],
      [[3, 4, 5, 6], [0, 2, 3], true], // per-channel sums (outer and inner)
      [[3, 5, 67], [0, 2], false],
      [[3, 4, 5, 6], [0, 2], true], // 'rkrk': stays on the JS kernel
      [[2, 301], [1], false],
      [[131, 3], [0], false],
    ];
    for (const [shape, dims, keepDim] of cases) {
      const x = nk.randn(shape, { mean: 1 });
      const [js, wasm] = both(() => nk.sum(x, dims, keepDim));
      assert.deepEqual(wasm.shape, js.shape);
      assertClose(wasm.toArray(), js.toArray(), {
        rtol: 1e-6,
        atol: 1e-5,
        what: `sum [${shape}] over [${dims}]`,
      });
    }
  });

  it('relu and its gradient, odd sizes', () => {
    const x = nk.randn([3, 37]);
    const [js, wasm] = both(() => forwardBackward((p) => nk.relu(p), [x]));
    js.forEach((v, i) => assertClose(wasm[i], v, { rtol: 0, atol: 0, what: `relu part ${i}` }));
  });

  it('binary ops over more than three broadcast levels run in WASM, with the same bits as JS', () => {
    // No two adjacent dims merge: five loop levels (and four with a scalar-like inner dim).
    for (const [as, bs] of [
      [
        [2, 3, 4, 5, 6],
        [2, 1, 4, 1, 6],
      ],
      [
        [3, 1, 5, 1, 7],
        [1, 4, 5, 2, 1],
      ],
      [
        [2, 3, 4, 5],
        [1, 3, 1, 5],
      ],
    ]) {
      const a = nk.randn(as),
        b = nk.randn(bs);
      nk.setBackend('wasm');
      assert.equal(nk.kernels.findKernel('Add', [a, b], {}).backend, 'wasm', `${as} + ${bs}`);
      for (const f of [nk.add, nk.sub, nk.mul, nk.div]) {
        const [js, wasm] = both(() => forwardBackward((p, q) => f(p, q), [a, b]));
        js.forEach((v, i) =>
          assert.deepEqual(Array.from(wasm[i]), Array.from(v), `${f.name} ${as} ${bs} ${i}`),
        );
      }
    }
  });

  it('maskedFill and its gradient, broadcast masks, odd sizes, special values: the same bits', () => {
    const g = new nk.Generator(4);
    const x = nk.randn([3, 5, 7, 9]);
    for (const mshape of [
      [3, 5, 7, 9],
      [3, 1, 1, 9],
      [1, 5, 1, 1],
      [7, 1],
      [3, 1, 7, 1], // four levels
    ]) {
      // 0, 1 and a NaN (which, not being 0, masks as in the JS kernel's m !== 0).
      const mv = Array.from({ length: mshape.reduce((p, d) => p * d) }, (_, i) =>
        i === 3 ? NaN : g.uniform() < 0.4 ? 1 : 0,
      );
      const mask = nk.tensor(mv, mshape);
      for (const value of [-Infinity, 0.3, NaN]) {
        const [js, wasm] = both(() => forwardBackward((p) => nk.maskedFill(p, mask, value), [x]));
        js.forEach((v, i) =>
          assert.deepEqual(Array.from(wasm[i]), Array.from(v), `mask ${mshape} value ${value}`),
        );
      }
    }
  });

  it('max and variance over any dims, and sums over several blocks: the bits of the JS kernels', () => {
    const g = new nk.Generator(6);
    const make = (shape: number[]) => {
      const v = Float32Array.from({ length: shape.reduce((p, d) => p * d) }, () => g.normal());
      v[5] = NaN; // NaN sticks in max; ±0 ties keep the first
      v[7] = -0;
      v[8] = 0;
      return nk.tensor(v, shape);
    };
    for (const scale of [1, 0]) {
      setGrainScale(scale);
      // [shape, dims, several blocks of reduced dims (gathered by a permute first)]
      const cases: [number[], number[], boolean][] = [
        [[5, 37, 9], [1], false],
        [[64, 130], [0], false], // few rows, many columns: threads take columns
        [[64, 130], [1], false],
        [[3, 4, 5, 6], [1, 2], false],
        [[2, 3, 1, 4], [0, 1, 2, 3], false],
        [[1, 7], [1], false], // one value a column: variance divides by 0 with correction 1
        [[3, 4, 5, 6], [0, 2], true],
        [[3, 4, 5, 6], [1, 3], true],
        [[3, 4, 5, 6], [0, 1, 3], true],
        [[2, 3, 4, 5, 6], [0, 2, 4], true],
      ];
      for (const [shape, dims, several] of cases) {
        const x = make(shape);
        nk.setBackend('wasm');
        assert.equal(nk.kernels.findKernel('Max', [x], { dims }).backend, 'wasm');
        for (const keepDim of [false, true]) {
          // Sums over one block keep their own float32-blocked order for contiguous runs
          // (the sum tests above); over several blocks they take the JS kernel's.
          const run = () => [
            ...(several ? [nk.sum(x, dims, keepDim)] : []),
            nk.max(x, dims, keepDim),
            nk.variance(x, dims, { keepDim }),
            nk.variance(x, dims, { keepDim, correction: 0 }),
          ];
          const [js, wasm] = both(run);
          js.forEach((t, i) => {
            assert.deepEqual(wasm[i].shape, t.shape);
            assert.deepEqual(Array.from(wasm[i].data), Array.from(t.data), `${shape} ${dims} ${i}`);
          });
        }
      }
    }
    // Runs whose max is a zero: the first of −0 and +0 stays, as in the JS kernel (here the
    // lanes would meet them in the other order: index 5 sits in an earlier lane than 2).
    const zeros = nk.tensor(
      Array.from({ length: 2 * 21 }, (_, i) =>
        i % 21 === 2 ? (i < 21 ? -0 : 0) : i % 21 === 5 ? (i < 21 ? 0 : -0) : -1 - (i % 3),
      ),
      [2, 21],
    );
    const [js, wasm] = both(() => Array.from(nk.max(zeros, [1]).data));
    assert.deepEqual(wasm, js);
    assert.deepEqual(js, [-0, 0]);
    setGrainScale(1);
  });

  it('maximum, minimum, comparisons and pow of two tensors: the JS kernels bit for bit', () => {
    // Every pair of special values, then rounded values (ties), broadcast and not.
    const sp = [0, -0, 1, -1, Infinity, -Infinity, NaN, 0.5, 2, -2, 3];
    const g = new nk.Generator(9);
    const make = (shape: number[], row: boolean) =>
      nk.tensor(
        Float32Array.from({ length: shape.reduce((p, d) => p * d) }, (_, i) =>
          i < sp.length * sp.length
            ? sp[(row ? Math.floor(i / sp.length) : i) % sp.length]
            : Math.round(4 * g.normal()) / 2,
        ),
        shape,
      );
    const a = make([11, 11, 7], false);
    for (const b of [make([11, 11, 7], true), make([1, 11, 1], true)]) {
      for (const [name, f] of [
        ['Maximum', nk.maximum],
        ['Minimum', nk.minimum],
        ['Pow', nk.pow],
        ['GreaterEqual', nk.greaterEqual],
        ['Greater', nk.greater],
        ['Equal', nk.equal],
      ] as const) {
        nk.setBackend('wasm');
        assert.equal(nk.kernels.findKernel(name, [a, b], {}).backend, 'wasm', name);
        const [js, wasm] = both(() => Array.from(f(a, b).data));
        assert.deepEqual(wasm, js, `${name} [${b.shape}]`);
      }
    }
    // Gradients (where the ops have them), on values without ties; pow's gradient for its
    // exponent takes a log, whose SIMD kernel is within 2 ulps of JS's (its own test).
    const p = nk.randn([6, 5]),
      q = nk.abs(nk.randn([6, 5])).add(0.5);
    for (const f of [nk.maximum, nk.minimum, nk.pow]) {
      const [js, wasm] = both(() => forwardBackward((x, y) => f(nk.abs(x).add(0.1), y), [p, q]));
      js.forEach((v, i) =>
        f === nk.pow && i === 2
          ? assertClose(wasm[i], v, { rtol: 1e-6, atol: 1e-7, what: 'pow exponent gradient' })
          : assert.deepEqual(Array.from(wasm[i]), Array.from(v), `${f.name} ${i}`),
      );
    }
  });

  it('pow by a scalar: the JS kernel bit for bit at 2, within a float32 ulp elsewhere', () => {
    const g = new nk.Generator(2);
    const specials = [0, -0, 1, -1, Infinity, -Infinity, NaN, 0.5, -0.5, 2, 1e-30, 1e30];
    const values = Float32Array.from({ length: 20003 }, (_, i) =>
      i < specials.length ? specials[i] : 3 * g.normal() * (i % 5 === 0 ? 100 : 1),
    );
    const x = nk.tensor(values, [values.length]);
    const ulp = (v: number) => {
      const f = new Float32Array([Math.abs(v)]);
      const n = new Int32Array(f.buffer);
      n[0] += 1;
      return f[0] - Math.abs(v);
    };
    for (const e of [2, 3, 0.5, -1, -2, 1.5, 1, 0, -0.5, 10]) {
      const [js, wasm] = both(() => Array.from(nk.pow(x, e).data));
      js.forEach((v, i) => {
        const w = wasm[i];
        if (e === 2 || !Number.isFinite(v)) return assert.ok(Object.is(w, v), `${values[i]}^${e}`);
        assert.ok(Math.abs(w - v) <= ulp(v), `${values[i]}^${e}: ${w} against ${v}`);
      });
    }
    // And its gradient, which multiplies by pow(x, e - 1).
    const r = nk.randn([5, 7]);
    const [gj, gw] = both(() => forwardBackward((p) => nk.pow(p, 2), [r]));
    gj.forEach((v, i) => assert.deepEqual(Array.from(gw[i]), Array.from(v)));
  });

  it('relu keeps NaN (PyTorch) and gives +0 for −0, in SIMD lanes and the scalar tail', () => {
    // 7 values: one vector of four, then a tail of three.
    const x = nk.tensor([NaN, -0, -2, 3, -1, NaN, -0], [7]);
    const [js, wasm] = both(() => Array.from(nk.relu(x).data));
    for (const got of [js, wasm]) assert.deepEqual(got, [NaN, 0, 0, 3, 0, NaN, 0]);
  });

  it('exp, log, sigmoid and tanh: within 2 float32 ulps of the JS kernels, special values exact', () => {
    const specials = [0, -0, Infinity, -Infinity, NaN, 1e-40, -1e-40, 88.5, 88.72, 88.8, -87];
    const g = new nk.Generator(5);
    const values = Float32Array.from({ length: 4001 }, (_, i) =>
      i < specials.length
        ? specials[i]
        : i % 3 === 0
          ? 180 * g.uniform() - 90
          : i % 3 === 1
            ? 4 * g.uniform() - 2
            : Math.exp(180 * g.uniform() - 90),
    );
    const x = nk.tensor(values, [values.length]);
    for (const [name, f] of [
      ['exp', nk.exp],
      ['log', nk.log],
      ['sigmoid', nk.sigmoid],
      ['tanh', nk.tanh],
    ] as const) {
      const [js, wasm] = both(() => f(x).toArray() as Float32Array);
      js.forEach((e, i) => {
        const got = wasm[i];
        const what = `${name}(${values[i]}): got ${got}, JS ${e}`;
        if (!Number.isFinite(e) || Math.abs(e) < 1.2e-38) {
          // NaN, ±inf, ±0 exactly; results below float32's normal range may flush to 0.
          if (Math.abs(e) < 1.2e-38 && e !== 0) assert.ok(Math.abs(got) < 1.2e-38, what);
          else assert.ok(Object.is(got, e) || (e === 0 && got === 0), what);
        } else {
          assert.ok(Math.abs(got - e) <= 2.4e-7 * Math.abs(e), what);
        }
      });
      // Odd sizes: every tail length past the last full vector.
      for (const n of [1, 2, 3, 5, 7]) {
        const part = nk.rand([n], { low: 0.1, high: 3 });
        const [a, b] = both(() => f(part).toArray() as Float32Array);
        assertClose(b, a, { rtol: 2.4e-7, atol: 0, what: `${name}, ${n} values` });
      }
    }
  });

  it('neg, sqrt, abs, sign, clamp and its mask equal the JS kernels exactly, special values and odd sizes included', () => {
    const values = Float32Array.from({ length: 1003 }, (_, i) =>
      i < 6 ? [0, -0, Infinity, -Infinity, NaN, 1e-40][i] : 50 * Math.sin(i * 1.7) ** 5,
    );
    for (const [name, f] of [
      ['neg', nk.neg],
      ['sqrt', nk.sqrt],
      ['abs', nk.abs],
      ['sign', nk.sign],
      ['clamp', (t: nk.Tensor) => nk.clamp(t, -3, 0)],
      ['clamp below', (t: nk.Tensor) => nk.clamp(t, 0.5)],
      ['clamp mask', (t: nk.Tensor) => nk.runKernel('ClampMask', [t], { min: -3, max: 0 })],
    ] as const) {
      for (const n of [1003, 1, 2, 3]) {
        const x = nk.tensor(values.subarray(values.length - n), [n]);
        const [js, wasm] = both(() => f(x).toArray() as Float32Array);
        js.forEach((e, i) =>
          assert.ok(Object.is(wasm[i], e), `${name}(${x.data[i]}): ${wasm[i]} vs ${e}`),
        );
      }
    }
  });

  it('GELU and its gradient (exact erf form) match the JS kernels, odd sizes', () => {
    // The JS kernels compute 1 + erf(x/√2), which cancels for x below about −4 (as PyTorch's
    // does); there both are within 1e-7 of 0, so the comparison is relative plus 1e-7.
    const x = nk.tensor(
      Float32Array.from({ length: 2003 }, (_, i) =>
        i < 3 ? [0, -0, NaN][i] : 24 * Math.sin(i) ** 3,
      ),
      [2003],
    );
    const [js, wasm] = both(() => forwardBackward((p) => nk.gelu(p), [x]));
    js.forEach((v, i) =>
      assertClose(wasm[i], v, { rtol: 5e-7, atol: 1e-7, what: `gelu part ${i}` }),
    );
    for (const n of [1, 2, 3, 5, 7]) {
      const part = nk.randn([n]);
      const [a, b] = both(() => forwardBackward((p) => nk.gelu(p), [part]));
      a.forEach((v, i) =>
        assertClose(b[i], v, { rtol: 5e-7, atol: 1e-7, what: `${n} values, part ${i}` }),
      );
    }
  });

  it('leaky relu and its gradient, odd sizes, several slopes', () => {
    const x = nk.randn([3, 1003]);
    for (const slope of [0.2, 0.01, -0.5]) {
      const [js, wasm] = both(() => forwardBackward((p) => nk.leakyRelu(p, slope), [x]));
      js.forEach((v, i) =>
        assertClose(wasm[i], v, { rtol: 1e-6, atol: 0, what: `slope ${slope} part ${i}` }),
      );
    }
  });

  it('maxPool2d forward/backward with padding, strides and ceil mode', () => {
    const x = nk.randn([2, 3, 9, 7]);
    const cases: [number | [number, number], nk.ops.Pool2dOptions][] = [
      [2, {}],
      [2, { ceilMode: true }],
      [3, { stride: 2, padding: 1 }],
      [[2, 3], { ceilMode: true }],
    ];
    for (const [k, opts] of cases) {
      const [js, wasm] = both(() => forwardBackward((p) => nk.maxPool2d(p, k, opts), [x]));
      js.forEach((v, i) =>
        assertClose(wasm[i], v, { rtol: 0, atol: 0, what: `maxPool2d ${k} part ${i}` }),
      );
    }
    // The SIMD 2x2 path: output rows of 4, 15 (a ragged end) and 7 windows, with ties and NaN.
    for (const shape of [
      [2, 3, 8, 8],
      [2, 3, 6, 30],
      [1, 2, 14, 14],
    ]) {
      const v = nk.randn(shape).toArray() as Float32Array;
      for (let i = 0; i < v.length; i += 37) v[i] = v[i + 1] ?? 0; // ties
      v[5] = NaN;
      // A window whose maximum is a tie of −0 (first) and +0: the first wins, sign included.
      const W = shape[3];
      [v[4 * W], v[4 * W + 1], v[5 * W], v[5 * W + 1]] = [-0, 0, -1, -1];
      const t = nk.tensor(v, shape);
      const [js, wasm] = both(() => forwardBackward((p) => nk.maxPool2d(p, 2), [t]));
      js.forEach((r, i) =>
        assertClose(wasm[i], r, { rtol: 0, atol: 0, what: `maxPool2d [${shape}] part ${i}` }),
      );
      // Under noGrad the WASM kernel writes the values alone (no argmax): the same values.
      const [jsValues, wasmValues] = both(() =>
        nk.noGrad(() => nk.maxPool2d(t, 2).toArray() as Float32Array),
      );
      assertClose(wasmValues, jsValues, { rtol: 0, atol: 0, what: `maxPool2d [${shape}] values` });
      assertClose(wasmValues, js[0], { rtol: 0, atol: 0, what: `values = the training path's` });
      const signs = (a: ArrayLike<number>) => Array.from(a, (x) => Object.is(x, -0));
      assert.deepEqual(signs(wasmValues), signs(jsValues), `maxPool2d [${shape}]: signs of zero`);
      assert.deepEqual(signs(wasm[0]), signs(js[0]), `maxPool2d [${shape}]: signs, with argmax`);
    }
    // The general (non-2x2) path without indices too.
    const [jsV, wasmV] = both(() =>
      nk.noGrad(() => nk.maxPool2d(x, 3, { stride: 2, padding: 1 }).toArray() as Float32Array),
    );
    assertClose(wasmV, jsV, { rtol: 0, atol: 0, what: 'maxPool2d 3x3 values' });
  });

  it('avgPool2d (padding, ceil mode, divisors) and adaptiveAvgPool2d forward/backward', () => {
    const x = nk.randn([2, 3, 9, 7]);
    const cases: [number | [number, number], nk.ops.Pool2dOptions][] = [
      [2, {}],
      [3, { stride: 2, padding: 1 }],
      [3, { stride: 2, padding: 1, countIncludePad: false }],
      [[2, 3], { ceilMode: true, padding: 1 }],
    ];
    for (const [k, opts] of cases) {
      const [js, wasm] = both(() => forwardBackward((p) => nk.avgPool2d(p, k, opts), [x]));
      js.forEach((v, i) =>
        assertClose(wasm[i], v, { rtol: 1e-6, atol: 1e-6, what: `avgPool2d ${k} part ${i}` }),
      );
    }
    for (const size of [1, 4, [5, 3]] as (number | [number, number])[]) {
      const [js, wasm] = both(() => forwardBackward((p) => nk.adaptiveAvgPool2d(p, size), [x]));
      js.forEach((v, i) =>
        assertClose(wasm[i], v, { rtol: 1e-6, atol: 1e-6, what: `adaptive ${size} part ${i}` }),
      );
    }
  });

  it('SGD and Adam/AdamW updates', () => {
    const makers = [
      (ps: nk.Tensor[]) =>
        new nk.optim.SGD(ps, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 }),
      (ps: nk.Tensor[]) => new nk.optim.SGD(ps, { lr: 0.1 }),
      (ps: nk.Tensor[]) => new nk.optim.Adam(ps, { lr: 0.01, weightDecay: 0.1 }),
      (ps: nk.Tensor[]) => new nk.optim.AdamW(ps, { lr: 0.01 }),
    ];
    const p0 = nk.randn([37]),
      grads = [nk.randn([37]), nk.randn([37]), nk.randn([37])];
    for (const make of makers) {
      const [js, wasm] = both(() => {
        const p = nk.tensor(p0.toArray(), [37], { requiresGrad: true });
        const opt = make([p]);
        for (const g of grads) {
          p.grad = nk.keep(g.clone());
          opt.step();
        }
        return p.toArray();
      });
      assertClose(wasm, js, { rtol: 1e-5, atol: 1e-6 });
    }
  });

  it('float64 inputs fall back to the JS kernels', () => {
    const a = nk.randn([3, 4], { dtype: 'float64' }),
      b = nk.randn([4, 2], { dtype: 'float64' });
    const y = nk.matmul(a, b);
    assert.equal(y.dtype, 'float64');
    const A = a.data,
      B = b.data;
    let ref = 0;
    for (let k = 0; k < 4; k++) ref += A[k] * B[k * 2];
    assert.ok(Math.abs(y.data[0] - ref) < 1e-12);
  });
});
