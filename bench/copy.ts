// The machine's copy bandwidth with 1..n threads, the yardstick of the benchmark's GB/s:
// bytes read + written per second copying 256 MiB (Float32Array.set), split over the
// threads, each copying ordinary (unshared) buffers of its own; the main thread copies its
// part and waits for the rest. The buffers themselves are private so that the copy is
// plain memcpy whatever V8 does for shared memory.
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

export async function copyBandwidth(threads: number): Promise<number> {
  const n = 64 * 1024 * 1024;
  const size = Math.floor(n / threads);
  const sync = new SharedArrayBuffer(8);
  const flag = new Int32Array(sync);
  const workers = Array.from(
    { length: threads - 1 },
    () => new Worker(WORKER, { eval: true, workerData: { sync, size } }),
  );
  const mine = [new Float32Array(size).fill(1), new Float32Array(size)];
  const ts: number[] = [];
  for (let rep = 0; rep < 6; rep++) {
    Atomics.store(flag, 1, 0);
    const t0 = performance.now();
    Atomics.add(flag, 0, 1);
    Atomics.notify(flag, 0);
    mine[1].set(mine[0]);
    for (let done; (done = Atomics.load(flag, 1)) < threads - 1;) Atomics.wait(flag, 1, done);
    if (rep > 0) ts.push(performance.now() - t0); // the first touches fresh pages
  }
  Atomics.store(flag, 0, -1);
  Atomics.notify(flag, 0);
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('exit', resolve))));
  ts.sort((a, b) => a - b);
  return (2 * size * threads * 4) / (ts[Math.floor(ts.length / 2)] / 1000) / 1e9;
}
