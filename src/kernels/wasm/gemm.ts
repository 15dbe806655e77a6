// The WASM SIMD GEMM behind the same GemmFn interface as the JS one. It runs when every
// operand is float32 data in the shared tensor memory with contiguous C rows; anything else
// (float64, JS-heap scratch) goes to the JS reference GEMM.
import { heap } from '../../memory/allocator.js';
import { type Strided, gemm as jsGemm } from '../js/gemm.js';
import { workspaceBytes } from '../workspace.js';
import type { WasmKernels } from './loader.js';

function inHeap(s: Strided): boolean {
  const buf = s.data.buffer;
  return (
    s.data instanceof Float32Array &&
    (buf === heap.buffer || (heap.shared && buf instanceof SharedArrayBuffer))
  );
}

function ptr(s: Strided): number {
  return s.data.byteOffset + s.offset * 4;
}

export function makeWasmGemm(k: WasmKernels) {
  return (
    M: number,
    N: number,
    K: number,
    a: Strided,
    b: Strided,
    c: Strided,
    accumulate: boolean,
  ): void => {
    if (c.colStride !== 1 || !inHeap(a) || !inHeap(b) || !inHeap(c)) {
      jsGemm(M, N, K, a, b, c, accumulate);
      return;
    }
    const work = workspaceBytes('sgemm', k.gemmWorkspaceBytes());
    k.sgemm(
      M,
      N,
      K,
      ptr(a),
      a.rowStride,
      a.colStride,
      ptr(b),
      b.rowStride,
      b.colStride,
      ptr(c),
      c.rowStride,
      accumulate ? 1 : 0,
      work,
    );
  };
}
