// The machine's copy bandwidth with 1..n threads, the yardstick of the benchmark's GB/s:
// 256 MiB copied with Float32Array.set, split over the threads, each copying ordinary
// (unshared) buffers of its own so that the copy is plain memcpy whatever V8 does for shared
// memory. The main thread copies its part and waits for the rest; run.ts times copy().
import { Worker } from 'node:worker_threads';

const WORKER = `
const { workerData } = require('node:worker_threads');
const { sync, size } = workerData;
const s = new Float32Array(size).fill(1), d = new Float32Array(size);
const flag = new Int32Array(sync);
for (let gen = 1; ; gen++) {
  Atomics.wait(flag, 0, gen - 1);
  if (Atomics.load(flag, 0) < 0) break;
  d.set(s);
  Atomics.add(flag, 1, 1);
  Atomics.notify(flag, 1);
}`;

export interface CopyRunner {
  /** Bytes read + written by one copy(). */
  bytes: number;
  copy(): void;
  close(): Promise<void>;
}

export function copyRunner(threads: number): CopyRunner {
  const size = Math.floor((64 * 1024 * 1024) / threads);
  const sync = new SharedArrayBuffer(8);
  const flag = new Int32Array(sync);
  const workers = Array.from(
    { length: threads - 1 },
    () => new Worker(WORKER, { eval: true, workerData: { sync, size } }),
  );
  const [src, dst] = [new Float32Array(size).fill(1), new Float32Array(size)];
  return {
    bytes: 2 * size * threads * 4,
    copy() {
      Atomics.store(flag, 1, 0);
      Atomics.add(flag, 0, 1);
      Atomics.notify(flag, 0);
      dst.set(src);
      for (let done; (done = Atomics.load(flag, 1)) < threads - 1;) Atomics.wait(flag, 1, done);
    },
    async close() {
      Atomics.store(flag, 0, -1);
      Atomics.notify(flag, 0);
      await Promise.all(workers.map((w) => new Promise((resolve) => w.once('exit', resolve))));
    },
  };
}
