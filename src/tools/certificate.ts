// Certified robustness from a Lipschitz bound: a sample whose logit margin is m cannot change
// class under an ℓ2 perturbation smaller than m / (√2·L). The certificate is only valid for
// exactly the weights and BatchNorm statistics it was made with, so it records a SHA-256 of
// every parameter and buffer, and verifyCertificate names whatever changed since.
// (Node only: 'normkit/node'.)
import { createHash } from 'node:crypto';
import { noGrad } from '../autograd/grad-mode.js';
import { tidy } from '../memory/scope.js';
import type { Module } from '../nn/module.js';
import { fmt } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import type { LipschitzBound } from './lipschitz.js';

export interface Certificate {
  /** The Lipschitz bound the radii were computed with. */
  bound: number;
  /** Per sample: the certified ℓ2 radius (0 when misclassified or tied). */
  radii: number[];
  predictions: number[];
  /** Per sample, when labels were given: whether the prediction is right. */
  correct: boolean[] | null;
  /** SHA-256 of every parameter and buffer, by state-dict key. */
  hashes: Record<string, string>;
  createdAt: string;
}

function hashes(model: Module): Record<string, string> {
  return Object.fromEntries(
    Object.entries(model.stateDict()).map(([k, t]) => {
      const d = t.data;
      const h = createHash('sha256').update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
      return [k, h.update(`${t.dtype} ${fmt(t.shape)}`).digest('hex')];
    }),
  );
}

/**
 * Certified radii for a batch x: margin / (√2·bound), the margin taken against the label when
 * labels are given (a misclassified sample gets 0) or between the two largest logits.
 */
export function certify(
  model: Module,
  x: Tensor,
  opts: { bound: number | LipschitzBound; labels?: ArrayLike<number> },
): Certificate {
  const L = typeof opts.bound === 'number' ? opts.bound : opts.bound.bound;
  if (!(Number.isFinite(L) && L > 0))
    throw new Error(`certify: expected a positive finite bound, got ${L}`);
  if (model.namedModules().some(([, m]) => m.training)) {
    throw new Error(`certify: ${model.describe()} is in training mode: call model.eval() first`);
  }
  const labels = opts.labels;
  if (labels !== undefined && labels.length !== x.shape[0]) {
    throw new Error(
      `certify: ${labels.length} labels for a batch of ${x.shape[0]} (input ${fmt(x.shape)})`,
    );
  }
  const logits = noGrad(() => tidy(() => model.call(x).toArray()));
  const N = x.shape[0],
    C = logits.length / N;
  const radii: number[] = [],
    predictions: number[] = [],
    correct: boolean[] = [];
  for (let i = 0; i < N; i++) {
    const row = logits.subarray(i * C, (i + 1) * C);
    let top = 0;
    for (let c = 1; c < C; c++) if (row[c] > row[top]) top = c;
    const ref = labels === undefined ? top : labels[i];
    let other = -Infinity;
    for (let c = 0; c < C; c++) if (c !== ref) other = Math.max(other, row[c]);
    const margin = row[ref] - other;
    predictions.push(top);
    correct.push(top === ref);
    radii.push(margin > 0 ? margin / (Math.SQRT2 * L) : 0);
  }
  return {
    bound: L,
    radii,
    predictions,
    correct: labels === undefined ? null : correct,
    hashes: hashes(model),
    createdAt: new Date().toISOString(),
  };
}

/** Fraction of samples classified right with a certified radius of at least `radius`. */
export function certifiedAccuracy(cert: Certificate, radius: number): number {
  if (cert.correct === null)
    throw new Error('certifiedAccuracy: the certificate was made without labels');
  return cert.radii.filter((r, i) => cert.correct![i] && r >= radius).length / cert.radii.length;
}

/** Throws, naming every parameter or statistic that changed since the certificate was made. */
export function verifyCertificate(model: Module, cert: Certificate): true {
  const now = hashes(model);
  const changed = Object.keys(cert.hashes).filter((k) => now[k] !== cert.hashes[k]);
  const added = Object.keys(now).filter((k) => !(k in cert.hashes));
  if (changed.length + added.length > 0) {
    throw new Error(
      `verifyCertificate: the certificate no longer holds for ${model.describe()}: ` +
        [
          changed.length ? `${changed.join(', ')} changed` : '',
          added.length ? `${added.join(', ')} not covered` : '',
        ]
          .filter(Boolean)
          .join('; ') +
        ` since ${cert.createdAt}; compute the bound and certify again`,
    );
  }
  return true;
}
