// The playground's networks: an MLP, a plain CNN and a small ResNet on 28×28 images, built
// from a RunConfig (depth, normalization and where it sits, dropout and where it sits, init).
import * as nn from '../nn/index.js';
import type { Module } from '../nn/module.js';
import { noGrad } from '../autograd/grad-mode.js';
import { norm1d as cliNorm1d, norm2d as cliNorm2d } from '../train/models.js';
import type { PlaygroundNorm, RunConfig } from './config.js';

const MLP_WIDTH = 128;
/** Channels of the CNN's first convolution; later ones have twice as many. */
const CNN_WIDTH = 16;

/** Where a norm would sit in a network without one (an identity the probes can find). */
export class NoNorm extends nn.Identity {}

/**
 * The norm for conv features [N, C, H, W]: the CLI's choices (train/models.ts), with Batch
 * Renorm besides and a NoNorm marker where there is none.
 */
function norm2d(kind: PlaygroundNorm, c: number): Module {
  if (kind === 'renorm') return new nn.BatchRenorm2d(c);
  if (kind === 'none') return new NoNorm();
  return cliNorm2d(kind)(c);
}

/** The norm for features [N, C]; instance norm has nothing to normalize there (NoNorm). */
function norm1d(kind: PlaygroundNorm, c: number): Module {
  if (kind === 'renorm') return new nn.BatchRenorm1d(c);
  if (kind === 'none' || kind === 'instance') return new NoNorm();
  return cliNorm1d(kind)(c);
}

/** A weight layer, its norm, ReLU and dropout in the order the config asks for. */
function block(cfg: RunConfig, layer: Module, norm: Module, conv: boolean): Module[] {
  const out =
    cfg.normPosition === 'before-relu'
      ? [layer, norm, new nn.ReLU()]
      : [layer, new nn.ReLU(), norm];
  if (cfg.dropout > 0) {
    const drop = conv ? new nn.Dropout2d(cfg.dropout) : new nn.Dropout(cfg.dropout);
    if (cfg.dropoutPosition === 'before-norm') out.splice(out.indexOf(norm), 0, drop);
    else out.push(drop);
  }
  return out;
}

function mlp(cfg: RunConfig): Module[] {
  const layers: Module[] = [new nn.Flatten()];
  for (let i = 0; i < cfg.depth; i++) {
    const linear = new nn.Linear(i === 0 ? 784 : MLP_WIDTH, MLP_WIDTH);
    layers.push(...block(cfg, linear, norm1d(cfg.norm, MLP_WIDTH), false));
  }
  layers.push(new nn.Linear(MLP_WIDTH, 10));
  return layers;
}

/** depth convolutions 3×3; 2×2 max pooling after the first two (28 → 14 → 7). */
function cnn(cfg: RunConfig): Module[] {
  const layers: Module[] = [];
  let c = 1;
  for (let i = 0; i < cfg.depth; i++) {
    const out = i === 0 ? CNN_WIDTH : 2 * CNN_WIDTH;
    const conv = new nn.Conv2d(c, out, 3, { padding: 1 });
    layers.push(...block(cfg, conv, norm2d(cfg.norm, out), true));
    if (i < 2) layers.push(new nn.MaxPool2d(2));
    c = out;
  }
  layers.push(new nn.Flatten(), new nn.Linear(c * 49, 10));
  return layers;
}

/** A stem convolution, then depth basic blocks (widths 16, 32, 64, 64, ...; stride 2 at each widening). */
function resnet(cfg: RunConfig): Module[] {
  const w = CNN_WIDTH;
  // The stem follows the config's norm position; the blocks keep theirs, and have no dropout.
  const stem = { ...cfg, dropout: 0 };
  const layers: Module[] = block(
    stem,
    new nn.Conv2d(1, w, 3, { padding: 1 }),
    norm2d(cfg.norm, w),
    true,
  );
  let c = w;
  for (let i = 0; i < cfg.depth; i++) {
    const out = Math.min(w << i, 4 * w);
    layers.push(new nn.BasicBlock(c, out, out > c ? 2 : 1, (ch) => norm2d(cfg.norm, ch)));
    c = out;
  }
  layers.push(new nn.AdaptiveAvgPool2d(1), new nn.Flatten(), new nn.Linear(c, 10));
  return layers;
}

/**
 * He-normal weights (std √(2 / fan-in)) times the config's gain, zero biases, in every hidden
 * Linear and Conv2d; the classifier keeps PyTorch's default init, so that gain 1 starts every
 * network at a loss near ln 10.
 */
function initialize(model: Module, gain: number, classifier: Module): void {
  noGrad(() => {
    for (const [, m] of model.namedModules()) {
      if (m === classifier || !(m instanceof nn.Linear || m instanceof nn.Conv2d)) continue;
      const fanIn = nn.init.fans(m.weight)[0];
      nn.init.normal_(m.weight, 0, gain * Math.sqrt(2 / fanIn));
      if (m.bias) nn.init.constant_(m.bias, 0);
    }
  });
}

export function buildPlaygroundModel(cfg: RunConfig): nn.Sequential {
  const layers = cfg.model === 'mlp' ? mlp(cfg) : cfg.model === 'cnn' ? cnn(cfg) : resnet(cfg);
  const model = new nn.Sequential(...layers);
  initialize(model, cfg.initGain, layers[layers.length - 1]);
  return model;
}
