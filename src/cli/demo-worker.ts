// One model of the demo, trained in a worker thread; events go back to the main thread.
import { parentPort, workerData } from 'node:worker_threads';
import { setNumThreads } from '../index.js';
import type { WorkerEvent } from './demo.js';
import { type TrainOptions, runTrain } from './train.js';

const post = (e: WorkerEvent) => parentPort!.postMessage(e);
const { threads, ...opts } = workerData as TrainOptions & { threads: number };
setNumThreads(threads);
const history = runTrain({
  ...opts,
  reporter: {
    epochStart: (epoch, epochs, batches) => post({ type: 'epochStart', epoch, epochs, batches }),
    step: (step, r) => post({ type: 'step', step, ...r }),
    epochEnd: (rec) => post({ type: 'epochEnd', rec }),
  },
});
post({ type: 'done', history });
