// Registers the 'wasm' backend's kernels once the module is loaded. They accept float32
// tensors; float64 falls through to the JS reference kernels.
import type { Tensor } from '../../tensor/tensor.js';
import { registerConvKernels } from '../js/conv.js';
import { registerMatMul } from '../js/matmul.js';
import { makeWasmGemm } from './gemm.js';
import { onWasmReady } from './loader.js';

const float32 = (inputs: Tensor[]) => inputs.every((t) => t.dtype === 'float32');

onWasmReady((k) => {
  const gemm = makeWasmGemm(k);
  registerConvKernels('wasm', gemm, float32);
  registerMatMul('wasm', gemm, float32);
});
