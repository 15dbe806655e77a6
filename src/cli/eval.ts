import { BUNDLED_DIR, loadSplit } from '../data/node.js';
import { buildModel } from '../train/models.js';
import { evaluate } from '../train/loop.js';
import { readRun, restoreRun } from '../train/session.js';

export function runEval(o: { checkpoint: string; data?: string }): {
  loss: number;
  accuracy: number;
} {
  const run = readRun(o.checkpoint);
  const model = buildModel(run.meta.config);
  restoreRun(run, model, null);
  const test = loadSplit(o.data ?? BUNDLED_DIR, 't10k');
  const r = evaluate(model, test);
  console.log(
    `${o.checkpoint}: ${run.meta.config.model}/${run.meta.config.norm} after ${run.meta.epochsDone} epochs: ` +
      `test loss ${r.loss.toFixed(4)}, test accuracy ${(100 * r.accuracy).toFixed(2)}% on ${test.count} images`,
  );
  return r;
}
