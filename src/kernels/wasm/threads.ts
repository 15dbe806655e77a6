// The kernel thread pool. Workers instantiate the WASM module on the shared tensor memory;
// a parallel call splits an index range into contiguous chunks, the calling thread runs the
// first chunk and workers the rest, and the calling thread blocks (Atomics.wait) until all
// are done, so ops stay synchronous. Every split is over independent outputs (channels, rows,
// output columns), never inside a reduction, so results are bit-identical for any thread
// count. Node: workers start synchronously (setNumThreads). Browser: only a Web Worker may
// block, and a worker it starts runs only once it yields to its event loop, so threads start
// with `await initThreads(n)` inside a cross-origin isolated Web Worker.
import { heap } from '../../memory/allocator.js';
import { isNode } from '../../platform.js';

const [SEQ, DONE, FN, NARGS, READY] = [0, 1, 2, 3, 4];
const MAX_ARGS = 32;
/** How long a thread spins on its mailbox before it sleeps (see thread-worker.ts). */
const SPIN_MS = 0.2;

/** What Node's worker_threads.Worker and the browser's Worker have in common here. */
interface ThreadWorker {
  terminate(): unknown;
  postMessage(message: unknown): void;
}
type WorkerCtor = new (url: URL, opts: object) => ThreadWorker;

interface Lane {
  worker: ThreadWorker;
  I: Int32Array;
  A: Float64Array;
  seq: number;
}

const WORKER_URL = new URL('./thread-worker.js', import.meta.url);

let lanes: Lane[] = [];
let names: string[] = [];
let exportsRef: Record<string, (...a: number[]) => void> | null = null;
let moduleRef: WebAssembly.Module | null = null;
let nodeWorker: WorkerCtor | null = null;
let defaultThreads = 1;
let cores = 1;
let grainScale = 1;

/** Scales every minimum chunk size (tests set 0 to split even tiny calls across threads). */
export function setGrainScale(scale: number): void {
  grainScale = scale;
}

if (isNode) {
  const wt = await import('node:worker_threads');
  const os = await import('node:os');
  nodeWorker = wt.Worker as unknown as WorkerCtor;
  cores = Math.max(1, os.availableParallelism());
  defaultThreads = wt.isMainThread ? cores : 1;
} else {
  cores = Math.max(1, globalThis.navigator?.hardwareConcurrency || 1);
}

/** More kernel threads than this (twice the cores, at least 4) only add memory and start-up time. */
export function maxThreads(): number {
  return Math.max(4, 2 * cores);
}

/** Caps a requested thread count at maxThreads(), saying so. */
function capped(fn: string, n: number): number {
  if (n <= maxThreads()) return n;
  const msg =
    `${fn}: ${n} threads asked for, ${cores} cores available; using ${maxThreads()} ` +
    `(more threads only add memory and start-up time)`;
  if (isNode) process.emitWarning(msg, { code: 'NORMKIT_THREADS_CAPPED' });
  else console.warn(msg);
  return maxThreads();
}

/**
 * V8's WebAssembly flags (--experimental-wasm-relaxed-simd, ...) are process-wide: a worker
 * runs with them already and refuses them in its execArgv (ERR_WORKER_INVALID_EXEC_ARGV).
 */
function isV8WasmFlag(flag: string): boolean {
  return flag.startsWith('--experimental-wasm-') || flag.startsWith('--wasm-');
}

/**
 * The parent's Node options minus those a worker cannot run with: the entry point of
 * `node -e`, `node -p` or `node --input-type=module -e` (ERR_INPUT_TYPE_NOT_ALLOWED) and the
 * other process-wide modes, and V8's WebAssembly flags.
 */
export function workerExecArgv(argv: readonly string[]): string[] {
  const withValue = new Set(['-e', '--eval', '-p', '--print', '--input-type']);
  const alone = new Set(['-i', '--interactive', '-c', '--check', '--test', '--watch']);
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const flag = a.split('=')[0];
    if (withValue.has(flag)) {
      if (!a.includes('=')) i++;
    } else if (
      !alone.has(flag) &&
      !flag.startsWith('--test-') &&
      !flag.startsWith('--watch') &&
      !isV8WasmFlag(flag)
    ) {
      out.push(a);
    }
  }
  return out;
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

function checkCount(fn: string, n: number): void {
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`${fn}: expected a positive integer, got ${n}`);
}

function dropLanes(keep: number): void {
  while (lanes.length > keep) {
    const lane = lanes.pop()!;
    lane.I[FN] = -1;
    Atomics.add(lane.I, SEQ, 1);
    Atomics.notify(lane.I, SEQ);
    void lane.worker.terminate();
  }
}

