// Eigenvalues of a symmetric matrix by cyclic Jacobi rotations (float64): small, exact enough
// for the lab's covariance matrices (a few hundred rows), and no dependency.

/** Eigenvalues of the symmetric n×n matrix `a` (row-major; not modified), ascending. */
export function symmetricEigenvalues(a: Float64Array, n: number): Float64Array {
  return symmetricEigen(a, n, false).values.reverse();
}

/**
 * Eigenvalues of the symmetric n×n matrix `a`, descending, with their unit eigenvectors as the
 * rows of `vectors` (row-major n×n) when asked for (the rotations are then accumulated too).
 */
export function symmetricEigen(
  a: Float64Array,
  n: number,
  withVectors = true,
): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a);
  // v accumulates the rotations: its columns end as the eigenvectors.
  const v = new Float64Array(withVectors ? n * n : 0);
  if (withVectors) for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale += m[i] * m[i];
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q] ** 2;
    if (off <= 1e-22 * scale) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (m[q * n + q] - m[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1),
          s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = m[k * n + p],
            akq = m[k * n + q];
          m[k * n + p] = c * akp - s * akq;
          m[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = m[p * n + k],
            aqk = m[q * n + k];
          m[p * n + k] = c * apk - s * aqk;
          m[q * n + k] = s * apk + c * aqk;
        }
        if (withVectors) {
          for (let k = 0; k < n; k++) {
            const vkp = v[k * n + p],
              vkq = v[k * n + q];
            v[k * n + p] = c * vkp - s * vkq;
            v[k * n + q] = s * vkp + c * vkq;
          }
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => m[j * n + j] - m[i * n + i]);
  const values = Float64Array.from(order, (i) => m[i * n + i]);
  const vectors = new Float64Array(withVectors ? n * n : 0);
  if (withVectors)
    order.forEach((i, r) => {
      for (let k = 0; k < n; k++) vectors[r * n + k] = v[k * n + i];
    });
  return { values, vectors };
}
