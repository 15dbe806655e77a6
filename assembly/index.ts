// normkit's WebAssembly kernels (AssemblyScript, SIMD). Every function works on byte
// offsets into the imported shared memory that holds all tensors.
export { gemmWorkspaceBytes, sgemm } from './gemm';
