// What the GAN experiment trains, with the public API: the non-saturating GAN step (real and
// fake batches through the discriminator separately, as DCGAN code does), the 8-Gaussian ring
// and its mode counts, and DCGAN-style generator and discriminators for 28×28 images whose
// one varying part is the discriminator's normalization.
import * as nk from '../index.js';

const { nn } = nk;

export const DISCRIMINATOR_NORMS = ['batch', 'spectral', 'layer', 'none'] as const;
export type DiscriminatorNorm = (typeof DISCRIMINATOR_NORMS)[number];

export interface Gan {
  g: nk.nn.Module;
  d: nk.nn.Module;
  optG: nk.optim.Adam;
  optD: nk.optim.Adam;
  /** The shape of one latent sample after the batch dimension. */
  zShape: number[];
}

export function makeGan(g: nk.nn.Module, d: nk.nn.Module, zShape: number[], lr: number): Gan {
  const betas: [number, number] = [0.5, 0.999];
  return {
    g,
    d,
    optG: new nk.optim.Adam(g.parameters(), { lr, betas }),
    optD: new nk.optim.Adam(d.parameters(), { lr, betas }),
    zShape,
  };
}

export const latent = (gan: Gan, n: number) => nk.randn([n, ...gan.zShape]);

/** One discriminator step and one generator step; returns the discriminator's loss. */
export function ganStep(gan: Gan, real: nk.Tensor): number {
  const n = real.shape[0];
  return nk.tidy(() => {
    const ones = nk.ones([n, 1]),
      zeros = nk.zeros([n, 1]);
    gan.g.train();
    gan.d.train();
    const fake = gan.g.call(latent(gan, n));
    const lossD = nk.add(
      nk.bceWithLogits(gan.d.call(real), ones),
      nk.bceWithLogits(gan.d.call(fake.detach()), zeros),
    );
    gan.optD.zeroGrad();
    lossD.backward();
    gan.optD.step();
    const lossG = nk.bceWithLogits(gan.d.call(fake), ones);
    gan.optG.zeroGrad();
    lossG.backward();
    gan.optG.step();
    return lossD.item();
  });
}

/** Generator samples in eval mode, as a float32 array of n × (sample size). */
export function sample(gan: Gan, n: number): Float32Array {
  gan.g.eval();
  try {
    return nk.noGrad(() => nk.tidy(() => Float32Array.from(gan.g.call(latent(gan, n)).data)));
  } finally {
    gan.g.train();
  }
}

// ---- The ring: 8 Gaussians of sd RING_SD on a circle of radius 2 ----

export const MODES = 8;
export const RING_SD = 0.05;

export function ringBatch(n: number, g: nk.Generator): nk.Tensor {
  const x = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const a = (2 * Math.PI * g.int(MODES)) / MODES;
    x[2 * i] = 2 * Math.cos(a) + RING_SD * g.normal();
    x[2 * i + 1] = 2 * Math.sin(a) + RING_SD * g.normal();
  }
  return nk.tensor(x, [n, 2]);
}

/**
 * Samples within 3 sd of a mode are high quality; a mode is covered when at least 1 % of the
 * samples are high-quality samples of it (the counting of Srivastava et al. 2017).
 */
export function ringQuality(points: Float32Array) {
  const n = points.length / 2;
  const counts = new Array<number>(MODES).fill(0);
  let good = 0;
  for (let i = 0; i < n; i++) {
    for (let m = 0; m < MODES; m++) {
      const a = (2 * Math.PI * m) / MODES;
      const d = Math.hypot(points[2 * i] - 2 * Math.cos(a), points[2 * i + 1] - 2 * Math.sin(a));
      if (d <= 3 * RING_SD) {
        counts[m]++;
        good++;
        break;
      }
    }
  }
  return { modes: counts.filter((c) => c >= 0.01 * n).length, highQuality: good / n };
}

/** Generator: MLP z(8) → 128 → 128 → 2 with ReLU; the same for every discriminator. */
export const ringGenerator = () =>
  new nn.Sequential(
    new nn.Linear(8, 128),
    new nn.ReLU(),
    new nn.Linear(128, 128),
    new nn.ReLU(),
    new nn.Linear(128, 2),
  );

/** Discriminator: MLP 2 → 128 → 128 → 1 with LeakyReLU 0.2 and the norm after each hidden Linear. */
export function ringDiscriminator(norm: DiscriminatorNorm): nk.nn.Module {
  const layers: nk.nn.Module[] = [];
  let inF = 2;
  for (let i = 0; i < 2; i++) {
    const lin = new nn.Linear(inF, 128);
    layers.push(norm === 'spectral' ? nn.spectralNorm(lin) : lin);
    if (norm === 'batch') layers.push(new nn.BatchNorm1d(128));
    if (norm === 'layer') layers.push(new nn.LayerNorm(128));
    layers.push(new nn.LeakyReLU(0.2));
    inF = 128;
  }
  const out = new nn.Linear(128, 1);
  layers.push(norm === 'spectral' ? nn.spectralNorm(out) : out);
  return new nn.Sequential(...layers);
}

// ---- DCGAN for 28×28 images in [−1, 1] ----

/** z [32, 1, 1] → ConvT 7×7 to 32×7×7 → BN, ReLU → ConvT to 16×14×14 → BN, ReLU → ConvT to 1×28×28 → tanh. */
export const imageGenerator = () =>
  new nn.Sequential(
    new nn.ConvTranspose2d(32, 32, 7, { bias: false }),
    new nn.BatchNorm2d(32),
    new nn.ReLU(),
    new nn.ConvTranspose2d(32, 16, 4, { stride: 2, padding: 1, bias: false }),
    new nn.BatchNorm2d(16),
    new nn.ReLU(),
    new nn.ConvTranspose2d(16, 1, 4, { stride: 2, padding: 1 }),
    new nn.Tanh(),
  );

/**
 * Conv 4×4/2 to 16×14×14, LeakyReLU 0.2, conv 4×4/2 to 32×7×7, the norm (layer: GroupNorm with
 * one group, LayerNorm over C×H×W as in WGAN-GP critics), LeakyReLU, Linear to one logit.
 */
export function imageDiscriminator(norm: DiscriminatorNorm): nk.nn.Module {
  const sn = <M extends nk.nn.Module>(m: M) => (norm === 'spectral' ? nn.spectralNorm(m) : m);
  return new nn.Sequential(
    sn(new nn.Conv2d(1, 16, 4, { stride: 2, padding: 1 })),
    new nn.LeakyReLU(0.2),
    sn(
      new nn.Conv2d(16, 32, 4, {
        stride: 2,
        padding: 1,
        bias: norm !== 'batch' && norm !== 'layer',
      }),
    ),
    ...(norm === 'batch'
      ? [new nn.BatchNorm2d(32)]
      : norm === 'layer'
        ? [new nn.GroupNorm(1, 32)]
        : []),
    new nn.LeakyReLU(0.2),
    new nn.Flatten(),
    sn(new nn.Linear(32 * 49, 1)),
  );
}
