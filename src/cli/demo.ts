// The headline demo (npm start): the same CNN trained with and without BatchNorm on the
// bundled data, each in its own worker thread (one per core), with a side-by-side table of
// test accuracy per epoch and time.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { workerExecArgv } from '../kernels/wasm/threads.js';
import cliProgress from 'cli-progress';
import Table from 'cli-table3';
import type { EpochRecord } from '../train/session.js';
import { BAR_FORMAT, EpochMeter, epochLine, pct, tableStyle } from './progress.js';
import type { TrainOptions } from './train.js';

export interface DemoOptions {
  epochs: number;
  width: number;
  lr: number;
  seed: number;
  data?: string;
  trainLimit?: number;
  testLimit?: number;
  /** Models trained at once (default: one per core, at most 2). */
  parallel?: number;
}

/** Messages a demo worker posts back (see demo-worker.ts). */
export type WorkerEvent =
  | { type: 'epochStart'; epoch: number; epochs: number; batches: number }
  | { type: 'step'; step: number; loss: number; correct: number; count: number }
  | { type: 'epochEnd'; rec: EpochRecord }
  | { type: 'done'; history: EpochRecord[] };

const LABELS = { batch: 'BatchNorm', none: 'no norm  ' } as const;

function trainInWorker(
  opts: Omit<TrainOptions, 'reporter'> & { threads: number },
  onEvent: (e: WorkerEvent) => void,
): Promise<EpochRecord[]> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./demo-worker.js', import.meta.url), {
      workerData: opts,
      execArgv: workerExecArgv(process.execArgv),
    });
    let history: EpochRecord[] | null = null;
    w.on('message', (e: WorkerEvent) => {
      if (e.type === 'done') history = e.history;
      else onEvent(e);
    });
    w.on('error', reject);
    w.on('exit', (code) =>
      history ? resolve(history) : reject(new Error(`demo worker exited with code ${code}`)),
    );
  });
}

export async function runDemo(o: DemoOptions): Promise<void> {
  const parallel = Math.max(1, Math.min(2, o.parallel ?? availableParallelism()));
  console.log('normkit demo: the same CNN (2 conv + pooling) trained with and without BatchNorm');
  console.log(
    `on the bundled Fashion-MNIST subset; SGD lr ${o.lr}, momentum 0.9, batch 64, ${o.epochs} epochs, ` +
      `seed ${o.seed}; ${parallel === 2 ? 'both at once, one per core' : 'one after the other'}.\n`,
  );
  const tty = process.stdout.isTTY === true;
  const bars = new cliProgress.MultiBar(
    { format: BAR_FORMAT, barsize: 20, hideCursor: true, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
  const base = {
    model: 'cnn' as const,
    width: o.width,
    batchSize: 64,
    lr: o.lr,
    epochs: o.epochs,
    optimizer: 'sgd' as const,
    weightDecay: 0,
    seed: o.seed,
    data: o.data,
    trainLimit: o.trainLimit,
    testLimit: o.testLimit,
    resume: false,
  };
  const start = performance.now();
  const launch = (norm: 'batch' | 'none') => {
    let bar: cliProgress.SingleBar | null = null;
    let meter = new EpochMeter();
    const threads = Math.max(1, Math.floor(availableParallelism() / parallel));
    return trainInWorker(
      { ...base, norm, threads, checkpoint: `runs/demo-cnn-${norm}.ckpt` },
      (e) => {
        if (e.type === 'epochStart') {
          meter = new EpochMeter();
          if (bar === null) bar = bars.create(e.batches, 0);
          bar.start(e.batches, 0, {
            label: `${LABELS[norm]} epoch ${e.epoch}/${e.epochs}`,
            loss: '-',
            acc: '-',
            rate: '-',
          });
        } else if (e.type === 'step') {
          bar?.update(e.step, meter.add(e));
        } else if (e.type === 'epochEnd' && !tty) {
          console.log(`${LABELS[norm]} ${epochLine(e.rec)}`);
        }
      },
    );
  };
  let runs: EpochRecord[][];
  try {
    if (parallel === 2) runs = await Promise.all([launch('batch'), launch('none')]);
    else runs = [await launch('batch'), await launch('none')];
  } finally {
    bars.stop();
  }
  const t = new Table({
    head: ['epoch', 'test acc, BatchNorm', 'test acc, no norm', 'time BN (s)', 'time no norm (s)'],
    style: tableStyle(),
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
  const [bnLast, noneLast] = runs.map((r) => r[r.length - 1].testAccuracy);
  console.log(
    `After one epoch: ${pct(bn1)} with BatchNorm, ${pct(none1)} without. ` +
      `After ${o.epochs}: ${pct(bnLast)} and ${pct(noneLast)}. ` +
      `Total ${((performance.now() - start) / 1000).toFixed(0)} s.`,
  );
}
