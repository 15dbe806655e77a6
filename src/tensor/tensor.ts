import { heap } from '../memory/allocator.js';
import { unwatch, watch } from '../memory/finalize.js';
import { track } from '../memory/scope.js';
import { type DType, type TypedArray, bytesPer, checkDType, viewOf } from './dtype.js';
import { type Shape, fmt, sizeOf } from './shape.js';

/** Bytes in the shared memory, reference counted so reshaped views can share them. */
export class Storage {
  refs = 1;
  private cached: TypedArray | null = null;
  private generation = -1;
  readonly offset: number;
  readonly bytes: number;

  constructor(
    readonly dtype: DType,
    readonly length: number,
  ) {
    this.bytes = Math.max(1, length * bytesPer(dtype));
    this.offset = heap.alloc(this.bytes);
  }

  view(): TypedArray {
    // A non-shared memory detaches old views when it grows, so refresh after each growth.
    if (this.generation !== heap.generation || this.cached === null) {
      this.cached = viewOf(this.dtype, heap.buffer, this.offset, this.length);
      this.generation = heap.generation;
    }
    return this.cached;
  }

  release(): void {
    if (--this.refs === 0) heap.release(this.offset, this.bytes);
  }
}

/** A node of the autograd graph: the op that made a tensor and how to push a gradient back. */
export interface GradNode {
  readonly name: string;
  readonly inputs: readonly Tensor[];
  /** Tensors the gradient reads besides the inputs (the op's outputs). */
  readonly saved?: readonly Tensor[];
  /** dy's owner may let the node overwrite it (`donated`): nothing else holds or sees it. */
  backward(dy: Tensor, donated?: boolean): (Tensor | null)[];
}

let nextId = 1;

export class Tensor {
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly size: number;
  readonly dtype: DType;
  /** Leaf tensors with requiresGrad get `.grad` filled by backward(). */
  requiresGrad = false;
  gradFn: GradNode | null = null;
  private storage: Storage | null;
  private grad_: Tensor | null = null;
  private readonly countedIn: number;

  /** Use the creation functions (tensor, zeros, empty, ...) rather than this constructor. */
  constructor(shape: Shape, dtype: DType = 'float32', storage?: Storage) {
    checkDType('Tensor', dtype);
    this.shape = Object.freeze([...shape]);
    this.size = sizeOf(shape);
    this.dtype = dtype;
    if (storage !== undefined) {
      if (storage.length !== this.size || storage.dtype !== dtype) {
        throw new Error(
          `Tensor: storage of ${storage.length} ${storage.dtype} cannot hold ${fmt(shape)} ${dtype}`,
        );
      }
      storage.refs++;
      this.storage = storage;
    } else {
      try {
        this.storage = new Storage(dtype, this.size);
      } catch (e) {
        if ((e as Error).name === 'OutOfMemoryError')
          (e as Error).message = `tensor ${fmt(shape)} ${dtype}: ${(e as Error).message}`;
        throw e;
      }
    }
    this.countedIn = watch(this, this.storage, this.storage.bytes);
    track(this);
  }

  /**
   * The gradient backward() accumulated (leaves with requiresGrad). Assigning replaces it and
   * frees the one it held, as dropping it does in PyTorch; disposing the tensor (or tidy()
   * freeing it) frees it too. To keep a gradient past `p.grad = null`, zeroGrad() or the
   * tensor's end, take `p.grad.clone()` first.
   */
  get grad(): Tensor | null {
    return this.grad_;
  }

  set grad(g: Tensor | null) {
    if (g !== null && (g.dtype !== this.dtype || fmt(g.shape) !== fmt(this.shape))) {
      throw new Error(
        `grad: assigned ${fmt(g.shape)} ${g.dtype} to a ${fmt(this.shape)} ${this.dtype} tensor`,
      );
    }
    const old = this.grad_;
    this.grad_ = g;
    if (old !== null && old !== g) old.dispose();
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.storage === null;
  }

  /**
   * A live view of the tensor's bytes in the shared memory, for kernels and quick reads.
   * Valid only until the tensor is disposed (or freed by tidy()): the memory then goes to the
   * next tensor allocated, and a kept view would read or write *that* tensor. Hold on to
   * values with toArray(), which copies.
   */
  get data(): TypedArray {
    return this.live().view();
  }

  /** Byte offset of the data in the shared memory, for WASM kernels. */
  get byteOffset(): number {
    return this.live().offset;
  }

  /** The shared storage, for views that reuse it (reshape). */
  get sharedStorage(): Storage {
    return this.live();
  }

  /** A copy of the values (Float32Array for float32 tensors, Float64Array for float64). */
  toArray(): TypedArray {
    return this.data.slice();
  }

  /** Values as nested JS arrays, in the tensor's shape. */
  toNested(): unknown {
    const flat = Array.from(this.data);
    const build = (dim: number, off: number): unknown => {
      if (dim === this.shape.length) return flat[off];
      const step = sizeOf(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, off + i * step));
    };
    return build(0, 0);
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1)
      throw new Error(`item: expected a tensor with one element, got shape ${fmt(this.shape)}`);
    return this.data[0];
  }

  dispose(): void {
    if (this.storage === null) return;
    unwatch(this, this.storage.bytes, this.countedIn);
    this.storage.release();
    this.storage = null;
    this.gradFn = null;
    // Its gradient is its own (kept past tidy() for the optimizer): without this, a leaf
    // made inside tidy() left its gradient behind at every step.
    this.grad = null;
  }

  toString(): string {
    const vals = Array.from(this.data.subarray(0, 8), (v) => +v.toFixed(4));
    return `Tensor(${fmt(this.shape)}, ${this.dtype}, [${vals.join(', ')}${this.size > 8 ? ', ...' : ''}])`;
  }

  private live(): Storage {
    if (this.storage === null) {
      throw new Error(`Tensor ${fmt(this.shape)} (id ${this.id}) was disposed and cannot be used`);
    }
    return this.storage;
  }
}

/** An uninitialized tensor: kernels allocate their outputs with it and write every element. */
export function empty(shape: Shape, dtype: DType = 'float32'): Tensor {
  return new Tensor(shape, dtype);
}

/**
 * A kernel's output: over `over`'s storage when given (a gradient backward() donated to the
 * kernel, which reads each element before writing it; same size and dtype), else fresh.
 */
export function emptyOver(shape: Shape, dtype: DType, over: Tensor | null): Tensor {
  return over !== null ? new Tensor(shape, dtype, over.sharedStorage) : empty(shape, dtype);
}

/** A backward kernel's dx of x's shape: over dy when backward() donated it (attrs.intoDy)
 * and it has x's dtype and size, else fresh. */
export function dxOver(x: Tensor, dy: Tensor, intoDy: boolean | undefined): Tensor {
  const over = intoDy === true && dy.dtype === x.dtype && dy.size === x.size;
  return emptyOver(x.shape, x.dtype, over ? dy : null);
}
