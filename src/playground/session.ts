// One playground run: a network, its optimizer and its place in the data, advanced one step at
// a time so that a worker can pause, single-step and report between steps. Runtime-neutral.
import type { Split } from '../data/fashion-mnist.js';
import { DataLoader } from '../data/loader.js';
import { dispose, tidy } from '../memory/scope.js';
import { evaluate, trainStep, type StepResult } from '../train/loop.js';
import { manualSeed } from '../random.js';
import type { Module } from '../nn/module.js';
import { Adam } from '../optim/adam.js';
import { SGD } from '../optim/sgd.js';
import { paramGroupsNoDecayForNorm } from '../optim/groups.js';
import type { GroupBase, Optimizer } from '../optim/optimizer.js';
import { runConfig, type RunConfig } from './config.js';
import { buildPlaygroundModel } from './models.js';
import { Probes, type ProbeSnapshot } from './probes.js';

export interface PlaygroundData {
  train: Split;
  test: Split;
}

export interface StepRecord {
  /** Steps taken so far, this one included. */
  step: number;
  epoch: number;
  loss: number;
  /** Fraction of the batch classified correctly (before the update). */
  accuracy: number;
  ms: number;
}

export interface EvalRecord {
  step: number;
  accuracy: number;
  loss: number;
  /** Evaluated in training mode ("forgot eval()"): batch statistics, running statistics moved. */
  trainMode: boolean;
  /** Predicted classes of the first test images (the page's grid). */
  predictions: number[];
}

/** Test images evaluated for the accuracy curve (the first ones of the test split). */
export const EVAL_COUNT = 1000;
/** Batch of an ordinary (eval-mode) evaluation: the batch size does not change its result. */
const EVAL_BATCH = 250;

function optimizer(model: Module, c: RunConfig): Optimizer<GroupBase> {
  const groups = c.decayNorm
    ? [{ params: model.parameters(), weightDecay: c.weightDecay }]
    : paramGroupsNoDecayForNorm(model, c.weightDecay);
  if (c.optimizer === 'adam') return new Adam(groups, { lr: c.lr });
  return new SGD(groups, { lr: c.lr, momentum: c.optimizer === 'momentum' ? 0.9 : 0 });
}

export class PlaygroundRun {
  readonly config: RunConfig;
  readonly model: Module;
  readonly probes: Probes;
  private readonly opt: Optimizer<GroupBase>;
  private readonly loader: DataLoader;
  private order: Uint32Array;
  private batchIndex = 0;
  epoch = 0;
  steps = 0;
  /** The loss was not finite at this step: the run stops there. */
  divergedAt: number | null = null;

  constructor(
    config: Partial<RunConfig>,
    private readonly data: PlaygroundData,
  ) {
    this.config = runConfig(config);
    manualSeed(this.config.seed);
    this.model = buildPlaygroundModel(this.config);
    this.probes = new Probes(this.model);
    this.opt = optimizer(this.model, this.config);
    const { train } = data;
    this.loader = new DataLoader(train.images, train.labels, [1, 28, 28], {
      batchSize: this.config.batchSize,
      shuffle: true,
      dropLast: true,
      seed: this.config.seed,
    });
    this.order = this.loader.order(0);
  }

  /** One training step; with `probe`, the probes watch it (BatchNorm layer `probe.watch`). */
  step(probe?: { watch: number }): { record: StepRecord; snapshot?: ProbeSnapshot } {
    if (this.divergedAt !== null)
      throw new Error(`PlaygroundRun.step: the run diverged at step ${this.divergedAt}`);
    if (this.batchIndex === this.loader.length) {
      this.epoch++;
      this.batchIndex = 0;
      this.order = this.loader.order(this.epoch);
    }
    const t0 = performance.now();
    this.model.train();
    let r: StepResult = { loss: NaN, correct: 0, count: 0 };
    const run = (): void => {
      r = tidy(() => {
        const { x, labels } = this.loader.batch(this.order, this.batchIndex);
        return trainStep(this.model, this.opt, x, labels);
      });
    };
    const snapshot = probe ? this.probes.capture(run, probe.watch) : (run(), undefined);
    this.batchIndex++;
    this.steps++;
    if (!Number.isFinite(r.loss)) this.divergedAt = this.steps;
    const record = {
      step: this.steps,
      epoch: this.epoch,
      loss: r.loss,
      accuracy: r.correct / r.count,
      ms: performance.now() - t0,
    };
    return { record, snapshot };
  }

  /**
   * Accuracy on the first EVAL_COUNT test images, in eval mode, or, with `forgotEval`, in
   * training mode on batches of the training batch size (what a loop that never calls eval()
   * does: batch statistics, and the running statistics move).
   */
  evaluate(forgotEval = false, gridCount = 24): EvalRecord {
    const { test } = this.data;
    const count = Math.min(EVAL_COUNT, test.count);
    const first = {
      images: test.images.subarray(0, count * 784),
      labels: test.labels.subarray(0, count),
      count,
    };
    const r = evaluate(this.model, first, {
      batchSize: forgotEval ? this.config.batchSize : EVAL_BATCH,
      trainMode: forgotEval,
      keepPredictions: gridCount,
    });
    return { step: this.steps, trainMode: forgotEval, ...r };
  }

  /** Frees the network's and the optimizer's tensors. */
  dispose(): void {
    this.opt.zeroGrad();
    this.opt.dispose();
    dispose([...this.model.parameters(), ...this.model.buffers()]);
  }
}
