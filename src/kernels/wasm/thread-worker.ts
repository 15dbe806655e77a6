// A kernel thread: the same WASM module instantiated on the same shared memory. It sleeps
// on its mailbox (Atomics.wait), runs the function the main thread names with the argument
// list it wrote, and signals completion. See threads.ts for the protocol. Node hands it its
// set-up as workerData; a browser posts it as the first message and waits for a reply.
import { isNode } from '../../platform.js';

interface Init {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  ctrl: SharedArrayBuffer;
  args: SharedArrayBuffer;
  names: string[];
}

const scope = globalThis as unknown as {
  onmessage: ((e: { data: Init }) => void) | null;
  postMessage(message: unknown): void;
};
const { module, memory, ctrl, args, names } = isNode
  ? ((await import('node:worker_threads')).workerData as Init)
  : await new Promise<Init>((resolve) => {
      scope.onmessage = (e) => {
        scope.onmessage = null;
        resolve(e.data);
      };
    });
const exports = new WebAssembly.Instance(module, { env: { memory } }).exports as Record<
  string,
  (...a: number[]) => void
>;
const fns = names.map((n) => exports[n]);
const I = new Int32Array(ctrl);
const A = new Float64Array(args);
const [SEQ, DONE, FN, NARGS, READY] = [0, 1, 2, 3, 4];
const SPIN_MS = 0.2;

Atomics.store(I, READY, 1);
Atomics.notify(I, READY);
if (!isNode) scope.postMessage('ready');
let seq = 0;
for (;;) {
  // Spin a little before sleeping: kernels often come in bursts of small calls (a recurrent
  // layer's steps), and waking from Atomics.wait costs about as much as the work itself.
  const until = performance.now() + SPIN_MS;
  while (Atomics.load(I, SEQ) === seq && performance.now() < until);
  Atomics.wait(I, SEQ, seq);
  seq = Atomics.load(I, SEQ);
  const fn = I[FN];
  if (fn < 0) break;
  const n = I[NARGS];
  const list = new Array<number>(n);
  for (let i = 0; i < n; i++) list[i] = A[i];
  fns[fn](...list);
  Atomics.store(I, DONE, seq);
  Atomics.notify(I, DONE);
}
