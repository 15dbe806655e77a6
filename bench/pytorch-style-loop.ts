// A loop written as in PyTorch, with no tidy(): BatchNorm2d [32, 64, 56, 56] forward and
// backward, `x.grad = null` after each step. `node dist/bench/pytorch-style-loop.js sync`
// never lets the event loop turn (normkit warns, then runs out of memory with the designed
// error); `... await` awaits setImmediate between steps, so dropped tensors are freed.
import * as nk from '../src/index.js';

const mode = process.argv[2] === 'await' ? 'await' : 'sync';
const bn = new nk.nn.BatchNorm2d(64);
const x = nk.randn([32, 64, 56, 56], { requiresGrad: true });
const t0 = performance.now();
let step = 0;
try {
  for (; step < 400; step++) {
    bn.call(x).sum().backward();
    x.grad = null;
    if (mode === 'await') await new Promise((r) => setImmediate(r));
  }
} catch (e) {
  console.log(`step ${step}: ${(e as Error).message}`);
}
const ms = (performance.now() - t0) / Math.max(1, step);
const { bytesInUse, liveBlocks } = nk.memoryStats();
console.log(
  `${mode}: ${step} steps, ${ms.toFixed(1)} ms a step, ` +
    `${(bytesInUse / 2 ** 20).toFixed(1)} MiB in ${liveBlocks} tensors at the end`,
);
