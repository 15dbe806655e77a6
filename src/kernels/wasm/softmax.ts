// Softmax, log-softmax and their gradient over the last dim in WASM (rows split across
// threads); other dims stay on the JS kernels.
import { registerKernel } from '../registry.js';
import { type Tensor, empty } from '../../tensor/tensor.js';
import { heapPtr } from './memory.js';
import { GRAIN_ELEMENTS } from './primitives.js';
import { parallelFor } from './threads.js';

const lastDim = (inputs: Tensor[], { dim }: { dim: number }) =>
  inputs.every((t) => heapPtr(t.data) !== null) && dim === inputs[0].rank - 1;

export function registerWasmSoftmax(): void {
  for (const [name, log] of [
    ['Softmax', 0],
    ['LogSoftmax', 1],
  ] as const) {
    registerKernel({
      name,
      backend: 'wasm',
      supports: lastDim,
      fn: ([x]) => {
        const y = empty(x.shape, x.dtype);
        const D = x.shape[x.rank - 1];
        const [px, py] = [heapPtr(x.data)!, heapPtr(y.data)!];
        parallelFor('softmaxRows', x.size / D, Math.ceil(GRAIN_ELEMENTS / D), (r0, r1) => [
          px + r0 * D * 4,
          py + r0 * D * 4,
          r1 - r0,
          D,
          log,
        ]);
        return y;
      },
    });
  }
  registerKernel({
    name: 'SoftmaxGrad',
    backend: 'wasm',
    differentiable: false,
    supports: lastDim,
    fn: ([dy, y], { log }: { log: boolean }) => {
      const dx = empty(y.shape, y.dtype);
      const D = y.shape[y.rank - 1];
      const [pg, py, pd] = [heapPtr(dy.data)!, heapPtr(y.data)!, heapPtr(dx.data)!];
      parallelFor('softmaxGradRows', y.size / D, Math.ceil(GRAIN_ELEMENTS / D), (r0, r1) => [
        pg + r0 * D * 4,
        py + r0 * D * 4,
        pd + r0 * D * 4,
        r1 - r0,
        D,
        log ? 1 : 0,
      ]);
      return dx;
    },
  });
}
