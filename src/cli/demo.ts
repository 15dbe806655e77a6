// The headline demo (npm start): the same CNN trained with and without BatchNorm on the
// bundled data, with a side-by-side table of test accuracy per epoch and time.
import Table from 'cli-table3';
import { type TrainOptions, pct, runTrain } from './train.js';

export function runDemo(o: {
  epochs: number;
  width: number;
  data?: string;
  trainLimit?: number;
  lr: number;
  seed: number;
}): void {
  console.log('normkit demo: the same CNN (2 conv + pooling) trained with and without BatchNorm,');
  console.log(`SGD lr ${o.lr} momentum 0.9, batch 64, ${o.epochs} epochs, seed ${o.seed}.\n`);
  const base: Omit<TrainOptions, 'norm' | 'checkpoint'> = {
    model: 'cnn',
    width: o.width,
    batchSize: 64,
    lr: o.lr,
    epochs: o.epochs,
    optimizer: 'sgd',
    weightDecay: 0,
    seed: o.seed,
    data: o.data,
    trainLimit: o.trainLimit,
    resume: false,
  };
  const runs = (['batch', 'none'] as const).map((norm) => {
    console.log(
      norm === 'batch' ? '— with BatchNorm2d/BatchNorm1d —' : '— without normalization —',
    );
    return runTrain({ ...base, norm, checkpoint: `runs/demo-cnn-${norm}.ckpt` });
  });
  const t = new Table({
    head: ['epoch', 'test acc (BatchNorm)', 'test acc (none)', 'time BN (s)', 'time none (s)'],
  });
  for (let e = 0; e < o.epochs; e++) {
    const [bn, none] = runs.map((r) => r[e]);
    t.push([
      e + 1,
      pct(bn.testAccuracy),
      pct(none.testAccuracy),
      bn.seconds.toFixed(1),
      none.seconds.toFixed(1),
    ]);
  }
  console.log('\n' + t.toString());
  const [bn1, none1] = runs.map((r) => r[0].testAccuracy);
  console.log(
    `After one epoch BatchNorm reaches ${pct(bn1)} test accuracy, the same network without it ${pct(none1)}.`,
  );
}
