// BatchNorm over [N, C] goes row by row (stats-columns.ts); the run-by-run reference of
// stats.ts must give the same moments, outputs and gradients on the same layout.
import { describe, it } from 'node:test';
import { channelLayout, jsNormPrimitives } from '../src/kernels/js/stats.js';
import { withColumnPasses } from '../src/kernels/js/stats-columns.js';
import { Generator } from '../src/index.js';
import { assertClose } from './helpers.js';

const g = new Generator(7);
const columns = withColumnPasses(jsNormPrimitives);

function data(N: number, C: number, offset: number) {
  return Float32Array.from({ length: N * C }, (_, i) => offset * ((i % C) + 1) + g.normal());
}

describe('column passes for BatchNorm over [N, C]', () => {
  for (const [N, C, offset] of [
    [5, 3, 0],
    [64, 33, 0],
    [17, 8, 1e4], // a large mean: two-pass moments stay exact where E[x²] − E[x]² would not
  ]) {
    it(`match the run-by-run reference on [${N}, ${C}], column means up to ${offset * C}`, () => {
      const L = channelLayout([N, C]);
      const X = data(N, C, offset),
        G = data(N, C, 0);
      const ref = jsNormPrimitives.moments(X, L),
        got = columns.moments(X, L);
      assertClose(got.mean, ref.mean, { rtol: 1e-12, atol: 0, what: 'mean' });
      assertClose(got.m2, ref.m2, { rtol: 1e-9, atol: 1e-9, what: 'm2' });
      const p = {
        P: C,
        Q: 1,
        w: Float64Array.from({ length: C }, () => g.normal()),
        b: Float64Array.from({ length: C }, () => g.normal()),
      };
      for (const relu of [false, true]) {
        const y0 = new Float32Array(N * C),
          y1 = new Float32Array(N * C);
        jsNormPrimitives.normalize(X, y0, L, 1e-5, p, relu);
        columns.normalize(X, y1, L, 1e-5, p, relu);
        assertClose(y1, y0, { rtol: 1e-5, atol: 1e-5, what: `y (relu ${relu})` });
      }
      const inv = ref.m2.map((q) => 1 / Math.sqrt(q / N + 1e-5));
      const d0 = new Float32Array(N * C),
        d1 = new Float32Array(N * C);
      const b0 = jsNormPrimitives.normalizeBackward(G, X, d0, L, ref.mean, inv, p);
      const b1 = columns.normalizeBackward(G, X, d1, L, ref.mean, inv, p);
      assertClose(b1.sg, b0.sg, { rtol: 1e-9, atol: 1e-9, what: 'Σg' });
      assertClose(b1.sgx, b0.sgx, { rtol: 1e-6, atol: 1e-6, what: 'Σg(x − μ)' });
      assertClose(d1, d0, { rtol: 1e-4, atol: 1e-5, what: 'dx' });
    });
  }
});
