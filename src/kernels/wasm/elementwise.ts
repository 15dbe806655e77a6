// The WASM broadcasting binary operations and sums. Both describe their operands by element
// strides over the output's dims, collapsed (size-1 dims dropped, adjacent dims merged where
// every operand allows) to the three-level loops the SIMD kernels take. Binary operations
// with more levels walk the outer ones in blocks (binaryOuter); reductions over more than
// one block of dims gather the reduced dims first (a permute) into one.
import { findKernel, registerKernel } from '../registry.js';
import { broadcastShapes, broadcastStrides, stridesOf } from '../../tensor/shape.js';
import { type Tensor, empty } from '../../tensor/tensor.js';
import { workspaceBytes } from '../workspace.js';
import { heapPtr } from './memory.js';
import { heap } from '../../memory/allocator.js';
import { GRAIN_ELEMENTS } from './primitives.js';
import { getNumThreads, parallelFor } from './threads.js';

/** Op codes of assembly/elementwise.ts's binary(), and whether the op has a gradient. */
const BINARY_OPS = {
  Add: [0, true],
  Sub: [1, true],
  Mul: [2, true],
  Div: [3, true],
  Maximum: [5, true],
  Minimum: [6, true],
  GreaterEqual: [7, false],
  Greater: [8, false],
  Equal: [9, false],
  Pow: [10, true],
} as const;
const MASKED_FILL = 4;

interface Collapsed {
  dims: number[];
  strides: number[][];
}

/** Drops size-1 dims and merges dim d into the one before when every operand's strides allow. */
function collapseDims(out: readonly number[], strides: number[][]): Collapsed {
  const dims: number[] = [];
  const st: number[][] = strides.map(() => []);
  for (let d = 0; d < out.length; d++) {
    if (out[d] === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && strides.every((s, k) => st[k][last] === s[d] * out[d])) {
      dims[last] *= out[d];
      strides.forEach((s, k) => (st[k][last] = s[d]));
    } else {
      dims.push(out[d]);
      strides.forEach((s, k) => st[k].push(s[d]));
    }
  }
  return { dims, strides: st };
}

/** [n0, n1, n2] and each operand's strides for them, or null when more levels are needed. */
function threeLevels(c: Collapsed): Collapsed | null {
  if (c.dims.length > 3) return null;
  const pad = 3 - c.dims.length;
  const dims = [...Array<number>(pad).fill(1), ...c.dims];
  const strides = c.strides.map((s) => [...Array<number>(pad).fill(0), ...s]);
  return strides.every((s) => s[2] === 0 || s[2] === 1) ? { dims, strides } : null;
}

/** The collapsed dims of a binary op: three levels (padded), or more (runBinary walks the
 * outer ones); null when the innermost strides are not 0 or 1, or the operands not WASM's. */
function binaryPlan(a: Tensor, b: Tensor): Collapsed | null {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  if (heapPtr(a.data) === null || heapPtr(b.data) === null) return null;
  const out = broadcastShapes('binary', a.shape, b.shape);
  if (out.some((d) => d === 0)) return null;
  const c = collapseDims(out, [broadcastStrides(a.shape, out), broadcastStrides(b.shape, out)]);
  if (c.dims.length <= 3) return threeLevels(c);
  return c.strides.every((s) => s[s.length - 1] <= 1) ? c : null;
}

/** Splits the first level with more than one index across threads. */
function splitLevels(
  fn: string,
  dims: number[],
  ptrs: { base: number; strides: number[] }[],
  rest: (n: number[], p: number[]) => number[],
): void {
  const lvl = dims[0] > 1 ? 0 : dims[1] > 1 ? 1 : 2;
  const per = dims.slice(lvl + 1).reduce((p, d) => p * d, 1);
  parallelFor(fn, dims[lvl], Math.ceil(GRAIN_ELEMENTS / per), (lo, hi) => {
    const n = dims.map((d, i) => (i === lvl ? hi - lo : d));
    return rest(
      n,
      ptrs.map((q) => q.base + lo * q.strides[lvl] * 4),
    );
  });
}

