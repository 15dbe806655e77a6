import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { BUNDLED_DIR, loadFashionMnist } from '../data/node.js';
import { DataLoader } from '../data/loader.js';
import { manualSeed } from '../random.js';
import { CosineAnnealingLR } from '../optim/scheduler.js';
import { buildModel, type ModelKind, type NormKind } from '../train/models.js';
import { evaluate, trainEpoch } from '../train/loop.js';
import { type EpochRecord, readRun, restoreRun, saveRun } from '../train/session.js';
import { defaultLr, makeOptimizer, type OptimizerKind } from './optimizer.js';
import { type Reporter, consoleReporter } from './progress.js';

export interface TrainOptions {
  model: ModelKind;
  norm: NormKind;
  width?: number;
  batchSize: number;
  lr?: number;
  epochs: number;
  optimizer: OptimizerKind;
  weightDecay: number;
  seed: number;
  data?: string;
  trainLimit?: number;
  testLimit?: number;
  /** Run at most this many epochs in this invocation (time-boxed jobs; continue with --resume). */
  stopAfter?: number;
  checkpoint: string;
  resume: boolean;
  /** Where progress goes; the default prints a progress bar and a line per epoch. */
  reporter?: Reporter;
}

export function runTrain(o: TrainOptions): EpochRecord[] {
  const report = o.reporter ?? consoleReporter();
  manualSeed(o.seed);
  const dir = o.data ?? BUNDLED_DIR;
  const { train, test } = loadFashionMnist(dir, {
    trainLimit: o.trainLimit,
    testLimit: o.testLimit,
  });
  const lr = o.lr ?? defaultLr(o.optimizer);
  const config = {
    model: o.model,
    norm: o.norm,
    width: o.width,
    optimizer: o.optimizer,
    lr,
    weightDecay: o.weightDecay,
    batchSize: o.batchSize,
    epochs: o.epochs,
    seed: o.seed,
  };
  const model = buildModel(config);
  const opt = makeOptimizer(o.optimizer, model, lr, o.weightDecay);
  const sched = new CosineAnnealingLR(opt, o.epochs);
  let history: EpochRecord[] = [];
  if (o.resume && existsSync(o.checkpoint)) {
    const run = readRun(o.checkpoint);
    const c = run.meta.config;
    if (c.model !== o.model || c.norm !== o.norm || c.width !== o.width) {
      throw new Error(
        `--resume: ${o.checkpoint} holds a ${c.model}/${c.norm} model (width ${c.width}), asked for ${o.model}/${o.norm} (width ${o.width})`,
      );
    }
    restoreRun(run, model, opt);
    history = run.meta.history;
    sched.loadStateDict({ lastEpoch: run.meta.epochsDone });
  }
  const loader = new DataLoader(train.images, train.labels, [1, 28, 28], {
    batchSize: o.batchSize,
    shuffle: true,
    seed: o.seed,
  });
  report.begin?.({
    model: o.model,
    norm: o.norm,
    parameters: model.numParameters(),
    trainCount: train.count,
    testCount: test.count,
    dir,
    resumedAfter: history.length,
  });
  mkdirSync(dirname(o.checkpoint), { recursive: true });
  const last = Math.min(o.epochs, history.length + (o.stopAfter ?? Infinity));
  for (let epoch = history.length + 1; epoch <= last; epoch++) {
    const t0 = performance.now();
    report.epochStart?.(epoch, o.epochs, loader.length);
    const tr = trainEpoch(model, opt, loader, epoch, { onStep: (s, _n, r) => report.step?.(s, r) });
    const seconds = (performance.now() - t0) / 1000;
    const ev = evaluate(model, test);
    sched.step();
    const rec: EpochRecord = {
      epoch,
      trainLoss: tr.loss,
      trainAccuracy: tr.correct / tr.count,
      testLoss: ev.loss,
      testAccuracy: ev.accuracy,
      seconds,
    };
    history.push(rec);
    saveRun(o.checkpoint, model, opt, { config, epochsDone: epoch, history });
    report.epochEnd?.(rec, o.checkpoint);
  }
  report.finish?.(history);
  return history;
}
