// A deep copy of a module (PyTorch's copy.deepcopy(model)): every tensor copied (parameters
// stay parameters, buffers buffers), every submodule, array, Map and plain object copied, and
// an object reached twice (a child held in a field and in the registry, a tensor held by two
// layers) copied once, so the copy has the original's structure. Functions (hooks) are
// shared. `substitutes` maps objects of the original to what the copy holds instead (how
// foldBatchNorm swaps BatchNorm layers for Identity); `dtype: 'float64'` makes every float32
// tensor of the copy float64 (PyTorch's model.double() on a copy), for exact comparisons.
import { noGrad } from '../autograd/grad-mode.js';
import { keep } from '../memory/scope.js';
import { cast, clone } from '../ops/shape-ops.js';
import { Tensor } from '../tensor/tensor.js';
import type { Module } from './module.js';

export interface CloneOptions {
  substitutes?: ReadonlyMap<object, unknown>;
  dtype?: 'float64';
}

export function cloneModule<M extends Module>(module: M, opts: CloneOptions = {}): M {
  if (opts.dtype !== undefined && opts.dtype !== 'float64')
    throw new Error(`cloneModule: dtype can be 'float64' only, got ${String(opts.dtype)}`);
  const memo = new Map<unknown, unknown>(opts.substitutes ?? []);
  // A submodule's link to its parent: the copy is a root, and must not copy the parent too.
  const link = (module as unknown as { parentLink: object | null }).parentLink;
  if (link !== null) memo.set(link, null);
  return copy(module, memo, opts.dtype) as M;
}

function copy(v: unknown, memo: Map<unknown, unknown>, dtype?: 'float64'): unknown {
  if (v === null || typeof v !== 'object') return v; // primitives and functions
  if (memo.has(v)) return memo.get(v);
  if (v instanceof Tensor) {
    if (v.isDisposed)
      throw new Error(`cloneModule: a tensor ${JSON.stringify(v.shape)} was disposed`);
    const t = noGrad(() => (dtype !== undefined && v.dtype !== dtype ? cast(v, dtype) : clone(v)));
    t.requiresGrad = v.requiresGrad;
    keep(t);
    memo.set(v, t);
    return t;
  }
  if (ArrayBuffer.isView(v)) {
    const c = (v as unknown as { slice(): unknown }).slice();
    memo.set(v, c);
    return c;
  }
  if (v instanceof Map) {
    const c = new Map();
    memo.set(v, c);
    for (const [k, x] of v) c.set(copy(k, memo, dtype), copy(x, memo, dtype));
    return c;
  }
  if (v instanceof Set) {
    const c = new Set();
    memo.set(v, c);
    for (const x of v) c.add(copy(x, memo, dtype));
    return c;
  }
  if (Array.isArray(v)) {
    const c: unknown[] = [];
    memo.set(v, c);
    for (const x of v) c.push(copy(x, memo, dtype));
    return Object.isFrozen(v) ? Object.freeze(c) : c;
  }
  if (v instanceof WeakMap || v instanceof WeakSet || v instanceof Promise) return v;
  // Class instances (modules among them) and plain objects: same prototype, own properties.
  const c = Object.create(Object.getPrototypeOf(v)) as object;
  memo.set(v, c);
  for (const key of Reflect.ownKeys(v)) {
    const d = Object.getOwnPropertyDescriptor(v, key)!;
    if ('value' in d) d.value = copy(d.value, memo, dtype);
    Object.defineProperty(c, key, d);
  }
  return c;
}
