// The training loop of the browser smoke test (smoke.html, worker.js): `steps` SGD steps of
// cross-entropy on one fixed batch, with each step's loss and time.
import * as nk from '/dist/src/index.js';

export function trainSteps(model, opt, x, labels, steps) {
  const losses = [];
  const times = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    losses.push(
      nk.tidy(() => {
        const loss = nk.crossEntropy(model.call(x), labels);
        opt.zeroGrad();
        loss.backward();
        opt.step();
        return loss.item();
      }),
    );
    times.push(performance.now() - t0);
  }
  return { losses, times };
}
