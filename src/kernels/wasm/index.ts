// Registers the 'wasm' backend's kernels once the module is loaded: the same kernel families
// as the JS backend, given SIMD primitives. They accept float32 tensors; float64 falls
// through to the JS reference kernels.
import { empty } from '../../tensor/tensor.js';
import type { Tensor } from '../../tensor/tensor.js';
import { registerBatchNormKernels } from '../js/batchnorm.js';
import { registerConvKernels } from '../js/conv.js';
import { registerMatMul } from '../js/matmul.js';
import { registerRowNormKernels } from '../js/rownorm.js';
import { registerKernel } from '../registry.js';
import { onWasmReady } from './loader.js';
import { heapPtr } from './memory.js';
import { wasmConvPrimitives, wasmNormPrimitives } from './primitives.js';

const float32 = (inputs: Tensor[]) => inputs.every((t) => t.dtype === 'float32');

onWasmReady((k) => {
  const conv = wasmConvPrimitives(k);
  const norm = wasmNormPrimitives(k);
  registerConvKernels('wasm', conv, float32);
  registerMatMul('wasm', conv.gemm, float32);
  registerBatchNormKernels('wasm', norm, float32);
  registerRowNormKernels('wasm', norm, float32);
  registerKernel({
    name: 'Relu',
    backend: 'wasm',
    supports: float32,
    fn: ([x]) => {
      const y = empty(x.shape, x.dtype);
      k.relu(heapPtr(x.data)!, heapPtr(y.data)!, x.size);
      return y;
    },
  });
  registerKernel({
    name: 'ReluGrad',
    backend: 'wasm',
    differentiable: false,
    supports: (inputs: Tensor[]) => float32(inputs) && inputs[0].size === inputs[1].size,
    fn: ([dy, x]) => {
      const dx = empty(x.shape, x.dtype);
      k.reluGrad(heapPtr(dy.data)!, heapPtr(x.data)!, heapPtr(dx.data)!, x.size);
      return dx;
    },
  });
});