/** y = a op b over the broadcast shape (binaryPlan(a, b) not null); `fill` for MaskedFill. */
function runBinary(name: string, op: number, a: Tensor, b: Tensor, fill = 0): Tensor {
  const { dims, strides } = binaryPlan(a, b)!;
  const y = empty(broadcastShapes(name, a.shape, b.shape), a.dtype);
  if (dims.length > 3) {
    // More levels than the kernel's three: blocks of the outer ones, split across threads.
    const L = dims.length;
    const meta = workspaceBytes('binary-levels', 12 * L);
    new Int32Array(heap.buffer, meta, 3 * L).set([...dims, ...strides[0], ...strides[1]]);
    const blocks = dims.slice(0, L - 3).reduce((p, d) => p * d, 1);
    const per = dims.slice(L - 3).reduce((p, d) => p * d, 1);
    const [pa, pb, py] = [heapPtr(a.data)!, heapPtr(b.data)!, heapPtr(y.data)!];
    parallelFor('binaryOuter', blocks, Math.ceil(GRAIN_ELEMENTS / per), (o0, o1) => [
      op,
      pa,
      pb,
      py,
      L,
      meta,
      meta + 4 * L,
      meta + 8 * L,
      o0,
      o1,
      fill,
    ]);
    return y;
  }
  const ys = [dims[1] * dims[2], dims[2], 1];
  const ptrs = [
    { base: heapPtr(a.data)!, strides: strides[0] },
    { base: heapPtr(b.data)!, strides: strides[1] },
    { base: heapPtr(y.data)!, strides: ys },
  ];
  splitLevels('binary', dims, ptrs, (n, [pa, pb, py]) => [
    op,
    pa,
    pb,
    py,
    ...n,
    ...strides[0],
    ...strides[1],
    fill,
  ]);
  return y;
}

/** Whether threads split a [n0, n1, n2] reduction over n1 by rows (n0), else by columns: rows
 * when there are enough for the threads, or the columns are too few to share out. */
function splitRows(n0: number, n2: number): boolean {
  return n0 >= getNumThreads() || n2 < 64;
}