/** A worker and its mailbox; the worker gets the module, the memory and the mailbox. */
function newLane(Ctor: WorkerCtor, opts: object): Lane {
  const ctrl = new SharedArrayBuffer(64),
    args = new SharedArrayBuffer(MAX_ARGS * 8);
  const init = { module: moduleRef, memory: heap.memory, ctrl, args, names };
  const worker = isNode
    ? new Ctor(WORKER_URL, {
        ...opts,
        workerData: init,
        execArgv: workerExecArgv(process.execArgv),
      })
    : new Ctor(WORKER_URL, opts);
  if (!isNode) worker.postMessage(init);
  return { worker, I: new Int32Array(ctrl), A: new Float64Array(args), seq: 0 };
}

/**
 * Sets how many threads the WASM kernels use (the calling thread included). Defaults to the
 * available cores in Node's main thread and to 1 elsewhere; results do not depend on it. In
 * a browser it can lower the count; raising it takes `await initThreads(n)`.
 */
export function setNumThreads(n: number): void {
  checkCount('setNumThreads', n);
  n = capped('setNumThreads', n);
  if (moduleRef === null || (!isNode && n > lanes.length + 1)) {
    if (n === 1) return;
    throw new Error(
      moduleRef === null
        ? 'setNumThreads: threads need the WASM kernels (in a browser, await initWasm() first)'
        : `setNumThreads: a browser starts threads asynchronously: await initThreads(${n}) ` +
            `in a Web Worker (${lanes.length + 1} running)`,
    );
  }
  dropLanes(n - 1);
  while (lanes.length < n - 1) {
    const lane = newLane(nodeWorker!, {});
    (lane.worker as unknown as { unref(): void }).unref(); // kernel threads never keep Node alive
    Atomics.wait(lane.I, READY, 0, 10000);
    if (Atomics.load(lane.I, READY) !== 1)
      throw new Error('setNumThreads: a kernel thread did not start');
    lanes.push(lane);
  }
}

/** Why this browser context cannot run kernel threads, or null when it can. */
function browserThreadsBlocker(): string | null {
  const g = globalThis as { crossOriginIsolated?: boolean; Worker?: unknown; document?: unknown };
  if (moduleRef === null) return 'the WASM kernels are not loaded: await initWasm() first';
  if (!heap.shared || g.crossOriginIsolated === false)
    return 'threads need shared memory: serve the page cross-origin isolated';
  if (g.document !== undefined)
    return "a page's main thread cannot block on its threads: run normkit in a Web Worker";
  if (typeof g.Worker !== 'function')
    return 'this worker cannot start workers of its own (nested Web Workers)';
  return null;
}

let starting: Promise<void> = Promise.resolve();

/**
 * Starts kernel threads so that `n` threads in all run the WASM kernels (default: the
 * machine's logical cores), and resolves once they run. Node: the same as setNumThreads(n).
 * Browser: call it in a cross-origin isolated (module) Web Worker after initWasm(); the
 * page's main thread cannot block, so there it rejects and the kernels stay on one thread.
 */
export function initThreads(n?: number): Promise<void> {
  // One start at a time: two overlapping calls would both count the same running lanes.
  const next = starting.then(() => startThreads(n));
  starting = next.catch(() => undefined);
  return next;
}

async function startThreads(n?: number): Promise<void> {
  let count = n ?? (globalThis.navigator?.hardwareConcurrency || defaultThreads);
  checkCount('initThreads', count);
  count = capped('initThreads', count);
  if (isNode || count <= lanes.length + 1) return setNumThreads(count);
  const blocker = browserThreadsBlocker();
  if (blocker !== null) throw new Error(`initThreads: ${blocker}`);
  const Ctor = (globalThis as unknown as { Worker: WorkerCtor }).Worker;
  const started = Array.from({ length: count - 1 - lanes.length }, async () => {
    const lane = newLane(Ctor, { type: 'module', name: 'normkit kernel thread' });
    const w = lane.worker as unknown as Worker;
    await new Promise<void>((resolve, reject) => {
      w.onmessage = () => resolve();
      w.onerror = (e) => {
        w.terminate();
        reject(new Error(`initThreads: a kernel thread failed to start: ${e.message}`));
      };
    });
    return lane;
  });
  const running = lanes.length;
  const results = await Promise.allSettled(started);
  for (const r of results) if (r.status === 'fulfilled') lanes.push(r.value);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) {
    dropLanes(running); // all or none: stop the ones that did start
    throw (failed as PromiseRejectedResult).reason;
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
    // Spin first: the chunks are even, so the worker is usually done within microseconds.
    const until = performance.now() + SPIN_MS;
    while (Atomics.load(lane.I, DONE) !== lane.seq && performance.now() < until);
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
