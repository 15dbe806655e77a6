// One WebAssembly.Memory holds every tensor's bytes, so JS kernels (typed-array views) and
// WASM kernels (pointers) see the same storage with no copies. Shared where the platform
// allows it (worker threads then see the same bytes); views of shared memory survive growth.
//
// Allocation: an exact-size free list first (a training loop asks for the same sizes every
// step, so this is the hot path), then the smallest free block that fits, split; only when
// none fits are all free blocks merged with their neighbours (and a free tail handed back
// to the bump pointer) before the memory grows. A failed allocation changes nothing.
import { collectDropped } from './finalize.js';
import { outOfMemoryHint } from './growth.js';

const PAGE = 65536;
/** Blocks are 64-byte aligned: a cache line, and a multiple of every SIMD width. */
const ALIGN = 64;
/** The first 64 KiB stay reserved for a WASM module's own static data and stack. */
const RESERVED = 65536;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit
const MAX_BYTES = MAX_PAGES * PAGE;

export interface MemoryStats {
  /** Bytes held by live blocks. */
  bytesInUse: number;
  /** The high-water mark of the bump pointer (live and free blocks below it). */
  bytesReserved: number;
  liveBlocks: number;
  /** The most bytes tensors may reserve (setMemoryLimit). */
  limit: number;
}

export class Allocator {
  readonly memory: WebAssembly.Memory;
  readonly shared: boolean;
  /** Bumped whenever the memory grows; cached views compare against it. */
  generation = 0;
  private top = RESERVED;
  /** Free blocks by size (offsets), and the size of each free block by offset. */
  private readonly free = new Map<number, number[]>();
  private readonly freeAt = new Map<number, number>();
  private inUse = 0;
  private live = 0;
  private limit = MAX_BYTES - RESERVED;

  constructor(initialPages = 256) {
    let memory: WebAssembly.Memory;
    let shared = true;
    try {
      memory = new WebAssembly.Memory({ initial: initialPages, maximum: MAX_PAGES, shared: true });
    } catch {
      // Browsers without cross-origin isolation refuse shared memory; fall back to private.
      memory = new WebAssembly.Memory({ initial: initialPages, maximum: MAX_PAGES });
      shared = false;
    }
    this.memory = memory;
    this.shared = shared;
  }

  get buffer(): ArrayBufferLike {
    return this.memory.buffer;
  }

  /** Caps the bytes tensors may reserve (default and maximum: 4 GiB less 64 KiB). */
  setLimit(bytes: number): void {
    if (!(Number.isFinite(bytes) && bytes > 0)) {
      throw new Error(`setMemoryLimit: expected a positive number of bytes, got ${bytes}`);
    }
    this.limit = Math.min(bytes, MAX_BYTES - RESERVED);
  }

  /** Returns the byte offset of a fresh block of at least `bytes` bytes. */
  alloc(bytes: number): number {
    const size = blockSize(bytes);
    if (size > this.limit) throw this.outOfMemory(size); // before any free-list housekeeping
    collectDropped(); // tensors dropped without dispose() come back after the event loop turns
    const offset =
      this.takeFree(size) ?? (this.coalesce() ? this.takeFree(size) : null) ?? this.bump(size);
    this.inUse += size;
    this.live++;
    return offset;
  }

  release(offset: number, bytes: number): void {
    const size = blockSize(bytes);
    this.addFree(offset, size);
    this.inUse -= size;
    this.live--;
  }

  /** Bytes held by live blocks, the high-water mark, the live block count and the limit. */
  stats(): MemoryStats {
    return {
      bytesInUse: this.inUse,
      bytesReserved: this.top - RESERVED,
      liveBlocks: this.live,
      limit: this.limit,
    };
  }

  /** An exact-size block, else the smallest larger one split (the rest stays free). */
  private takeFree(size: number): number | null {
    const exact = this.free.get(size);
    if (exact !== undefined && exact.length > 0) return this.removeFree(exact.pop()!, size);
    let best = Infinity;
    for (const [s, list] of this.free) if (s > size && s < best && list.length > 0) best = s;
    if (best === Infinity) return null;
    const offset = this.removeFree(this.free.get(best)!.pop()!, best);
    this.addFree(offset + size, best - size);
    return offset;
  }

  private removeFree(offset: number, size: number): number {
    this.freeAt.delete(offset);
    if (this.free.get(size)?.length === 0) this.free.delete(size);
    return offset;
  }

  private addFree(offset: number, size: number): void {
    let list = this.free.get(size);
    if (list === undefined) this.free.set(size, (list = []));
    list.push(offset);
    this.freeAt.set(offset, size);
  }

  /** Merges adjacent free blocks and returns a free tail to the bump pointer. */
  private coalesce(): boolean {
    if (this.freeAt.size === 0) return false;
    const blocks = [...this.freeAt].sort((a, b) => a[0] - b[0]);
    this.free.clear();
    this.freeAt.clear();
    const merged: [number, number][] = [];
    for (const [o, s] of blocks) {
      const last = merged[merged.length - 1];
      if (last !== undefined && last[0] + last[1] === o) last[1] += s;
      else merged.push([o, s]);
    }
    const tail = merged[merged.length - 1];
    if (tail[0] + tail[1] === this.top) {
      this.top = tail[0];
      merged.pop();
    }
    for (const [o, s] of merged) this.addFree(o, s);
    return true;
  }

  private bump(size: number): number {
    const offset = this.top;
    const end = offset + size;
    if (end - RESERVED > this.limit) throw this.outOfMemory(size);
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      const pages = Math.ceil((end - have) / PAGE);
      const target = Math.max(pages, Math.ceil(have / PAGE / 4)); // grow by >= 25%
      try {
        this.memory.grow(Math.min(target, MAX_PAGES - have / PAGE));
      } catch {
        try {
          this.memory.grow(pages); // the 25% headroom may be what the system refused
        } catch {
          throw this.outOfMemory(size);
        }
      }
      this.generation++;
    }
    this.top = end;
    return offset;
  }

  private outOfMemory(size: number): Error {
    const why =
      size > this.limit
        ? 'One tensor this large cannot fit under the limit: check the sizes that made it.'
        : outOfMemoryHint();
    const err = new Error(
      `out of tensor memory: requested ${mib(size)}, ${mib(this.inUse)} in use ` +
        `in ${this.live} tensors, ${mib(this.top - RESERVED)} reserved, limit ${mib(this.limit)}. ` +
        why,
    );
    err.name = 'OutOfMemoryError';
    return err;
  }
}

function blockSize(bytes: number): number {
  return Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
}

export function mib(bytes: number): string {
  return bytes >= 1 << 30
    ? `${(bytes / 2 ** 30).toFixed(2)} GiB`
    : `${(bytes / 2 ** 20).toFixed(bytes < 1 << 20 ? 3 : 1)} MiB`;
}

/** The process-wide allocator that every tensor uses. */
export const heap = new Allocator();

export function memoryStats(): MemoryStats {
  return heap.stats();
}

/**
 * Caps the bytes tensors may reserve (PyTorch's set_per_process_memory_fraction, in bytes);
 * an allocation past it throws the out-of-memory error instead of growing the memory.
 */
export function setMemoryLimit(bytes: number): void {
  heap.setLimit(bytes);
}
