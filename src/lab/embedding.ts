// Measures of a cloud of points (rows of an n×d float64 matrix), for the experiments that judge
// an embedding or a generator: its principal components, how well labels separate in it
// (silhouette), how well they mix (kNN label entropy), and the Fréchet distance between two
// clouds' Gaussians (FID's formula, in whatever feature space the caller gives).
import { symmetricEigen } from './eigen.js';

/** The column means and the unbiased covariance (d×d) of the n rows of x. */
export function covariance(x: Float64Array, n: number, d: number) {
  const mu = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mu[j] += x[i * d + j] / n;
  const cov = new Float64Array(d * d);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < d; a++) {
      const da = x[i * d + a] - mu[a];
      for (let b = a; b < d; b++) cov[a * d + b] += da * (x[i * d + b] - mu[b]);
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) cov[b * d + a] = cov[a * d + b] /= n - 1;
  }
  return { mean: mu, cov };
}

/** The rows of x projected on their first k principal components (n×k), and the variance share of each. */
export function pca(x: Float64Array, n: number, d: number, k = 2) {
  const { mean: mu, cov } = covariance(x, n, d);
  const { values, vectors } = symmetricEigen(cov, d);
  const out = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += (x[i * d + j] - mu[j]) * vectors[c * d + j];
      out[i * k + c] = s;
    }
  }
  const total = values.reduce((a, v) => a + Math.max(0, v), 0);
  return { points: out, share: Array.from(values.subarray(0, k), (v) => v / total) };
}

function distances(x: Float64Array, n: number, d: number): Float64Array {
  const dist = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += (x[i * d + c] - x[j * d + c]) ** 2;
      dist[i * n + j] = dist[j * n + i] = Math.sqrt(s);
    }
  }
  return dist;
}

/**
 * The mean silhouette of the rows of x grouped by label (Rousseeuw 1987), Euclidean: near 1
 * when the groups are tight and apart, near 0 when they overlap, negative when mixed up.
 */
export function silhouette(
  x: Float64Array,
  n: number,
  d: number,
  labels: ArrayLike<number>,
): number {
  const dist = distances(x, n, d);
  const groups = [...new Set(Array.from(labels))];
  let total = 0;
  for (let i = 0; i < n; i++) {
    const sums = new Map<number, { s: number; c: number }>(groups.map((g) => [g, { s: 0, c: 0 }]));
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const g = sums.get(labels[j])!;
      g.s += dist[i * n + j];
      g.c++;
    }
    const own = sums.get(labels[i])!;
    if (own.c === 0) continue; // a singleton's silhouette is 0
    const a = own.s / own.c;
    let b = Infinity;
    for (const [g, v] of sums) if (g !== labels[i] && v.c > 0) b = Math.min(b, v.s / v.c);
    total += b === Infinity ? 0 : (b - a) / Math.max(a, b);
  }
  return total / n;
}

/**
 * The mean over rows of the entropy of the labels among each row's k nearest neighbours,
 * divided by log(number of labels): 1 when every neighbourhood holds all labels equally
 * (perfectly mixed), 0 when every neighbourhood holds one.
 */
export function knnLabelEntropy(
  x: Float64Array,
  n: number,
  d: number,
  labels: ArrayLike<number>,
  k: number,
): number {
  const dist = distances(x, n, d);
  const groups = [...new Set(Array.from(labels))];
  if (groups.length < 2) return 0;
  let total = 0;
  const idx = Array.from({ length: n }, (_, j) => j);
  for (let i = 0; i < n; i++) {
    const near = idx
      .filter((j) => j !== i)
      .sort((p, q) => dist[i * n + p] - dist[i * n + q])
      .slice(0, k);
    let h = 0;
    for (const g of groups) {
      const p = near.filter((j) => labels[j] === g).length / near.length;
      if (p > 0) h -= p * Math.log(p);
    }
    total += h / Math.log(groups.length);
  }
  return total / n;
}

/**
 * The Fréchet distance between Gaussians fitted to the rows of a (na×d) and b (nb×d):
 * |μa − μb|² + tr(Σa + Σb − 2 (Σa Σb)^½), with tr((Σa Σb)^½) taken as the sum of the square
 * roots of the eigenvalues of Σa^½ Σb Σa^½ (symmetric, with the same spectrum).
 */
export function frechetDistance(
  a: Float64Array,
  na: number,
  b: Float64Array,
  nb: number,
  d: number,
) {
  const A = covariance(a, na, d),
    B = covariance(b, nb, d);
  const { values, vectors } = symmetricEigen(A.cov, d);
  // Σa^½ = V diag(√λ) Vᵀ (vectors are the rows of V ᵀ).
  const half = new Float64Array(d * d);
  for (let r = 0; r < d; r++) {
    const s = Math.sqrt(Math.max(0, values[r]));
    for (let i = 0; i < d; i++) {
      const vi = vectors[r * d + i] * s;
      for (let j = 0; j < d; j++) half[i * d + j] += vi * vectors[r * d + j];
    }
  }
  const tmp = matmul(half, B.cov, d);
  const m = matmul(tmp, half, d);
  for (let i = 0; i < d; i++)
    for (let j = i + 1; j < d; j++) m[i * d + j] = m[j * d + i] = (m[i * d + j] + m[j * d + i]) / 2;
  const root = symmetricEigen(m, d, false).values.reduce(
    (s, v) => s + Math.sqrt(Math.max(0, v)),
    0,
  );
  let dist = 0;
  for (let i = 0; i < d; i++)
    dist += (A.mean[i] - B.mean[i]) ** 2 + A.cov[i * d + i] + B.cov[i * d + i];
  return dist - 2 * root;
}

function matmul(a: Float64Array, b: Float64Array, d: number): Float64Array {
  const c = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let k = 0; k < d; k++) {
      const aik = a[i * d + k];
      for (let j = 0; j < d; j++) c[i * d + j] += aik * b[k * d + j];
    }
  }
  return c;
}
