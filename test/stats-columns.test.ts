// BatchNorm over [N, C] goes by columns (stats-columns.ts in JS, assembly/columns.ts in WASM);
// the run-by-run reference of stats.ts must give the same moments, outputs and gradients on
// the same layout, for both.
import { afterEach, describe, it } from 'node:test';
import { channelLayout, jsNormPrimitives } from '../src/kernels/js/stats.js';
import { withColumnPasses } from '../src/kernels/js/stats-columns.js';
import { Generator, initWasm, tensor } from '../src/index.js';
import { wasmColumnPasses } from '../src/kernels/wasm/primitives.js';
import { setGrainScale } from '../src/kernels/wasm/threads.js';
import { assertClose } from './helpers.js';

const g = new Generator(7);
await initWasm();
const implementations = {
  js: withColumnPasses(jsNormPrimitives),
  wasm: withColumnPasses(jsNormPrimitives, wasmColumnPasses()),
};
/** A float32 array in the shared memory (where the WASM passes run; elsewhere they defer to JS). */
const shared = (a: Float32Array) => tensor(a, [a.length]).data as Float32Array;

/** Column c centred on offset·(c + 1); offset < 0: the first row instead 1e3 above (a far shift). */
function data(N: number, C: number, offset: number) {
  return shared(
    Float32Array.from({ length: N * C }, (_, i) =>
      offset < 0 ? (i < C ? 1e3 : 0) + g.normal() : offset * ((i % C) + 1) + g.normal(),
    ),
  );
}

describe('column passes for BatchNorm over [N, C]', () => {
  afterEach(() => setGrainScale(1));
  for (const [impl, columns] of Object.entries(implementations))
    for (const [N, C, offset] of [
      [5, 3, 0],
      [64, 33, 0],
      [200, 130, 0], // several row blocks, column groups split across threads
      [17, 8, 1e4], // a large mean: two-pass moments stay exact where E[x²] − E[x]² would not
      [300, 9, -1], // the first row far from the mean: the sums are redone, shifted by the mean
    ]) {
      it(`${impl}: match the run-by-run reference on [${N}, ${C}], ${offset < 0 ? 'first row 1e3 off' : `column means up to ${offset * C}`}`, () => {
        // Grain 0: even these sizes are split across threads (columns for sums, rows after).
        if (impl === 'wasm') setGrainScale(0);
        const L = channelLayout([N, C]);
        const X = data(N, C, offset),
          G = data(N, C, 0);
        const ref = jsNormPrimitives.moments(X, L),
          got = columns.moments(X, L);
        // JS sums in float64. WASM sums in float32 over blocks of 64 rows, merged in float64,
        // shifted by the first row, as stats.ts does for runs: the relative error of M2 grows
        // with ((mean − x₀)/σ)², up to 16 before the sums are redone shifted by the mean, so
        // about 64·2⁻²⁴·17 ≈ 7e-5 at worst (the columns have sd 1: the mean to 1e-6 of it).
        const exact = impl === 'js';
        assertClose(got.mean, ref.mean, {
          rtol: exact ? 1e-12 : 1e-6,
          atol: exact ? 0 : 1e-6,
          what: 'mean',
        });
        assertClose(got.m2, ref.m2, { rtol: exact ? 1e-9 : 1e-4, atol: 1e-9, what: 'm2' });
        const p = {
          P: C,
          Q: 1,
          w: Float64Array.from({ length: C }, () => g.normal()),
          b: Float64Array.from({ length: C }, () => g.normal()),
        };
        for (const relu of [false, true]) {
          const y0 = new Float32Array(N * C),
            y1 = shared(new Float32Array(N * C));
          jsNormPrimitives.normalize(X, y0, L, 1e-5, p, relu);
          columns.normalize(X, y1, L, 1e-5, p, relu);
          assertClose(y1, y0, { rtol: 1e-5, atol: 1e-5, what: `y (relu ${relu})` });
        }
        const inv = ref.m2.map((q) => 1 / Math.sqrt(q / N + 1e-5));
        const d0 = new Float32Array(N * C),
          d1 = shared(new Float32Array(N * C));
        const b0 = jsNormPrimitives.normalizeBackward(G, X, d0, L, ref.mean, inv, p);
        const b1 = columns.normalizeBackward(G, X, d1, L, ref.mean, inv, p);
        assertClose(b1.sg, b0.sg, {
          rtol: exact ? 1e-9 : 1e-6,
          atol: exact ? 1e-9 : 1e-5,
          what: 'Σg',
        });
        assertClose(b1.sgx, b0.sgx, { rtol: 1e-6, atol: exact ? 1e-6 : 1e-5, what: 'Σg(x − μ)' });
        assertClose(d1, d0, { rtol: 1e-4, atol: 1e-5, what: 'dx' });
      });
    }
});
