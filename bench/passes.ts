// Per-pass timings of the norm SIMD passes on [32, 64, 56, 56] at one thread, against a plain
// copy: `npm run build && node dist/bench/passes.js`. Used to see which pass is slow. The
// BatchNorm passes each stream the tensor; LayerNorm's row passes finish a row (800 KB)
// before the next, so their second read of it comes from cache.
import * as nk from '../src/index.js';
import { wasmKernels } from '../src/kernels/wasm/loader.js';
import { f64Args } from '../src/kernels/wasm/memory.js';
import { wasmColumnPrimitives } from '../src/kernels/wasm/primitives.js';

nk.setNumThreads(1);
const k = wasmKernels();
if (k === null) throw new Error('the WASM kernels are not loaded');
const [C, inner, outer] = [64, 56 * 56, 32];
const x = nk.keep(nk.randn([outer, C, 56, 56]));
const y = nk.keep(nk.zeros(x.shape));
const g = nk.keep(nk.randn(x.shape));
const stats = f64Args('passes', ...Array.from({ length: 7 }, () => new Float64Array(C).fill(0.5)));
const [mean, m2, a, b, c, sg, sgx] = stats;
const layout = [0, C, outer, C * inner, inner, inner] as const;

function time(label: string, f: () => void): void {
  for (let i = 0; i < 5; i++) f();
  const ts: number[] = [];
  for (let i = 0; i < 15; i++) {
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  ts.sort((p, q) => p - q);
  console.log(`${label.padEnd(36)} ${ts[7].toFixed(2)} ms`);
}

time('moments (reads x)', () => k.moments(x.byteOffset, ...layout, mean, m2));
time('affine (x -> y)', () => k.affine(x.byteOffset, y.byteOffset, ...layout, mean, a, b, 0));
time('gradSums (reads dy, x)', () =>
  k.gradSums(g.byteOffset, x.byteOffset, ...layout, mean, sg, sgx),
);
time('affine2 (dy, x -> dx)', () =>
  k.affine2(g.byteOffset, x.byteOffset, y.byteOffset, ...layout, mean, a, b, c),
);

// LayerNorm([64, 56, 56]) on the same tensor: 32 rows of 200,704 columns.
const P = wasmColumnPrimitives();
const cols = C * inner;
const w = nk.keep(nk.randn([cols])),
  bias = nk.keep(nk.randn([cols]));
const dw = nk.keep(nk.zeros([cols])),
  db = nk.keep(nk.zeros([cols]));
const { mean: mu, inv } = P.rowNormForward(x.data, y.data, outer, w.data, bias.data, 1e-5, true);
time('LayerNorm forward (x -> y)', () =>
  P.rowNormForward(x.data, y.data, outer, w.data, bias.data, 1e-5, true),
);
time('LayerNorm backward (dy, x -> dx)', () =>
  P.rowNormBackward(g.data, x.data, y.data, outer, mu, inv, w.data, dw.data, db.data, true),
);
time('copy x -> y (Float32Array.set)', () => y.data.set(x.data));
