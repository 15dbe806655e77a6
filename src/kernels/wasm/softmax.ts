// Softmax, log-softmax and their gradient in WASM (assembly/softmax.ts): over the last dim by
// rows, over any other dim as [outer, D, inner] with four inner positions per vector; outer
// rows (or rows) split across threads.
import { registerKernel } from '../registry.js';
import { type Tensor, empty } from '../../tensor/tensor.js';
import { heapPtr } from './memory.js';
import { GRAIN_ELEMENTS } from './primitives.js';
import { parallelFor } from './threads.js';

const inHeap = (inputs: Tensor[]) => inputs.every((t) => heapPtr(t.data) !== null);

/** x's shape around dim as [outer, D, inner]. */
function around(shape: readonly number[], dim: number) {
  const prod = (ds: readonly number[]) => ds.reduce((p, d) => p * d, 1);
  return { outer: prod(shape.slice(0, dim)), D: shape[dim], inner: prod(shape.slice(dim + 1)) };
}

/**
 * Runs the rows kernel (inner = 1) or the strided one over a tensor's [outer, D, inner]
 * view; `pointers` are the arrays' base pointers, `tail` the arguments after the shape.
 */
function overDim(
  shape: readonly number[],
  dim: number,
  rowsFn: string,
  stridedFn: string,
  pointers: number[],
  tail: number[],
): void {
  const { outer, D, inner } = around(shape, dim);
  if (inner === 1) {
    parallelFor(rowsFn, outer, Math.ceil(GRAIN_ELEMENTS / D), (r0, r1) => [
      ...pointers.map((p) => p + r0 * D * 4),
      r1 - r0,
      D,
      ...tail,
    ]);
  } else {
    parallelFor(stridedFn, outer, Math.ceil(GRAIN_ELEMENTS / (D * inner)), (o0, o1) => [
      ...pointers,
      o0,
      o1,
      D,
      inner,
      ...tail,
    ]);
  }
}

export function registerWasmSoftmax(): void {
  for (const [name, log] of [
    ['Softmax', 0],
    ['LogSoftmax', 1],
  ] as const) {
    registerKernel({
      name,
      backend: 'wasm',
      supports: inHeap,
      fn: ([x], { dim }: { dim: number }) => {
        const y = empty(x.shape, x.dtype);
        if (x.size > 0) {
          const ptrs = [heapPtr(x.data)!, heapPtr(y.data)!];
          overDim(x.shape, dim, 'softmaxRows', 'softmaxStrided', ptrs, [log]);
        }
        return y;
      },
    });
  }
  registerKernel({
    name: 'SoftmaxGrad',
    backend: 'wasm',
    differentiable: false,
    supports: inHeap,
    fn: ([dy, y], { log, dim }: { log: boolean; dim: number }) => {
      const dx = empty(y.shape, y.dtype);
      if (y.size > 0) {
        const ptrs = [heapPtr(dy.data)!, heapPtr(y.data)!, heapPtr(dx.data)!];
        overDim(y.shape, dim, 'softmaxGradRows', 'softmaxGradStrided', ptrs, [log ? 1 : 0]);
      }
      return dx;
    },
  });
}
