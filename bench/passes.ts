// Per-pass timings of the norm SIMD passes on [32, 64, 56, 56] at one thread, against a plain
// copy: `npm run build && node dist/bench/passes.js`. Used to see which pass is slow. The
// training passes finish one statistic (BatchNorm: a channel, 400 KB; LayerNorm: a row,
// 800 KB) before the next, so their second read of it comes from cache.
import * as nk from '../src/index.js';
import { channelLayout } from '../src/kernels/js/stats.js';
import { wasmColumnPrimitives, wasmNormPrimitives } from '../src/kernels/wasm/primitives.js';
import { wasmKernels } from '../src/kernels/wasm/loader.js';

nk.setNumThreads(1);
if (wasmKernels() === null) throw new Error('the WASM kernels are not loaded');
const N = 32,
  C = 64;
const x = nk.keep(nk.randn([N, C, 56, 56]));
const y = nk.keep(nk.zeros(x.shape));
const g = nk.keep(nk.randn(x.shape));

function time(label: string, f: () => void): void {
  for (let i = 0; i < 5; i++) f();
  const ts: number[] = [];
  for (let i = 0; i < 15; i++) {
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  ts.sort((p, q) => p - q);
  console.log(`${label.padEnd(40)} ${ts[7].toFixed(2)} ms`);
}

// BatchNorm2d(64): one statistic per channel.
const K = wasmNormPrimitives();
const L = channelLayout(x.shape);
const half = new Float64Array(C).fill(0.5);
const prm = { P: C, Q: 1, w: half, b: half };
time('moments (reads x)', () => K.moments(x.data, L));
time('eval affine (x -> y)', () => K.affine(x.data, y.data, L, half, half, half));
time('BatchNorm normalize (x -> y)', () => K.normalize(x.data, y.data, L, 1e-5, prm));
time('BatchNorm backward (dy, x -> dx)', () =>
  K.normalizeBackward(g.data, x.data, y.data, L, half, half, prm),
);

// LayerNorm([64, 56, 56]) on the same tensor: 32 rows of 200,704 columns.
const P = wasmColumnPrimitives();
const cols = x.size / N;
const w = nk.keep(nk.randn([cols])),
  bias = nk.keep(nk.randn([cols]));
const dw = nk.keep(nk.zeros([cols])),
  db = nk.keep(nk.zeros([cols]));
const { mean: mu, inv } = P.rowNormForward(x.data, y.data, N, w.data, bias.data, 1e-5, true);
time('LayerNorm forward (x -> y)', () =>
  P.rowNormForward(x.data, y.data, N, w.data, bias.data, 1e-5, true),
);
time('LayerNorm backward (dy, x -> dx)', () =>
  P.rowNormBackward(g.data, x.data, y.data, N, mu, inv, w.data, dw.data, db.data, true),
);
time('copy x -> y (Float32Array.set)', () => y.data.set(x.data));
