// Every experiment of the lab, in the order `lab list` and the report show them.
import type { Experiment } from './experiment.js';
import { biasRedundancy } from './experiments/bias-redundancy.js';
import { covariateShift } from './experiments/covariate-shift.js';
import { dropoutOrder } from './experiments/dropout-order.js';
import { evalMode } from './experiments/eval-mode.js';
import { gradientFlow } from './experiments/gradient-flow.js';
import { initSensitivity } from './experiments/init-sensitivity.js';
import { lrRange } from './experiments/lr-range.js';
import { placement } from './experiments/placement.js';
import { reluActivity } from './experiments/relu-activity.js';
import { runningStats } from './experiments/running-stats.js';
import { scaleInvariance } from './experiments/scale-invariance.js';
import { smallBatch } from './experiments/small-batch.js';

// The order of the list (12, part 1): the ones built so far.
export const EXPERIMENTS: Experiment[] = [
  lrRange,
  initSensitivity,
  biasRedundancy,
  scaleInvariance,
  gradientFlow,
  reluActivity,
  covariateShift,
  runningStats,
  evalMode,
  smallBatch,
  dropoutOrder,
  placement,
];

/** The experiments named, or an error that lists the valid names. */
export function findExperiments(names: readonly string[]): Experiment[] {
  const unknown = names.filter((n) => !EXPERIMENTS.some((e) => e.name === n));
  if (unknown.length > 0) {
    throw new Error(
      `lab: unknown experiment${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; ` +
        `valid names: ${EXPERIMENTS.map((e) => e.name).join(', ')}`,
    );
  }
  return names.map((n) => EXPERIMENTS.find((e) => e.name === n)!);
}
