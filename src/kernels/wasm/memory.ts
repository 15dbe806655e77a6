// Pointers for WASM kernels: a float32 view of the shared tensor memory has one; anything
// else (float64 data, JS-heap arrays) does not, and the caller falls back to the JS kernel.
import { heap } from '../../memory/allocator.js';
import type { TypedArray } from '../../tensor/dtype.js';
import { workspaceBytes } from '../workspace.js';

export function heapPtr(a: TypedArray): number | null {
  if (!(a instanceof Float32Array)) return null;
  const buf = a.buffer;
  return buf === heap.buffer || (heap.shared && buf instanceof SharedArrayBuffer)
    ? a.byteOffset
    : null;
}

/** Copies float64 parameter arrays into a scratch area; returns their pointers. */
export function f64Args(name: string, ...arrays: Float64Array[]): number[] {
  return copyArgs(name, Float64Array, arrays);
}

/** Reads float64 results back out of a scratch area. */
export function f64Read(ptr: number, n: number): Float64Array {
  return new Float64Array(heap.buffer, ptr, n).slice();
}

/** Copies parameter arrays into a float32 scratch area (rounding each value); returns their pointers. */
export function f32Args(name: string, ...arrays: ArrayLike<number>[]): number[] {
  return copyArgs(name, Float32Array, arrays);
}

function copyArgs(
  name: string,
  View: Float32ArrayConstructor | Float64ArrayConstructor,
  arrays: ArrayLike<number>[],
): number[] {
  const n = arrays.reduce((s, a) => s + a.length, 0);
  const size = View.BYTES_PER_ELEMENT;
  const base = workspaceBytes(name, Math.max(16, n * size));
  const view = new View(heap.buffer as ArrayBuffer, base, n);
  const ptrs: number[] = [];
  let at = 0;
  for (const a of arrays) {
    view.set(a, at);
    ptrs.push(base + at * size);
    at += a.length;
  }
  return ptrs;
}
