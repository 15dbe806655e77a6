// Permute in WASM: the output's dims with size 1 dropped and neighbours that stay neighbours
// in the input merged; four levels in one loop nest (a permutation that keeps the last dim
// copies whole runs), more as blocks of the outer levels (permuteOuter).
import { registerKernel } from '../registry.js';
import { stridesOf } from '../../tensor/shape.js';
import { type Tensor, empty } from '../../tensor/tensor.js';
import { heapPtr } from './memory.js';
import { heap } from '../../memory/allocator.js';
import { workspaceBytes } from '../workspace.js';
import { GRAIN_ELEMENTS } from './primitives.js';
import { parallelFor } from './threads.js';

/** Output dims and the input's strides for them, collapsed and padded to four levels. */
function permutePlan(x: Tensor, perm: number[]): { dims: number[]; src: number[] } | null {
  if (heapPtr(x.data) === null || x.size === 0) return null;
  const xs = stridesOf(x.shape);
  const dims: number[] = [],
    src: number[] = [];
  for (const p of perm) {
    const n = x.shape[p];
    if (n === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && src[last] === xs[p] * n) {
      dims[last] *= n;
      src[last] = xs[p];
    } else {
      dims.push(n);
      src.push(xs[p]);
    }
  }
  while (dims.length < 4) {
    dims.unshift(1);
    src.unshift(0);
  }
  return { dims, src };
}

export function registerWasmLayout(): void {
  registerKernel({
    name: 'Permute',
    backend: 'wasm',
    supports: ([x]: Tensor[], { perm }: { perm: number[] }) => permutePlan(x, perm) !== null,
    fn: ([x], { perm }: { perm: number[] }) => {
      const { dims, src } = permutePlan(x, perm)!;
      const y = empty(
        perm.map((p) => x.shape[p]),
        x.dtype,
      );
      const [px, py] = [heapPtr(x.data)!, heapPtr(y.data)!];
      const L = dims.length;
      if (L > 4) {
        const meta = workspaceBytes('permute-levels', 8 * L);
        new Int32Array(heap.buffer, meta, 2 * L).set([...dims, ...src]);
        const blocks = dims.slice(0, L - 4).reduce((p, d) => p * d, 1);
        const block = dims.slice(L - 4).reduce((p, d) => p * d, 1);
        parallelFor('permuteOuter', blocks, Math.ceil(GRAIN_ELEMENTS / block), (o0, o1) => [
          px,
          py,
          L,
          meta,
          meta + 4 * L,
          o0,
          o1,
        ]);
        return y;
      }
      const per = dims[1] * dims[2] * dims[3];
      // Split the first dim when it is long enough, else run on one thread.
      parallelFor('permute4', dims[0], Math.ceil(GRAIN_ELEMENTS / per), (lo, hi) => [
        px + lo * src[0] * 4,
        py + lo * per * 4,
        hi - lo,
        dims[1],
        dims[2],
        dims[3],
        ...src,
      ]);
      return y;
    },
  });
}
