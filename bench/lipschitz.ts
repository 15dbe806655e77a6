// lipschitzBound on the README's CNN (issue 14's target: at most 5 s on 2 cores).
// node dist/bench/lipschitz.js
import * as nk from '../src/index.js';
import { buildModel } from '../src/train/models.js';

nk.manualSeed(0);
const model = buildModel({ model: 'cnn', norm: 'batch' }).eval();
const times: number[] = [];
let bound = 0;
for (let i = 0; i < 3; i++) {
  const t0 = performance.now();
  bound = nk.lipschitzBound(model, { inputShape: [1, 28, 28], seed: i }).bound;
  times.push((performance.now() - t0) / 1000);
}
console.log(
  `lipschitzBound, README CNN (421,866 parameters), ${nk.getNumThreads()} threads: ` +
    `${times.map((t) => t.toFixed(2)).join(', ')} s (bound ${bound.toFixed(4)})`,
);
