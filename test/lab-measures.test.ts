// The lab's measures of point clouds and GAN samples, on cases whose answers are known in
// closed form: eigenvectors, PCA, silhouette, kNN label entropy, the Fréchet distance, and the
// ring's mode counting.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Generator } from '../src/index.js';
import { symmetricEigen, symmetricEigenvalues } from '../src/lab/eigen.js';
import {
  covariance,
  frechetDistance,
  knnLabelEntropy,
  pca,
  silhouette,
} from '../src/lab/embedding.js';
import { MODES, RING_SD, ringQuality } from '../src/lab/gan.js';
import { assertClose } from './helpers.js';

const g = new Generator(3);
const randn = (n: number) => Float64Array.from({ length: n }, () => g.normal());

describe('lab measures', () => {
  it('symmetricEigen: A·v = λ·v, orthonormal vectors, values descending', () => {
    const n = 6,
      b = randn(n * n);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) a[i * n + j] = b[i * n + j] + b[j * n + i];
    const { values, vectors } = symmetricEigen(a, n);
    for (let r = 0; r < n; r++) {
      const v = vectors.subarray(r * n, (r + 1) * n);
      const av = Array.from({ length: n }, (_, i) =>
        v.reduce((s, vj, j) => s + a[i * n + j] * vj, 0),
      );
      assertClose(
        av,
        Array.from(v, (x) => values[r] * x),
        { rtol: 1e-9, atol: 1e-9, what: `A·v${r}` },
      );
      for (let q = 0; q < n; q++) {
        const dot = v.reduce((s, x, j) => s + x * vectors[q * n + j], 0);
        assert.ok(Math.abs(dot - (q === r ? 1 : 0)) < 1e-9, `v${r}·v${q} = ${dot}`);
      }
      if (r > 0) assert.ok(values[r] <= values[r - 1]);
    }
    assertClose(symmetricEigenvalues(a, n), Array.from(values).reverse(), { rtol: 0, atol: 0 });
  });

  it('pca: points along (3, 4)/5 project onto their position along it', () => {
    const n = 50,
      t = randn(n);
    const x = new Float64Array(2 * n);
    for (let i = 0; i < n; i++) [x[2 * i], x[2 * i + 1]] = [0.6 * t[i] + 1, 0.8 * t[i] - 2];
    const { points, share } = pca(x, n, 2, 1);
    assert.ok(share[0] > 1 - 1e-12, `share ${share[0]}`);
    const m = t.reduce((s, v) => s + v, 0) / n;
    const sign = Math.sign(points[0] / (t[0] - m));
    assertClose(
      points,
      Array.from(t, (v) => sign * (v - m)),
      { rtol: 1e-9, atol: 1e-9 },
    );
  });

  it('silhouette: two 1-D clusters {0, 1} and {10, 11} by hand', () => {
    const x = Float64Array.from([0, 1, 10, 11]);
    // Point 0: a = 1, b = (10 + 11)/2; point 1: a = 1, b = (9 + 10)/2; the others mirror them.
    const s0 = (10.5 - 1) / 10.5,
      s1 = (9.5 - 1) / 9.5;
    assertClose([silhouette(x, 4, 1, [0, 0, 1, 1])], [(s0 + s1) / 2], { rtol: 1e-12, atol: 0 });
    assert.ok(silhouette(x, 4, 1, [0, 1, 0, 1]) < 0, 'mixed-up labels score below 0');
  });

  it('kNN label entropy: 1 when each neighbourhood is half and half, 0 when it is one label', () => {
    // An octagon labelled a, a, b, b, ...: each point's two nearest are one a and one b.
    const x = new Float64Array(16);
    for (let i = 0; i < 8; i++)
      [x[2 * i], x[2 * i + 1]] = [Math.cos((i * Math.PI) / 4), Math.sin((i * Math.PI) / 4)];
    const labels = [0, 0, 1, 1, 0, 0, 1, 1];
    assertClose([knnLabelEntropy(x, 8, 2, labels, 2)], [1], { rtol: 1e-12, atol: 0 });
    const far = Float64Array.from([0, 0.1, 0.2, 100, 100.1, 100.2]);
    assert.equal(knnLabelEntropy(far, 6, 1, [0, 0, 0, 1, 1, 1], 2), 0);
  });

  it('Fréchet distance: 0 for the same sample; |δ|² + (1 − √c)²·tr Σ for a sample scaled by √c and shifted by δ', () => {
    const n = 300,
      d = 5;
    const a = randn(n * d);
    for (let i = 0; i < n; i++) a[i * d + 1] += 0.5 * a[i * d]; // correlated columns
    assert.ok(Math.abs(frechetDistance(a, n, a, n, d)) < 1e-9);
    const { mean: mu, cov } = covariance(a, n, d);
    const c = 2.25,
      delta = [1, -2, 0, 0.5, 3];
    const b = a.map((v, k) => Math.sqrt(c) * (v - mu[k % d]) + mu[k % d] + delta[k % d]);
    let trace = 0;
    for (let j = 0; j < d; j++) trace += cov[j * d + j];
    const expected = delta.reduce((s, v) => s + v * v, 0) + (1 - Math.sqrt(c)) ** 2 * trace;
    assertClose([frechetDistance(a, n, b, n, d)], [expected], { rtol: 1e-8, atol: 1e-9 });
  });

  it('ringQuality counts samples within 3 sd of a mode and modes holding 1 % of them', () => {
    const at = (modes: number[], r = 2, jitter = 0) =>
      Float32Array.from(
        modes.flatMap((m) => {
          const a = (2 * Math.PI * m) / MODES;
          return [r * Math.cos(a) + jitter, r * Math.sin(a)];
        }),
      );
    const all = Array.from({ length: 800 }, (_, i) => i % MODES);
    assert.deepEqual(ringQuality(at(all)), { modes: 8, highQuality: 1 });
    assert.deepEqual(ringQuality(at(all.map(() => 3))), { modes: 1, highQuality: 1 });
    assert.deepEqual(ringQuality(at(all, 2, 3.1 * RING_SD)), { modes: 0, highQuality: 0 });
    // One mode with 7 of 800 samples (under 1 %) is not covered; its samples still count.
    const few = all.map((m, i) => (m === 0 && i >= 7 * MODES ? 1 : m));
    assert.deepEqual(ringQuality(at(few)), { modes: 7, highQuality: 1 });
  });
});
