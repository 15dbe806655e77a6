// Loaded by smoke.html as a module Web Worker: trains the CNN of `normkit train --model cnn`
// at batch 64 on one kernel thread, then on two (initThreads), and posts the losses and the
// time per step of both back to the page.
import * as nk from '/dist/src/index.js';
import { trainSteps } from '/test/browser/steps.js';

function cnn() {
  const { nn } = nk;
  return new nn.Sequential(
    new nn.Conv2d(1, 32, 3, { padding: 1 }),
    new nn.BatchNorm2d(32),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Conv2d(32, 64, 3, { padding: 1 }),
    new nn.BatchNorm2d(64),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Flatten(),
    new nn.Linear(64 * 49, 10),
  );
}

function train() {
  nk.manualSeed(0);
  const model = cnn();
  const opt = new nk.optim.SGD(model.parameters(), { lr: 0.005, momentum: 0.9 });
  const x = nk.keep(nk.randn([64, 1, 28, 28]));
  const labels = Uint8Array.from({ length: 64 }, (_, i) => i % 10);
  const { losses, times } = trainSteps(model, opt, x, labels, 12);
  x.dispose();
  times.sort((a, b) => a - b);
  return { threads: nk.getNumThreads(), losses, msPerStep: times[times.length >> 1] };
}

const out = { crossOriginIsolated: self.crossOriginIsolated };
try {
  await nk.initWasm();
  out.one = train();
  await nk.initThreads(2);
  out.two = train();
  nk.setNumThreads(1);
  out.afterLowering = nk.getNumThreads();
} catch (e) {
  out.error = String((e && e.stack) || e);
}
postMessage(out);
