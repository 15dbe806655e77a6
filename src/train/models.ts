// The models the CLI trains: an MLP, the "2 conv + pooling + BN" CNN, a small ResNet, and
// the images as row sequences for an LSTM and a Transformer encoder, each with a choice of
// normalization.
import * as nn from '../nn/index.js';
import { LstmClassifier, TransformerClassifier } from './sequence-models.js';

export type ModelKind = 'mlp' | 'cnn' | 'resnet' | 'lstm' | 'transformer';
export type NormKind = 'batch' | 'group' | 'layer' | 'instance' | 'none';
export const MODEL_KINDS: ModelKind[] = ['mlp', 'cnn', 'resnet', 'lstm', 'transformer'];
export const NORM_KINDS: NormKind[] = ['batch', 'group', 'layer', 'instance', 'none'];

export interface ModelConfig {
  model: ModelKind;
  norm: NormKind;
  /** Channels of the CNN's two convolutions (or the ResNet's first stage width). */
  width?: number;
  /** lstm / transformer: train on random-length crops of at least this many rows. */
  minLength?: number;
}

function groupsFor(c: number): number {
  return c % 8 === 0 ? 8 : c % 4 === 0 ? 4 : 1;
}

/** Normalization for conv features [N, C, H, W]. LayerNorm over (C, H, W) is GroupNorm(1, C). */
export function norm2d(kind: NormKind): nn.NormFactory {
  switch (kind) {
    case 'batch':
      return (c) => new nn.BatchNorm2d(c);
    case 'group':
      return (c) => new nn.GroupNorm(groupsFor(c), c);
    case 'layer':
      return (c) => new nn.GroupNorm(1, c);
    case 'instance':
      return (c) => new nn.InstanceNorm2d(c, { affine: true });
    case 'none':
      return () => new nn.Identity();
  }
}

/** Normalization for features [N, C] (instance norm has no meaning there: none). */
export function norm1d(kind: NormKind): nn.NormFactory {
  switch (kind) {
    case 'batch':
      return (c) => new nn.BatchNorm1d(c);
    case 'group':
      return (c) => new nn.GroupNorm(groupsFor(c), c);
    case 'layer':
      return (c) => new nn.LayerNorm(c);
    default:
      return () => new nn.Identity();
  }
}

export function buildModel(cfg: ModelConfig): nn.Module {
  if (!MODEL_KINDS.includes(cfg.model))
    throw new Error(`buildModel: expected model ${MODEL_KINDS.join(' | ')}, got ${cfg.model}`);
  if (!NORM_KINDS.includes(cfg.norm))
    throw new Error(`buildModel: expected norm ${NORM_KINDS.join(' | ')}, got ${cfg.norm}`);
  const n2 = norm2d(cfg.norm),
    n1 = norm1d(cfg.norm);
  // The sequence models normalize the features their classifier reads (1-D norms).
  const seq = { minLength: cfg.minLength };
  if (cfg.model === 'lstm') return new LstmClassifier(cfg.width ?? 128, n1, seq);
  if (cfg.model === 'transformer') return new TransformerClassifier(cfg.width ?? 64, n1, seq);
  if (cfg.minLength !== undefined)
    throw new Error(
      `buildModel: minLength is for the lstm and transformer models, not ${cfg.model}`,
    );
  const bias = cfg.norm === 'none'; // a norm's shift makes the preceding bias redundant
  if (cfg.model === 'mlp') {
    const h = cfg.width ?? 256;
    return new nn.Sequential(
      new nn.Flatten(),
      new nn.Linear(784, h, { bias }),
      n1(h),
      new nn.ReLU(),
      new nn.Linear(h, h / 2, { bias }),
      n1(h / 2),
      new nn.ReLU(),
      new nn.Linear(h / 2, 10),
    );
  }
  if (cfg.model === 'cnn') {
    const c = cfg.width ?? 32;
    return new nn.Sequential(
      new nn.Conv2d(1, c, 3, { padding: 1, bias }),
      n2(c),
      new nn.ReLU(),
      new nn.MaxPool2d(2),
      new nn.Conv2d(c, 2 * c, 3, { padding: 1, bias }),
      n2(2 * c),
      new nn.ReLU(),
      new nn.MaxPool2d(2),
      new nn.Flatten(),
      new nn.Linear(2 * c * 49, 128, { bias }),
      n1(128),
      new nn.ReLU(),
      new nn.Linear(128, 10),
    );
  }
  const w = cfg.width ?? 16;
  return new nn.Sequential(
    new nn.Conv2d(1, w, 3, { padding: 1, bias }),
    n2(w),
    new nn.ReLU(),
    new nn.BasicBlock(w, w, 1, n2),
    new nn.BasicBlock(w, 2 * w, 2, n2),
    new nn.BasicBlock(2 * w, 4 * w, 2, n2),
    new nn.AdaptiveAvgPool2d(1),
    new nn.Flatten(),
    new nn.Linear(4 * w, 10),
  );
}
