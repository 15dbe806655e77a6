// Every experiment of the lab, in the order `lab list` and the report show them.
import type { Experiment } from './experiment.js';
import { batchEffects } from './experiments/batch-effects.js';
import { biasRedundancy } from './experiments/bias-redundancy.js';
import { certifiedRobustness } from './experiments/certified-robustness.js';
import { conditioningExperiment } from './experiments/conditioning.js';
import { convergence } from './experiments/convergence.js';
import { covariateShift } from './experiments/covariate-shift.js';
import { denseSmallBatch } from './experiments/dense-small-batch.js';
import { depth } from './experiments/depth.js';
import { dropoutOrder } from './experiments/dropout-order.js';
import { evalMode } from './experiments/eval-mode.js';
import { ganDiscriminator } from './experiments/gan-discriminator.js';
import { gradientFlow } from './experiments/gradient-flow.js';
import { initSensitivity } from './experiments/init-sensitivity.js';
import { instanceNormContrast } from './experiments/instance-norm-contrast.js';
import { lrRange } from './experiments/lr-range.js';
import { paddedBatches } from './experiments/padded-batches.js';
import { placement } from './experiments/placement.js';
import { residualIdentity } from './experiments/residual-identity.js';
import { rnnNorm } from './experiments/rnn-norm.js';
import { regularization } from './experiments/regularization.js';
import { reluActivity } from './experiments/relu-activity.js';
import { runningStats } from './experiments/running-stats.js';
import { scaleInvariance } from './experiments/scale-invariance.js';
import { smallBatch } from './experiments/small-batch.js';
import { transfer } from './experiments/transfer.js';
import { transformerNorm } from './experiments/transformer-norm.js';
import { weightDecay } from './experiments/weight-decay.js';

// The claims of issue 12 (part 1), grouped: training speed and stability, exact properties,
// what happens inside the network, statistics and pitfalls, architecture.
export const EXPERIMENTS: Experiment[] = [
  lrRange,
  convergence,
  initSensitivity,
  regularization,
  biasRedundancy,
  scaleInvariance,
  conditioningExperiment,
  gradientFlow,
  reluActivity,
  covariateShift,
  runningStats,
  evalMode,
  smallBatch,
  dropoutOrder,
  weightDecay,
  placement,
  depth,
  // Part 2 (issue 18): where the choice of normalization decides the outcome.
  instanceNormContrast,
  residualIdentity,
  certifiedRobustness,
  paddedBatches,
  rnnNorm,
  transfer,
  transformerNorm,
  ganDiscriminator,
  denseSmallBatch,
  batchEffects,
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
