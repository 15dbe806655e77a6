// A small DCGAN on Fashion-MNIST (Radford et al. 2016): the generator upsamples with
// ConvTranspose2d + BatchNorm; the discriminator's normalization is the choice under study
// (BatchNorm lets real and fake batches leak into each other; spectral norm is the usual fix).
// Two Adam optimizers, alternating steps, non-saturating losses on logits.
import { noGrad } from '../autograd/grad-mode.js';
import { DataLoader } from '../data/loader.js';
import type { Split } from '../data/fashion-mnist.js';
import { tidy } from '../memory/scope.js';
import * as nn from '../nn/index.js';
import { bceWithLogits } from '../ops/loss.js';
import { sigmoid, tanh } from '../ops/activation.js';
import { Adam } from '../optim/adam.js';
import { manualSeed } from '../random.js';
import { ones, randn, zeros } from '../tensor/create.js';
import type { Tensor } from '../tensor/tensor.js';
import { MEAN, STD } from '../data/fashion-mnist.js';
import { deflateSync } from 'node:zlib';

export type DiscNorm = 'batch' | 'spectral' | 'layer' | 'none';
export const DISC_NORMS: DiscNorm[] = ['batch', 'spectral', 'layer', 'none'];

const Z = 32;

class Generator extends nn.Module {
  readonly fc = this.registerModule('fc', new nn.Linear(Z, 64 * 7 * 7, { bias: false }));
  readonly bn0 = this.registerModule('bn0', new nn.BatchNorm1d(64 * 7 * 7));
  readonly up = this.registerModule(
    'up',
    new nn.Sequential(
      new nn.ConvTranspose2d(64, 32, 4, { stride: 2, padding: 1, bias: false }),
      new nn.BatchNorm2d(32),
      new nn.ReLU(),
      new nn.ConvTranspose2d(32, 1, 4, { stride: 2, padding: 1 }),
    ),
  );
  forward(z: Tensor): Tensor {
    const h = this.bn0.call(this.fc.call(z)).relu().reshape([z.shape[0], 64, 7, 7]);
    return tanh(this.up.call(h));
  }
}

function discriminator(norm: DiscNorm): nn.Module {
  const conv = (i: number, o: number) => {
    const c = new nn.Conv2d(i, o, 4, {
      stride: 2,
      padding: 1,
      bias: norm !== 'batch' && norm !== 'layer',
    });
    return norm === 'spectral' ? nn.spectralNorm(c) : c;
  };
  const n = (c: number): nn.Module[] =>
    norm === 'batch' ? [new nn.BatchNorm2d(c)] : norm === 'layer' ? [new nn.GroupNorm(1, c)] : [];
  const head = new nn.Linear(64 * 7 * 7, 1);
  return new nn.Sequential(
    conv(1, 32),
    new nn.LeakyReLU(0.2),
    conv(32, 64),
    ...n(64),
    new nn.LeakyReLU(0.2),
    new nn.Flatten(),
    norm === 'spectral' ? nn.spectralNorm(head) : head,
  );
}

export interface GanStep {
  step: number;
  lossD: number;
  lossG: number;
  /** Mean D(x) on the real batch and D(G(z)) on the fake one (probabilities). */
  realScore: number;
  fakeScore: number;
}

export interface GanOptions {
  discNorm: DiscNorm;
  steps: number;
  batchSize: number;
  seed: number;
  onStep?: (s: GanStep) => void;
}

/** Trains the DCGAN; returns the generator (eval mode) and the step records. */
export function trainGan(
  train: Split,
  o: GanOptions,
): { generator: nn.Module; history: GanStep[] } {
  if (!DISC_NORMS.includes(o.discNorm)) {
    throw new Error(
      `gan: expected --disc-norm ${DISC_NORMS.join(' | ')}, got ${String(o.discNorm)}`,
    );
  }
  manualSeed(o.seed);
  const G = new Generator();
  const D = discriminator(o.discNorm);
  const optG = new Adam(G.parameters(), { lr: 2e-4, betas: [0.5, 0.999] });
  const optD = new Adam(D.parameters(), { lr: 2e-4, betas: [0.5, 0.999] });
  // The loader's images are standardized; the generator's tanh range is [−1, 1].
  const images = Float32Array.from(train.images, (v) => (v * STD + MEAN) * 2 - 1);
  const loader = new DataLoader(images, train.labels, [1, 28, 28], {
    batchSize: o.batchSize,
    shuffle: true,
    dropLast: true,
    seed: o.seed,
  });
  const history: GanStep[] = [];
  let epoch = 0,
    order = loader.order(0),
    b = 0;
  for (let step = 1; step <= o.steps; step++, b++) {
    if (b >= loader.length) [b, order] = [0, loader.order(++epoch)];
    const rec = tidy(() => {
      const { x } = loader.batch(order, b);
      const n = x.shape[0];
      const real = ones([n, 1]),
        fake = zeros([n, 1]);
      // Discriminator: real batch and a detached fake batch (made with the generator in
      // training mode, as the DCGAN recipe does; detach() rather than noGrad(), which would be
      // the forgotten-eval() pattern the BatchNorm guard warns about).
      const fakeX = G.call(randn([n, Z])).detach();
      optD.zeroGrad();
      const dReal = D.call(x),
        dFake = D.call(fakeX);
      const lossD = bceWithLogits(dReal, real).add(bceWithLogits(dFake, fake));
      lossD.backward();
      optD.step();
      // Generator: the non-saturating loss, D judging a fresh fake batch as real.
      optG.zeroGrad();
      const lossG = bceWithLogits(D.call(G.call(randn([n, Z]))), real);
      lossG.backward();
      optG.step();
      return {
        step,
        lossD: lossD.item(),
        lossG: lossG.item(),
        realScore: sigmoid(dReal).mean().item(),
        fakeScore: sigmoid(dFake).mean().item(),
      };
    });
    history.push(rec);
    o.onStep?.(rec);
  }
  G.eval();
  return { generator: G, history };
}

/** count samples from the generator, as a [count, 1, 28, 28] tensor of values in [0, 1]. */
export function sampleImages(G: nn.Module, count: number): Tensor {
  return noGrad(() =>
    G.call(randn([count, Z]))
      .add(1)
      .mul(0.5),
  );
}

/** A square grid of 28x28 images in [0, 1] as an 8-bit grayscale PNG (Node's zlib). */
export function pngGrid(images: Tensor, perRow: number): Buffer {
  const n = images.shape[0];
  const rowsOf = Math.ceil(n / perRow);
  const W = perRow * 28,
    H = rowsOf * 28;
  const raw = Buffer.alloc((W + 1) * H); // each scanline starts with filter byte 0
  const d = images.data;
  for (let i = 0; i < n; i++) {
    const ox = (i % perRow) * 28,
      oy = Math.floor(i / perRow) * 28;
    for (let y = 0; y < 28; y++)
      for (let x = 0; x < 28; x++) {
        const v = Math.max(0, Math.min(1, d[i * 784 + y * 28 + x]));
        raw[(oy + y) * (W + 1) + 1 + ox + x] = Math.round(255 * v);
      }
  }
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(W, 0);
  ihdr.writeUInt32BE(H, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grayscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** CRC-32 with the PNG polynomial (zlib.crc32 is newer than Node 20.0). */
function crc32(b: Uint8Array): number {
  let c = ~0;
  for (const byte of b) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}
