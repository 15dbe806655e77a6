// normkit: tensors, autograd, nn modules and optimizers with batch normalization and its
// family, in TypeScript with no native binaries.
import './kernels/js/index.js';
import './ops/methods.js';
import './kernels/wasm/index.js';

export { Tensor, empty } from './tensor/tensor.js';
export type { DType, TypedArray } from './tensor/dtype.js';
export * from './tensor/create.js';
export { tidy, keep, dispose } from './memory/scope.js';
export { memoryStats, setMemoryLimit, type MemoryStats } from './memory/allocator.js';
export { setMemoryWarnings } from './memory/growth.js';
export { noGrad, isGradEnabled } from './autograd/grad-mode.js';
export { backward, type BackwardOptions } from './autograd/engine.js';
export type { GradHook, RemovableHandle } from './autograd/hooks.js';
/** Runs a registered kernel by name, recording its gradient (for custom ops). */
export { apply as runKernel, applyMulti as runKernelMulti } from './autograd/apply.js';
export { manualSeed, rng, Generator } from './random.js';
/** The index of the largest value in each row of [N, C] logits: predicted classes. */
export { argmaxRows } from './train/metrics.js';
export * as ops from './ops/index.js';
export * from './ops/index.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export * as data from './data/index.js';
export * as kernels from './kernels/registry.js';
import { getBackendOrder, setBackendOrder } from './kernels/registry.js';
import { wasmKernels } from './kernels/wasm/loader.js';
export {
  initWasm,
  relaxedSimdFlagSet,
  wasmBuild,
  wasmLoadError,
  type WasmBuild,
} from './kernels/wasm/loader.js';
export { getNumThreads, initThreads, setNumThreads } from './kernels/wasm/threads.js';

/** Chooses the kernels: 'wasm' (SIMD, the default when loaded) or 'js' (the reference). */
export function setBackend(name: 'wasm' | 'js'): void {
  if (name !== 'wasm' && name !== 'js')
    throw new Error(`setBackend: expected 'wasm' or 'js', got ${String(name)}`);
  setBackendOrder(name === 'wasm' ? ['wasm'] : []);
}

export function getBackend(): 'wasm' | 'js' {
  return getBackendOrder()[0] === 'wasm' && wasmKernels() !== null ? 'wasm' : 'js';
}
export * from './tools/index.js';
export {
  loadSafetensors,
  safetensorsMetadata,
  saveSafetensors,
  type SaveSafetensorsOptions,
} from './io/safetensors.js';