export function registerWasmElementwise(): void {
  for (const [name, [op, differentiable]] of Object.entries(BINARY_OPS)) {
    registerKernel({
      name,
      backend: 'wasm',
      differentiable,
      supports: ([a, b]: Tensor[]) => binaryPlan(a, b) !== null,
      fn: ([a, b]) => runBinary(name, op, a, b),
    });
  }
  // x where the mask (broadcast to x's shape) is 0, else value: attention's padding masks.
  registerKernel({
    name: 'MaskedFill',
    backend: 'wasm',
    supports: ([x, mask]: Tensor[]) => binaryPlan(x, mask) !== null,
    fn: ([x, mask], { value }: { value: number }) =>
      runBinary('MaskedFill', MASKED_FILL, x, mask, value),
  });

  // Sums whose reduced and kept dims collapse to x as [n0, n1, n2] summed over n1 (one
  // reduced block: 'k?r?k?') or over n0 and n2 (a kept block between two reduced: 'rkr').
  const sumPlan = (x: Tensor, dims: number[]) => {
    if (x.dtype !== 'float32' || heapPtr(x.data) === null || x.size === 0) return null;
    // A reduced dim gets output stride 0; merging then keeps reduced and kept blocks apart.
    const own = stridesOf(x.shape);
    const ostr = stridesOf(x.shape.map((d, i) => (dims.includes(i) ? 1 : d)));
    const c = collapseDims(x.shape, [own, x.shape.map((_, i) => (dims.includes(i) ? 0 : ostr[i]))]);
    const kinds = c.strides[1].map((st) => (st === 0 ? 'r' : 'k')).join('');
    const prod = (ds: number[]) => ds.reduce((p, d) => p * d, 1);
    if (kinds === 'rkr') return { outerInner: true, n0: c.dims[0], n1: c.dims[1], n2: c.dims[2] };
    const at = kinds.indexOf('r');
    if (!/^k?r?k?$/.test(kinds) || at < 0) return null;
    const [n0, n1, n2] = [prod(c.dims.slice(0, at)), c.dims[at], prod(c.dims.slice(at + 1))];
    return { outerInner: false, n0, n1, n2 };
  };
  // Max and variance where the reduced dims collapse to one block ('k?r?k?'): x as
  // [n0, n1, n2] reduced over n1, threads taking rows, or columns when rows are few. Each
  // output is computed as the JS kernel computes it, so the bits agree.
  const outShape = (x: Tensor, dims: number[], keepDim: boolean) =>
    keepDim
      ? x.shape.map((d, i) => (dims.includes(i) ? 1 : d))
      : x.shape.filter((_, i) => !dims.includes(i));
  const reduceMiddle = (
    fn: 'maxMiddle' | 'varMiddle',
    x: Tensor,
    [n0, n1, n2]: number[],
    shape: number[],
    tail: number[],
    scratchPerColumn: number,
  ) => {
    const y = empty(shape, x.dtype);
    const [px, py] = [heapPtr(x.data)!, heapPtr(y.data)!];
    const byRows = splitRows(n0, n2);
    const grain = Math.ceil(GRAIN_ELEMENTS / (byRows ? n1 * n2 : n0 * n1));
    parallelFor(fn, byRows ? n0 : n2, grain, (lo, hi, t) => {
      const acc = workspaceBytes(`reduce-${t}`, scratchPerColumn * (byRows ? n2 : hi - lo));
      return byRows
        ? [px + lo * n1 * n2 * 4, py + lo * n2 * 4, hi - lo, n1, 0, n2, n2, ...tail, acc]
        : [px, py, n0, n1, lo, hi, n2, ...tail, acc];
    });
    return y;
  };
  /**
   * Reduced dims in more than one block: x permuted to [reduced..., kept...] (each in order),
   * one block of n1 rows of n2 columns. Each output then meets its elements in the order the
   * JS kernels do (x's memory order), so the sums, maxima and variances keep their bits.
   */
  const gathered = (x: Tensor, dims: number[]) => {
    const kept = x.shape.map((_, i) => i).filter((i) => !dims.includes(i));
    const perm = [...dims, ...kept];
    const t = findKernel('Permute', [x], { perm }).fn([x], { perm }) as Tensor;
    const size = (ds: number[]) => ds.reduce((p, i) => p * x.shape[i], 1);
    return { t, n1: size(dims), n2: size(kept) };
  };
  const usable = (x: Tensor) =>
    x.dtype === 'float32' && heapPtr(x.data) !== null && x.size > 0 && x.rank > 0;
  const reduce = (
    fn: 'maxMiddle' | 'varMiddle',
    x: Tensor,
    dims: number[],
    keepDim: boolean,
    tail: number[],
    scratchPerColumn: number,
  ) => {
    const shape = outShape(x, dims, keepDim);
    const p = sumPlan(x, dims);
    if (p !== null && !p.outerInner)
      return reduceMiddle(fn, x, [p.n0, p.n1, p.n2], shape, tail, scratchPerColumn);
    const { t, n1, n2 } = gathered(x, dims);
    const y = reduceMiddle(fn, t, [1, n1, n2], shape, tail, scratchPerColumn);
    t.dispose();
    return y;
  };
  registerKernel({
    name: 'Max',
    backend: 'wasm',
    supports: ([x]: Tensor[]) => usable(x),
    fn: ([x], { dims, keepDim }: { dims: number[]; keepDim: boolean }) =>
      reduce('maxMiddle', x, dims, keepDim, [], 4),
  });
  registerKernel({
    name: 'Var',
    backend: 'wasm',
    supports: ([x]: Tensor[]) => usable(x),
    fn: (
      [x],
      { dims, keepDim, correction }: { dims: number[]; keepDim: boolean; correction: number },
    ) => reduce('varMiddle', x, dims, keepDim, [correction], 16),
  });

  registerKernel({
    name: 'Sum',
    backend: 'wasm',
    supports: ([x]: Tensor[]) => usable(x),
    fn: ([x], { dims, keepDim }: { dims: number[]; keepDim: boolean }) => {
      // More than one block of reduced dims (other than 'rkr'): gathered into one first.
      const plan = sumPlan(x, dims);
      const g = plan === null ? gathered(x, dims) : null;
      const { outerInner, n0, n1, n2 } = plan ?? { outerInner: false, n0: 1, n1: g!.n1, n2: g!.n2 };
      const y = empty(outShape(x, dims, keepDim), x.dtype);
      const [px, py] = [heapPtr((g?.t ?? x).data)!, heapPtr(y.data)!];
      if (outerInner) {
        parallelFor('sumOuterInner', n1, Math.ceil(GRAIN_ELEMENTS / (n0 * n2)), (j0, j1) => [
          px,
          py,
          j0,
          j1,
          n0,
          n1,
          n2,
        ]);
      } else if (splitRows(n0, n2)) {
        parallelFor('sumMiddle', n0, Math.ceil(GRAIN_ELEMENTS / (n1 * n2)), (lo, hi, t) => [
          px + lo * n1 * n2 * 4,
          py + lo * n2 * 4,
          hi - lo,
          n1,
          n2,
          n2,
          workspaceBytes(`sum-${t}`, n2 * 8),
        ]);
      } else {
        // Few sums of many columns (a linear layer's bias gradient, [rows, out] over rows):
        // threads take ranges of columns; each column is summed in the same order either way.
        parallelFor('sumMiddle', n2, Math.ceil(GRAIN_ELEMENTS / (n0 * n1)), (j0, j1, t) => [
          px + j0 * 4,
          py + j0 * 4,
          n0,
          n1,
          j1 - j0,
          n2,
          workspaceBytes(`sum-${t}`, (j1 - j0) * 8),
        ]);
      }
      g?.t.dispose();
      return y;
    },
  });
}
