// Dense prediction at batch 2, the detection and segmentation case: BatchNorm's statistics
// over two images are noisy and differ from the running averages used at test time.
// GroupNorm computes the same thing for every batch size; detection frameworks instead freeze
// BatchNorm at statistics pretrained with large batches (FrozenBatchNorm2d).
import * as nk from '../../index.js';
import { MEAN, STD, type Split } from '../../data/fashion-mnist.js';
import { type Experiment, mean, num, pm, row } from '../experiment.js';
import { disposeModel } from '../kit.js';
import { barChart } from '../plot.js';

const { nn } = nk;
const CONDITIONS = [
  'BN, batch 2',
  'GroupNorm, batch 2',
  'frozen pretrained BN, batch 2',
  'BN, batch 16 (reference)',
] as const;
/** Foreground: a clean pixel brighter than 0.25 of full scale, in the split's normalized units. */
const FOREGROUND = (0.25 - MEAN) / STD;

interface Run {
  /** Per condition: mean IoU (foreground and background) on the test images, eval mode. */
  miou: number[];
  /** Per condition: foreground IoU. */
  fgIou: number[];
}

/** Image i corrupted by a per-image contrast a ∈ [0.5, 1.5], brightness b ∈ [−1, 1] and noise sd 0.8. */
function corrupt(split: Split, idx: ArrayLike<number>, g: nk.Generator) {
  const n = idx.length;
  const x = new Float32Array(n * 784),
    mask = new Float32Array(n * 784);
  for (let k = 0; k < n; k++) {
    const a = 0.5 + g.uniform(),
      b = 2 * g.uniform() - 1;
    const img = split.images.subarray(idx[k] * 784, (idx[k] + 1) * 784);
    for (let p = 0; p < 784; p++) {
      x[k * 784 + p] = a * img[p] + b + 0.8 * g.normal();
      mask[k * 784 + p] = img[p] > FOREGROUND ? 1 : 0;
    }
  }
  return { x: nk.tensor(x, [n, 1, 28, 28]), mask: nk.tensor(mask, [n, 1, 28, 28]) };
}

type NormKind = 'batch' | 'group';

/** Three 3×3 convolutions (dilation 1, 2, 4: a 15-pixel receptive field) with norm and ReLU, full resolution. */
function backbone(norm: NormKind): nk.nn.Module[] {
  const layers: nk.nn.Module[] = [];
  const widths = [1, 16, 32, 32];
  for (let i = 0; i < 3; i++) {
    const d = 2 ** i,
      c = widths[i + 1];
    layers.push(
      new nn.Conv2d(widths[i], c, 3, { padding: d, dilation: d, bias: false }),
      norm === 'batch' ? new nn.BatchNorm2d(c) : new nn.GroupNorm(4, c),
      new nn.ReLU(),
    );
  }
  return layers;
}

/** Adam lr 1e-3 on binary cross-entropy per pixel, on freshly corrupted training images. */
function trainSegmenter(
  m: nk.nn.Module,
  split: Split,
  batch: number,
  steps: number,
  seed: number,
  progress: (f: number) => void,
) {
  const g = new nk.Generator(seed);
  const opt = new nk.optim.Adam(m.parameters(), { lr: 1e-3 });
  m.train();
  for (let s = 0; s < steps; s++) {
    nk.tidy(() => {
      const idx = Array.from({ length: batch }, () => g.int(split.count));
      const { x, mask } = corrupt(split, idx, g);
      const loss = nk.bceWithLogits(m.call(x), mask);
      opt.zeroGrad();
      loss.backward();
      opt.step();
    });
    if (s % 50 === 0) progress(s / steps);
  }
}

/** Foreground and background IoU over the whole test split (eval mode, fixed corruption). */
function iou(m: nk.nn.Module, split: Split, seed: number): { miou: number; fg: number } {
  const g = new nk.Generator(seed);
  const inter = [0, 0],
    union = [0, 0];
  m.eval();
  nk.noGrad(() => {
    for (let s = 0; s < split.count; s += 250) {
      nk.tidy(() => {
        const idx = Array.from({ length: Math.min(250, split.count - s) }, (_, k) => s + k);
        const { x, mask } = corrupt(split, idx, g);
        const out = m.call(x).data,
          truth = mask.data;
        for (let p = 0; p < out.length; p++) {
          const pred = out[p] > 0 ? 1 : 0,
            t = truth[p];
          for (const c of [0, 1]) {
            const a = pred === c,
              b = t === c;
            if (a && b) inter[c]++;
            if (a || b) union[c]++;
          }
        }
      });
    }
  });
  const per = [0, 1].map((c) => inter[c] / Math.max(1, union[c]));
  return { miou: (per[0] + per[1]) / 2, fg: per[1] };
}

const budget = (mode: string) =>
  mode === 'full'
    ? { steps: 3000, pretrain: 600 }
    : mode === 'quick'
      ? { steps: 800, pretrain: 200 }
      : { steps: 10, pretrain: 4 };

