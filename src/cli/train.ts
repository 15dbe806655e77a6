import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BatchNormBase } from '../nn/batchnorm.js';
import { BUNDLED_DIR, loadFashionMnist } from '../data/node.js';
import { DataLoader } from '../data/loader.js';
import { MEAN, STD, type Split } from '../data/fashion-mnist.js';
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
  /** lstm / transformer: train on random-length crops of at least this many rows. */
  minLength?: number;
  /** Random 2-pixel crops and left–right flips of the training images (--augment). */
  augment?: boolean;
  batchSize: number;
  lr?: number;
  epochs: number;
  optimizer: OptimizerKind;
  weightDecay: number;
  /** Label smoothing of the training loss, in [0, 1] (--label-smoothing; default 0). */
  labelSmoothing?: number;
  /** Hold out the last n training images, evaluated every epoch (--validation; Keras's
   * validation_split takes the last fraction the same way). */
  validation?: number;
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

/** Images [from, to) of a split (views, no copy). */
function part(s: Split, from: number, to: number): Split {
  return {
    images: s.images.subarray(from * 784, to * 784),
    labels: s.labels.subarray(from, to),
    count: to - from,
  };
}

/** Fails now, not after an epoch, when the checkpoint cannot be written where asked. */
function checkCheckpointPath(path: string): void {
  if (existsSync(path) && statSync(path).isDirectory()) {
    throw new Error(
      `--checkpoint ${path} is a directory; give a file path, e.g. ${join(path, 'run.ckpt')}`,
    );
  }
  const dir = dirname(path);
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
  } catch (e) {
    throw new Error(`--checkpoint ${path}: cannot write in ${dir} (${(e as Error).message})`);
  }
}

export function runTrain(o: TrainOptions): EpochRecord[] {
  const report = o.reporter ?? consoleReporter();
  checkCheckpointPath(o.checkpoint);
  const smoothing = o.labelSmoothing ?? 0;
  if (!(smoothing >= 0 && smoothing <= 1)) {
    throw new Error(`--label-smoothing: expected a number in [0, 1], got ${smoothing}`);
  }
  manualSeed(o.seed);
  const dir = o.data ?? BUNDLED_DIR;
  const { train: all, test } = loadFashionMnist(dir, {
    trainLimit: o.trainLimit,
    testLimit: o.testLimit,
  });
  if (all.count === 0 || test.count === 0) {
    throw new Error(
      `${dir}: ${all.count} training and ${test.count} test images; need at least one of each`,
    );
  }
  const held = o.validation ?? 0;
  if (held >= all.count) {
    throw new Error(
      `--validation ${held}: the training set has ${all.count} images; hold out fewer, ` +
        `so that some are left to train on`,
    );
  }
  const train = part(all, 0, all.count - held);
  const val = held > 0 ? part(all, train.count, all.count) : null;
  const lr = o.lr ?? defaultLr(o.optimizer);
  const config = {
    model: o.model,
    norm: o.norm,
    width: o.width,
    minLength: o.minLength,
    augment: o.augment === true,
    optimizer: o.optimizer,
    lr,
    weightDecay: o.weightDecay,
    labelSmoothing: o.labelSmoothing ?? 0,
    validation: held,
    batchSize: o.batchSize,
    epochs: o.epochs,
    seed: o.seed,
  };
  let model;
  try {
    model = buildModel(config);
  } catch (e) {
    throw new Error(
      `building the ${o.model} (width ${o.width ?? 'default'}): ${(e as Error).message}`,
    );
  }
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
    if (c.minLength !== o.minLength) {
      throw new Error(
        `--resume: ${o.checkpoint} was trained with --min-length ${c.minLength ?? '(none)'}, ` +
          `asked for ${o.minLength ?? '(none)'}`,
      );
    }
    if ((c.augment ?? false) !== (o.augment === true)) {
      throw new Error(
        `--resume: ${o.checkpoint} was trained ${c.augment ? 'with' : 'without'} --augment; ` +
          `resume ${c.augment ? 'with' : 'without'} it`,
      );
    }
    if ((c.validation ?? 0) !== held) {
      throw new Error(
        `--resume: ${o.checkpoint} was trained with --validation ${c.validation ?? 0}, ` +
          `asked for ${held}`,
      );
    }
    if ((c.labelSmoothing ?? 0) !== (o.labelSmoothing ?? 0)) {
      throw new Error(
        `--resume: ${o.checkpoint} was trained with --label-smoothing ${c.labelSmoothing ?? 0}, ` +
          `asked for ${o.labelSmoothing ?? 0}`,
      );
    }
    if (c.optimizer !== o.optimizer) {
      throw new Error(
        `--resume: ${o.checkpoint} was trained with --optimizer ${c.optimizer}, asked for ` +
          `${o.optimizer}; resume with --optimizer ${c.optimizer}, or start a new run with ` +
          `another --checkpoint`,
      );
    }
    restoreRun(run, model, opt);
    history = run.meta.history;
    sched.loadStateDict({ lastEpoch: run.meta.epochsDone });
  }
  // BatchNorm cannot normalize a batch of one image in training: known now, so a last batch
  // of one is left out of every epoch (PyTorch's drop_last=True) instead of failing at the end.
  const batchNorm = model.namedModules().some(([, m]) => m instanceof BatchNormBase);
  const dropLast = batchNorm && train.count % o.batchSize === 1;
  if (batchNorm && train.count === 1) {
    throw new Error('BatchNorm needs at least 2 training images per batch; the set has 1');
  }
  const loader = new DataLoader(train.images, train.labels, [1, 28, 28], {
    batchSize: o.batchSize,
    shuffle: true,
    seed: o.seed,
    dropLast,
    // Padding with the background: a raw 0 in the split's normalized units.
    augment: o.augment ? { crop: 2, flip: true, fill: (0 - MEAN) / STD } : undefined,
  });
  report.begin?.({
    model: o.model,
    norm: o.norm,
    parameters: model.numParameters(),
    trainCount: train.count,
    validationCount: held,
    testCount: test.count,
    dir,
    resumedAfter: history.length,
  });
  if (dropLast) {
    report.note?.(
      `the last batch of each epoch would hold 1 image (${train.count} images, --batch-size ` +
        `${o.batchSize}), which BatchNorm cannot normalize in training: it is left out`,
    );
  }
  const last = Math.min(o.epochs, history.length + (o.stopAfter ?? Infinity));
  for (let epoch = history.length + 1; epoch <= last; epoch++) {
    const t0 = performance.now();
    report.epochStart?.(epoch, o.epochs, loader.length);
    const tr = trainEpoch(model, opt, loader, epoch, {
      labelSmoothing: o.labelSmoothing,
      onStep: (s, _n, r) => {
        if (!Number.isFinite(r.loss)) {
          const kept = history.length > 0 ? `epoch ${history.length} in ${o.checkpoint}` : 'none';
          throw new Error(
            `epoch ${epoch}, step ${s}: the loss is ${r.loss}; training stopped (the last good ` +
              `checkpoint: ${kept}). The learning rate (--lr ${lr}) is likely too high`,
          );
        }
        report.step?.(s, r);
      },
    });
    const seconds = (performance.now() - t0) / 1000;
    const ev = evaluate(model, test);
    const vl = val === null ? null : evaluate(model, val);
    sched.step();
    const rec: EpochRecord = {
      epoch,
      trainLoss: tr.loss,
      trainAccuracy: tr.correct / tr.count,
      ...(vl === null ? {} : { validationLoss: vl.loss, validationAccuracy: vl.accuracy }),
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
