// The kernel thread pool. Workers instantiate the WASM module on the shared tensor memory;
// a parallel call splits an index range into contiguous chunks, the main thread runs the
// first chunk and workers the rest, and the main thread blocks (Atomics.wait) until all are
// done, so ops stay synchronous. Every split is over independent outputs (channels, rows,
// output columns), never inside a reduction, so results are bit-identical for any thread
// count. Node only: browsers cannot block their main thread, and there threads stay at 1.
import { heap } from '../../memory/allocator.js';

const [SEQ, DONE, FN, NARGS, READY] = [0, 1, 2, 3, 4];
const MAX_ARGS = 32;

interface Lane {
  worker: { terminate(): Promise<number>; unref(): void };
  I: Int32Array;
  A: Float64Array;
  seq: number;
}

let lanes: Lane[] = [];
let names: string[] = [];
let exportsRef: Record<string, (...a: number[]) => void> | null = null;
let moduleRef: WebAssembly.Module | null = null;
let WorkerCtor: (new (url: URL, opts: object) => Lane['worker']) | null = null;
let defaultThreads = 1;
let grainScale = 1;

/** Scales every minimum chunk size (tests set 0 to split even tiny calls across threads). */
export function setGrainScale(scale: number): void {
  grainScale = scale;
}

if (typeof process !== 'undefined' && process.versions?.node !== undefined) {
  const wt = await import('node:worker_threads');
  const os = await import('node:os');
  WorkerCtor = wt.Worker as unknown as typeof WorkerCtor;
  defaultThreads = wt.isMainThread ? Math.max(1, os.availableParallelism()) : 1;
}

/** Called by the loader with the compiled module and its exports. */
export function attachThreads(module: WebAssembly.Module, exports: Record<string, unknown>): void {
  moduleRef = module;
  exportsRef = exports as Record<string, (...a: number[]) => void>;
  names = Object.keys(exports).filter((k) => typeof exports[k] === 'function');
  setNumThreads(defaultThreads);
}

export function getNumThreads(): number {
  return lanes.length + 1;
}

/**
 * Sets how many threads the WASM kernels use (the calling thread included). Defaults to the
 * available cores in Node's main thread and to 1 elsewhere; results do not depend on it.
 */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`setNumThreads: expected a positive integer, got ${n}`);
  if (WorkerCtor === null || moduleRef === null) {
    if (n !== 1) throw new Error('setNumThreads: worker threads need Node.js and the WASM kernels');
    return;
  }
  while (lanes.length > n - 1) {
    const lane = lanes.pop()!;
    lane.I[FN] = -1;
    Atomics.add(lane.I, SEQ, 1);
    Atomics.notify(lane.I, SEQ);
    void lane.worker.terminate();
  }
  while (lanes.length < n - 1) {
    const ctrl = new SharedArrayBuffer(64),
      args = new SharedArrayBuffer(MAX_ARGS * 8);
    const worker = new WorkerCtor(new URL('./thread-worker.js', import.meta.url), {
      workerData: { module: moduleRef, memory: heap.memory, ctrl, args, names },
    });
    worker.unref(); // kernel threads never keep the process alive
    const lane = { worker, I: new Int32Array(ctrl), A: new Float64Array(args), seq: 0 };
    Atomics.wait(lane.I, READY, 0, 10000);
    if (Atomics.load(lane.I, READY) !== 1)
      throw new Error('setNumThreads: a kernel thread did not start');
    lanes.push(lane);
  }
}

/**
 * Runs WASM export `fn` over [0, total) split into one contiguous chunk per thread (chunks of
 * at least `grain`); argsFor(lo, hi, thread) gives each call's arguments.
 */
export function parallelFor(
  fn: string,
  total: number,
  grain: number,
  argsFor: (lo: number, hi: number, thread: number) => number[],
): void {
  const k = exportsRef![fn];
  const threads = Math.max(
    1,
    Math.min(lanes.length + 1, Math.floor(total / Math.max(1, grain * grainScale))),
  );
  if (threads === 1) {
    k(...argsFor(0, total, 0));
    return;
  }
  const fnIndex = names.indexOf(fn);
  const bounds = Array.from({ length: threads + 1 }, (_, t) => Math.round((t * total) / threads));
  for (let t = 1; t < threads; t++) {
    const lane = lanes[t - 1];
    const a = argsFor(bounds[t], bounds[t + 1], t);
    lane.A.set(a);
    lane.I[FN] = fnIndex;
    lane.I[NARGS] = a.length;
    lane.seq = Atomics.add(lane.I, SEQ, 1) + 1;
    Atomics.notify(lane.I, SEQ);
  }
  k(...argsFor(bounds[0], bounds[1], 0));
  for (let t = 1; t < threads; t++) {
    const lane = lanes[t - 1];
    const start = Date.now();
    // Wait on the value just checked: had the worker finished (and notified) between a
    // check and a second load, waiting on the new value would sleep out the whole timeout.
    for (let done = Atomics.load(lane.I, DONE); done !== lane.seq;) {
      Atomics.wait(lane.I, DONE, done, 1000);
      done = Atomics.load(lane.I, DONE);
      if (Date.now() - start > 120000)
        throw new Error(`${fn}: kernel thread ${t} stopped responding`);
    }
  }
}
