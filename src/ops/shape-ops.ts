// Shape and layout ops: reshape is a view, the rest copy.
import { apply } from '../autograd/apply.js';
import { registerGradient } from '../kernels/registry.js';
import type { DType } from '../tensor/dtype.js';
import { fmt, normDim, sizeOf } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { expectTensor } from './util.js';

/** Reshape (one dim may be -1); shares storage with x. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  expectTensor('reshape', 'x', x);
  const s = [...shape];
  const free = s.indexOf(-1);
  if (free >= 0) {
    const known = sizeOf(s.filter((_, i) => i !== free));
    if (s.lastIndexOf(-1) !== free || known === 0 || x.size % known !== 0) {
      throw new Error(`reshape: cannot reshape ${fmt(x.shape)} into ${fmt(shape)}`);
    }
    s[free] = x.size / known;
  }
  if (s.some((d) => !Number.isInteger(d) || d < 0) || sizeOf(s) !== x.size) {
    throw new Error(
      `reshape: cannot reshape ${fmt(x.shape)} (${x.size} elements) into ${fmt(shape)}`,
    );
  }
  return apply('Reshape', [x], { shape: s });
}

export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  expectTensor('flatten', 'x', x);
  if (x.rank === 0) return reshape(x, [1]);
  const a = normDim('flatten', startDim, x.rank),
    b = normDim('flatten', endDim, x.rank);
  if (a > b)
    throw new Error(
      `flatten: startDim ${startDim} comes after endDim ${endDim} for ${fmt(x.shape)}`,
    );
  return reshape(x, [
    ...x.shape.slice(0, a),
    sizeOf(x.shape.slice(a, b + 1)),
    ...x.shape.slice(b + 1),
  ]);
}

export function unsqueeze(x: Tensor, dim: number): Tensor {
  expectTensor('unsqueeze', 'x', x);
  const d = normDim('unsqueeze', dim, x.rank + 1);
  return reshape(x, [...x.shape.slice(0, d), 1, ...x.shape.slice(d)]);
}

export function squeeze(x: Tensor, dim?: number): Tensor {
  expectTensor('squeeze', 'x', x);
  if (dim === undefined)
    return reshape(
      x,
      x.shape.filter((d) => d !== 1),
    );
  const d = normDim('squeeze', dim, x.rank);
  return x.shape[d] === 1
    ? reshape(
        x,
        x.shape.filter((_, i) => i !== d),
      )
    : x;
}

export function permute(x: Tensor, perm: readonly number[]): Tensor {
  expectTensor('permute', 'x', x);
  const p = perm.map((d) => normDim('permute', d, x.rank));
  if (p.length !== x.rank || new Set(p).size !== p.length) {
    throw new Error(
      `permute: expected a permutation of ${x.rank} dims for ${fmt(x.shape)}, got ${fmt(perm)}`,
    );
  }
  return apply('Permute', [x], { perm: p });
}

export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  expectTensor('transpose', 'x', x);
  const p = x.shape.map((_, i) => i);
  const a = normDim('transpose', dim0, x.rank),
    b = normDim('transpose', dim1, x.rank);
  [p[a], p[b]] = [p[b], p[a]];
  return permute(x, p);
}

export function concat(xs: readonly Tensor[], dim = 0): Tensor {
  if (xs.length === 0) throw new Error('concat: expected a non-empty array of tensors');
  xs.forEach((t, i) => expectTensor('concat', `tensors[${i}]`, t));
  const d = normDim('concat', dim, xs[0].rank);
  for (const t of xs) {
    if (
      t.rank !== xs[0].rank ||
      t.dtype !== xs[0].dtype ||
      t.shape.some((s, i) => i !== d && s !== xs[0].shape[i])
    ) {
      throw new Error(
        `concat: shapes ${xs.map((u) => fmt(u.shape)).join(', ')} differ outside dim ${d}`,
      );
    }
  }
  return xs.length === 1 ? xs[0] : apply('Concat', [...xs], { dim: d });
}

export function stack(xs: readonly Tensor[], dim = 0): Tensor {
  if (xs.length === 0) throw new Error('stack: expected a non-empty array of tensors');
  xs.forEach((t, i) => {
    expectTensor('stack', `tensors[${i}]`, t);
    if (t.shape.join() !== xs[0].shape.join()) {
      throw new Error(
        `stack: expected all tensors of shape ${fmt(xs[0].shape)}, got ${fmt(t.shape)} at ${i}`,
      );
    }
  });
  const d = normDim('stack', dim, xs[0].rank + 1);
  return apply(
    'Concat',
    xs.map((t) => unsqueeze(t, d)),
    { dim: d },
  );
}

/** x[..., start:end, ...] along dim (end exclusive; negative values count from the end). */
export function slice(x: Tensor, dim: number, start: number, end?: number): Tensor {
  expectTensor('slice', 'x', x);
  const d = normDim('slice', dim, x.rank);
  const n = x.shape[d];
  const clampIdx = (v: number) => Math.min(n, Math.max(0, v < 0 ? v + n : v));
  const s = clampIdx(start),
    e = Math.max(s, clampIdx(end ?? n));
  return apply('Slice', [x], { dim: d, start: s, end: e });
}

export function clone(x: Tensor): Tensor {
  return apply('Clone', [expectTensor('clone', 'x', x)]);
}

export function cast(x: Tensor, dtype: DType): Tensor {
  expectTensor('cast', 'x', x);
  if (dtype !== 'float32' && dtype !== 'float64')
    throw new Error(`cast: expected dtype float32 or float64, got ${dtype}`);
  return apply('Cast', [x], { dtype });
}

registerGradient('Reshape', (dy, { inputs: [x] }) => [reshape(dy, x.shape)]);
registerGradient('Clone', (dy) => [dy]);
registerGradient('Cast', (dy, { inputs: [x] }) => [cast(dy, x.dtype)]);
registerGradient('Permute', (dy, { attrs: { perm } }) => {
  const inv = new Array<number>(perm.length);
  perm.forEach((p: number, i: number) => (inv[p] = i));
  return [apply('Permute', [dy], { perm: inv })];
});
registerGradient('Concat', (dy, { inputs, attrs: { dim } }) => {
  let at = 0;
  return inputs.map((t) => {
    const g = apply('Slice', [dy], { dim, start: at, end: at + t.shape[dim] });
    at += t.shape[dim];
    return g;
  });
});
registerGradient('Slice', (dy, { inputs: [x], attrs: { dim, start } }) => [
  apply('SliceGrad', [dy], { dim, start, inputShape: [...x.shape] }),
]);
