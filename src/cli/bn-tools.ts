// `normkit recalibrate` and `normkit certify`: the BatchNorm statistics tools and the
// Lipschitz certificate on a trained run.
import { readFileSync } from 'node:fs';
import { BUNDLED_DIR, loadFashionMnist } from '../data/node.js';
import { DataLoader } from '../data/loader.js';
import { writeFileAtomic } from '../io/checkpoint.js';
import { tensor } from '../tensor/create.js';
import {
  type Certificate,
  certifiedAccuracy,
  certify,
  verifyCertificate,
} from '../tools/certificate.js';
import { recalibrateBatchNorm } from '../tools/batchnorm-stats.js';
import { lipschitzBound } from '../tools/lipschitz.js';
import { buildModel } from '../train/models.js';
import { evaluate } from '../train/loop.js';
import { readRun, restoreRun, saveRun } from '../train/session.js';
import { pct } from './progress.js';

function load(checkpoint: string) {
  const run = readRun(checkpoint);
  const model = buildModel(run.meta.config);
  restoreRun(run, model, null);
  return { run, model };
}

/** Re-estimates the run's BatchNorm statistics on training batches and saves the run. */
export function runRecalibrate(o: {
  checkpoint: string;
  data?: string;
  batches: number;
  out?: string;
}): void {
  const { run, model } = load(o.checkpoint);
  const { train, test } = loadFashionMnist(o.data ?? BUNDLED_DIR);
  const bs = Number(run.meta.config.batchSize ?? 64);
  const loader = new DataLoader(train.images, train.labels, [1, 28, 28], {
    batchSize: bs,
    shuffle: true,
    dropLast: true,
    seed: 1,
  });
  const order = loader.order(0);
  const n = Math.min(o.batches, loader.length);
  const before = evaluate(model, test).accuracy;
  const batches = Array.from({ length: n }, (_, b) => loader.batch(order, b));
  recalibrateBatchNorm(model, batches);
  for (const b of batches) b.x.dispose();
  const after = evaluate(model, test).accuracy;
  const out = o.out ?? o.checkpoint;
  saveRun(out, model, null, run.meta);
  console.log(
    `${o.checkpoint}: BatchNorm statistics re-estimated on ${n} batches of ${bs}: test accuracy ` +
      `${pct(before)} -> ${pct(after)}; saved ${out} (model only, the optimizer state is left out)`,
  );
}

/** The Lipschitz bound and certified accuracy of a run on test images; or a certificate checked. */
export function runCertify(o: {
  checkpoint: string;
  data?: string;
  testLimit: number;
  out?: string;
  verify?: string;
}): void {
  const { model } = load(o.checkpoint);
  model.eval();
  if (o.verify !== undefined) {
    const cert = JSON.parse(readFileSync(o.verify, 'utf8')) as Certificate;
    verifyCertificate(model, cert);
    console.log(`${o.verify}: holds for ${o.checkpoint} (bound ${cert.bound.toFixed(4)})`);
    return;
  }
  const { test } = loadFashionMnist(o.data ?? BUNDLED_DIR, { testLimit: o.testLimit });
  const bound = lipschitzBound(model, { inputShape: [1, 28, 28] });
  const x = tensor(test.images, [test.count, 1, 28, 28]);
  const cert = certify(model, x, { bound, labels: test.labels });
  x.dispose();
  const radii = [0, 0.01, 0.02, 0.05, 0.1, 0.2];
  console.log(
    `${o.checkpoint}: Lipschitz bound ${bound.bound.toFixed(4)} (ℓ2, eval mode, ${bound.layers.length} layers)`,
  );
  console.log(
    radii
      .map((r) => `certified accuracy at radius ${r}: ${pct(certifiedAccuracy(cert, r))}`)
      .join('\n'),
  );
  if (o.out !== undefined) {
    writeFileAtomic(o.out, Buffer.from(JSON.stringify(cert)));
    console.log(`certificate written to ${o.out} (check it later with --verify ${o.out})`);
  }
}
