// One WebAssembly.Memory holds every tensor's bytes, so JS kernels (typed-array views) and
// WASM kernels (pointers) see the same storage with no copies. Shared where the platform
// allows it (worker threads then see the same bytes); views of shared memory survive growth.

const PAGE = 65536;
/** Blocks are 64-byte aligned: a cache line, and a multiple of every SIMD width. */
const ALIGN = 64;
/** The first 64 KiB stay reserved for a WASM module's own static data and stack. */
const RESERVED = 65536;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit

export class Allocator {
  readonly memory: WebAssembly.Memory;
  readonly shared: boolean;
  /** Bumped whenever the memory grows; cached views compare against it. */
  generation = 0;
  private top = RESERVED;
  // Exact-size free lists: a training loop allocates the same sizes every step, so reuse is
  // perfect and memory stays flat; no coalescing is needed for that pattern.
  private readonly free = new Map<number, number[]>();
  private inUse = 0;
  private live = 0;

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

  /** Returns the byte offset of a fresh block of at least `bytes` bytes. */
  alloc(bytes: number): number {
    const size = blockSize(bytes);
    const list = this.free.get(size);
    let offset: number;
    if (list !== undefined && list.length > 0) {
      offset = list.pop()!;
    } else {
      offset = this.top;
      const end = offset + size;
      const have = this.memory.buffer.byteLength;
      if (end > have) {
        const pages = Math.ceil((end - have) / PAGE);
        const target = Math.max(pages, Math.ceil(have / PAGE / 4)); // grow by >= 25%
        try {
          this.memory.grow(Math.min(target, MAX_PAGES - have / PAGE));
        } catch {
          throw new Error(
            `out of tensor memory: need ${end} bytes, have ${have} (limit ${MAX_PAGES * PAGE}); ` +
              `dispose tensors or run steps inside tidy()`,
          );
        }
        this.generation++;
      }
      this.top = end;
    }
    this.inUse += size;
    this.live++;
    return offset;
  }

  release(offset: number, bytes: number): void {
    const size = blockSize(bytes);
    let list = this.free.get(size);
    if (list === undefined) {
      list = [];
      this.free.set(size, list);
    }
    list.push(offset);
    this.inUse -= size;
    this.live--;
  }

  /** Bytes held by live blocks, the high-water mark, and the live block count. */
  stats(): { bytesInUse: number; bytesReserved: number; liveBlocks: number } {
    return { bytesInUse: this.inUse, bytesReserved: this.top - RESERVED, liveBlocks: this.live };
  }
}

function blockSize(bytes: number): number {
  return Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
}

/** The process-wide allocator that every tensor uses. */
export const heap = new Allocator();

export function memoryStats(): { bytesInUse: number; bytesReserved: number; liveBlocks: number } {
  return heap.stats();
}
