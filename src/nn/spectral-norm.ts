// Spectral normalization (Miyato et al. 2018), as torch.nn.utils.spectral_norm: the weight is
// reparametrized as weight_orig / σ, with σ the largest singular value of weight_orig viewed as
// a matrix (dimension `dim` first), estimated by power iteration on two buffers u and v that
// move in training forward passes only. σ is computed with ops, so backward sees it; u and v
// are constants to it. State-dict keys as PyTorch's: weight_orig, weight_u, weight_v.
import { noGrad } from '../autograd/grad-mode.js';
import type { RemovableHandle } from '../autograd/hooks.js';
import { keep } from '../memory/scope.js';
import { div, mul } from '../ops/arith.js';
import { matmul } from '../ops/matmul.js';
import { sum } from '../ops/reduce.js';
import { clone, permute, reshape } from '../ops/shape-ops.js';
import { randn } from '../tensor/create.js';
import { fmt } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { ConvTranspose2d } from './layers.js';
import type { Module } from './module.js';

export interface SpectralNormOptions {
  name?: string;
  /** Power iterations per training forward pass (default 1). */
  nPowerIterations?: number;
  eps?: number;
  /** The dimension that becomes the matrix's rows (default 0; 1 for ConvTranspose2d, as PyTorch). */
  dim?: number;
}

interface SpectralState {
  name: string;
  n: number;
  eps: number;
  dim: number;
  orig: Tensor;
  u: Tensor;
  v: Tensor;
  handle: RemovableHandle;
}

const STATE = new WeakMap<Module, Map<string, SpectralState>>();

/** weight_orig as an [h, w] matrix, dimension `dim` first. */
function matrix(w: Tensor, dim: number): Tensor {
  const t = dim === 0 ? w : permute(w, [dim, ...w.shape.map((_, i) => i).filter((i) => i !== dim)]);
  return reshape(t, [w.shape[dim], -1]);
}

/** x / max(‖x‖, eps), in place (PyTorch's F.normalize). */
function normalizeInPlace(x: Float32Array | Float64Array, eps: number): void {
  let s = 0;
  for (const v of x) s += v * v;
  const n = Math.max(Math.sqrt(s), eps);
  for (let i = 0; i < x.length; i++) x[i] /= n;
}

/** n steps of v ← normalize(Wᵀu), u ← normalize(Wv), in place (float64 sums). */
function powerIterate(s: SpectralState): void {
  const W = noGrad(() => matrix(s.orig, s.dim).toArray());
  const h = s.u.size,
    w = s.v.size;
  const u = s.u.data,
    v = s.v.data;
  for (let it = 0; it < s.n; it++) {
    for (let j = 0; j < w; j++) {
      let acc = 0;
      for (let i = 0; i < h; i++) acc += W[i * w + j] * u[i];
      v[j] = acc;
    }
    normalizeInPlace(v, s.eps);
    for (let i = 0; i < h; i++) {
      let acc = 0;
      for (let j = 0; j < w; j++) acc += W[i * w + j] * v[j];
      u[i] = acc;
    }
    normalizeInPlace(u, s.eps);
  }
}

/** weight_orig / σ with σ = uᵀ W v, differentiable in weight_orig. */
function computeWeight(s: SpectralState): Tensor {
  const W = matrix(s.orig, s.dim);
  const sigma = sum(mul(s.u, reshape(matmul(W, reshape(s.v, [-1, 1])), [-1])));
  return div(s.orig, sigma);
}

/** Applies spectral normalization to a parameter of `module` (PyTorch's spectral_norm). */
export function spectralNorm<M extends Module>(module: M, opts: SpectralNormOptions = {}): M {
  const name = opts.name ?? 'weight';
  const n = opts.nPowerIterations ?? 1;
  const eps = opts.eps ?? 1e-12;
  const dim = opts.dim ?? (module instanceof ConvTranspose2d ? 1 : 0);
  const where = `spectralNorm(${module.describe()})`;
  if (STATE.get(module)?.has(name)) {
    throw new Error(`${where}: '${name}' is spectral-normalized already`);
  }
  const w = (module as unknown as Record<string, unknown>)[name];
  if (!(w instanceof Tensor) || !module.namedParameters().some(([k, t]) => k === name && t === w)) {
    throw new Error(`${where}: the module has no parameter '${name}'`);
  }
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`${where}: expected nPowerIterations >= 0, got ${n}`);
  if (!Number.isInteger(dim) || dim < 0 || dim >= w.rank) {
    throw new Error(
      `${where}: expected dim in [0, ${w.rank - 1}] for ${name} ${fmt(w.shape)}, got ${dim}`,
    );
  }
  const h = w.shape[dim],
    cols = w.size / h;
  const u = keep(randn([h])),
    v = keep(randn([cols]));
  normalizeInPlace(u.data, eps);
  normalizeInPlace(v.data, eps);
  module.setParameter(name, undefined);
  module.setParameter(`${name}_orig`, w);
  module.setBuffer(`${name}_u`, u);
  module.setBuffer(`${name}_v`, v);
  const s: SpectralState = { name, n, eps, dim, orig: w, u, v, handle: { remove() {} } };
  s.handle = module.registerForwardPreHook((m) => {
    if (m.training) powerIterate(s);
  });
  Object.defineProperty(module, name, { configurable: true, get: () => computeWeight(s) });
  if (!STATE.has(module)) STATE.set(module, new Map());
  STATE.get(module)!.set(name, s);
  return module;
}

/** Undoes spectralNorm: `name` becomes a plain parameter holding weight_orig / σ. */
export function removeSpectralNorm<M extends Module>(module: M, name = 'weight'): M {
  const s = STATE.get(module)?.get(name);
  if (s === undefined) {
    throw new Error(
      `removeSpectralNorm(${module.describe()}): '${name}' is not spectral-normalized`,
    );
  }
  const w = keep(noGrad(() => clone(computeWeight(s))));
  s.handle.remove();
  Object.defineProperty(module, name, { configurable: true, writable: false, value: w });
  module.setParameter(`${name}_orig`, undefined);
  module.setBuffer(`${name}_u`, undefined);
  module.setBuffer(`${name}_v`, undefined);
  module.setParameter(name, w);
  STATE.get(module)!.delete(name);
  return module;
}
