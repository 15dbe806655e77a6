// `normkit gan`: the DCGAN on the bundled (or --data) Fashion-MNIST with a chosen
// discriminator norm; losses and scores as it trains, samples as a PNG grid.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLED_DIR, loadFashionMnist } from '../data/node.js';
import { writeFileAtomic } from '../io/checkpoint.js';
import { type DiscNorm, pngGrid, sampleImages, trainGan } from '../train/gan.js';

export function runGan(o: {
  discNorm: DiscNorm;
  steps: number;
  batchSize: number;
  seed: number;
  out: string;
  data?: string;
  trainLimit?: number;
}): void {
  mkdirSync(o.out, { recursive: true });
  const { train } = loadFashionMnist(o.data ?? BUNDLED_DIR, {
    trainLimit: o.trainLimit,
    testLimit: 1,
  });
  const every = Math.max(1, Math.floor(o.steps / 10));
  console.log(
    `normkit gan: DCGAN, discriminator norm ${o.discNorm}, ${o.steps} steps of ${o.batchSize}, ${train.count} images`,
  );
  const { generator } = trainGan(train, {
    discNorm: o.discNorm,
    steps: o.steps,
    batchSize: o.batchSize,
    seed: o.seed,
    onStep: (s) => {
      if (s.step % every === 0 || s.step === o.steps)
        console.log(
          `step ${s.step}: loss D ${s.lossD.toFixed(3)} G ${s.lossG.toFixed(3)} | D(real) ${s.realScore.toFixed(3)} D(fake) ${s.fakeScore.toFixed(3)}`,
        );
    },
  });
  const file = join(o.out, `gan-${o.discNorm}.png`);
  const samples = sampleImages(generator, 64);
  writeFileAtomic(file, pngGrid(samples, 8));
  samples.dispose();
  console.log(`64 samples written to ${file}`);
}
