// Grow-only scratch areas in the shared memory, one per purpose, so kernels (JS or WASM)
// can use them without allocating per call. They live as long as the process.
import { heap } from '../memory/allocator.js';
import { type DType, type TypedArray, bytesPer, viewOf } from '../tensor/dtype.js';

const areas = new Map<string, { offset: number; bytes: number }>();

/** Byte offset of a scratch area of at least `bytes` bytes, reused across calls. */
export function workspaceBytes(name: string, bytes: number): number {
  const cur = areas.get(name);
  if (cur !== undefined && cur.bytes >= bytes) return cur.offset;
  if (cur !== undefined) heap.release(cur.offset, cur.bytes);
  const size = Math.max(bytes, (cur?.bytes ?? 0) * 2);
  const offset = heap.alloc(size);
  areas.set(name, { offset, bytes: size });
  return offset;
}

/** A typed view of a scratch area holding at least n elements of dtype. */
export function workspace(name: string, dtype: DType, n: number): TypedArray {
  const offset = workspaceBytes(`${name}:${dtype}`, n * bytesPer(dtype));
  return viewOf(dtype, heap.buffer, offset, n);
}