export const denseSmallBatch: Experiment<Run> = {
  name: 'dense-small-batch',
  claim:
    'For dense prediction trained at batch 2, GroupNorm does better than BatchNorm, whose ' +
    'statistics over two images are noisy and differ from the running averages used at test ' +
    'time; freezing BatchNorm at statistics pretrained with large batches also avoids the ' +
    'problem.',
  source:
    'Wu & He 2018 (Group Normalization); Peng et al. 2018 (MegDet); torchvision FrozenBatchNorm2d',
  setup: (mode) => {
    const b = budget(mode);
    return (
      'Segmentation of Fashion-MNIST foregrounds (mask: clean pixel > 0.25 of full scale) from ' +
      'corrupted images (per image contrast ×U(0.5, 1.5), brightness +U(−1, 1) and pixel noise ' +
      'sd 0.8, in normalized units). Fully convolutional net at full resolution: 3 × [Conv2d ' +
      '3×3 (16, 32, 32 channels; dilation 1, 2, 4), norm, ReLU], then a 1×1 Conv2d to one ' +
      'logit per pixel; binary cross-entropy, Adam lr 1e-3, ' +
      `${b.steps} steps. Conditions: BatchNorm2d at batch 2; GroupNorm (4 groups) at batch 2; ` +
      `the BatchNorm backbone pretrained on 10-class classification of the corrupted images ` +
      `(global average pool + Linear, SGD lr 0.05 momentum 0.9, batch 64, ${b.pretrain} steps), ` +
      'then freezeBatchNorm and a new head trained at batch 2; BatchNorm at batch 16 for ' +
      'reference. Mean IoU of foreground and background on the test images, eval mode.'
    );
  },
  rule:
    'Reproduced if, in the mean over seeds, both GroupNorm and frozen pretrained BatchNorm ' +
    'reach a mean IoU at least 1 point above BatchNorm at batch 2. Mixed if one of them does.',
  quickSeconds: 49,
  measure(ctx) {
    const b = budget(ctx.mode);
    const out: Run = { miou: [], fgIou: [] };
    const record = (m: nk.nn.Module) => {
      const r = iou(m, ctx.data.test, ctx.seed + 7);
      out.miou.push(r.miou);
      out.fgIou.push(r.fg);
      disposeModel(m);
    };
    const head = () => new nn.Conv2d(32, 1, 1);
    const part = (k: number, f: number) => ctx.progress((k + f) / CONDITIONS.length);
    CONDITIONS.forEach((_, k) => {
      nk.manualSeed(ctx.seed);
      let m: nk.nn.Module;
      if (k === 2) {
        const layers = backbone('batch');
        const classifier = new nn.Sequential(
          ...layers,
          new nn.AdaptiveAvgPool2d(1),
          new nn.Flatten(),
          new nn.Linear(32, 10),
        );
        const g = new nk.Generator(ctx.seed + 5);
        const opt = new nk.optim.SGD(classifier.parameters(), { lr: 0.05, momentum: 0.9 });
        classifier.train();
        for (let s = 0; s < b.pretrain; s++) {
          nk.tidy(() => {
            const idx = Array.from({ length: 64 }, () => g.int(ctx.data.train.count));
            const { x } = corrupt(ctx.data.train, idx, g);
            const loss = nk.crossEntropy(
              classifier.call(x),
              Int32Array.from(idx, (i) => ctx.data.train.labels[i]),
            );
            opt.zeroGrad();
            loss.backward();
            opt.step();
          });
          if (s % 20 === 0) part(k, (0.5 * s) / b.pretrain);
        }
        m = new nn.Sequential(...layers, head());
        nk.freezeBatchNorm(m);
      } else {
        m = new nn.Sequential(...backbone(k === 1 ? 'group' : 'batch'), head());
      }
      const batch = k === 3 ? 16 : 2;
      trainSegmenter(m, ctx.data.train, batch, b.steps, ctx.seed + 3, (f) =>
        part(k, k === 2 ? 0.5 + 0.5 * f : f),
      );
      record(m);
    });
    return out;
  },
  judge(runs) {
    const m = CONDITIONS.map((_, k) => 100 * mean(runs.map((r) => r.miou[k])));
    const held = [m[1] >= m[0] + 1, m[2] >= m[0] + 1].filter(Boolean).length;
    const p = (k: number) => pm(runs.map((r) => 100 * r.miou[k]));
    return {
      verdict: held === 2 ? 'reproduced' : held === 0 ? 'not reproduced' : 'mixed',
      because:
        `Mean IoU: ${CONDITIONS.map((c, k) => `${c} ${p(k)} %`).join(', ')}. ` +
        `GroupNorm − BN at batch 2: ${num(m[1] - m[0])} points; frozen BN − BN: ${num(m[2] - m[0])} points.`,
      summary: CONDITIONS.flatMap((c, k) => [
        row(
          `${c}: mean IoU`,
          runs.map((r) => 100 * r.miou[k]),
          '%',
        ),
        row(
          `${c}: foreground IoU`,
          runs.map((r) => 100 * r.fgIou[k]),
          '%',
        ),
      ]),
    };
  },
  figures(runs) {
    return [
      barChart({
        title: 'Segmentation at batch 2: test IoU by normalization',
        rows: CONDITIONS.flatMap((c, k) => [
          { category: c, y: 100 * mean(runs.map((r) => r.miou[k])), series: 'mean IoU' },
          { category: c, y: 100 * mean(runs.map((r) => r.fgIou[k])), series: 'foreground IoU' },
        ]),
        y: 'IoU (%)',
        category: 'condition',
        yDomain: [75, 95],
      }),
    ];
  },
};
