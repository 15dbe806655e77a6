// The benchmark cases, shared by run.ts. Each builds its inputs once and returns a closure
// timed over repetitions; `bytes` is what a memory-bound kernel must move at minimum: each
// input read once and each output written once (a second read of a statistic's elements
// comes from cache, so it is not counted); `designBytes` counts that second read as DESIGN.md
// does, and the table shows both.
import * as nk from '../src/index.js';
import { buildModel } from '../src/train/models.js';
import { trainStep } from '../src/train/loop.js';
import { makeOptimizer } from '../src/cli/optimizer.js';
import { exportOnnx } from '../src/onnx/index.js';

// BatchNorm's training forward is timed without a graph (noGrad) on purpose: not the
// forgotten eval() that the one-time warning is for.
nk.nn.setBatchNormEvalGuard(false);

export interface Case {
  name: string;
  what: string;
  bytes?: number;
  /** DESIGN.md's count ("Performance method"): a training norm reads x twice, its backward x
   * and dy twice; where it differs from `bytes`. */
  designBytes?: number;
  flops?: number;
  reps?: number;
  setup(): () => void;
  /** The same work in onnxruntime-node (the model exported with exportOnnx), at n threads. */
  onnxruntime?: (threads: number) => Promise<() => Promise<unknown>>;
}

/** An onnxruntime session on the exported model, fed a fixed input of the given shape. */
async function ortRunner(model: nk.nn.Module, shape: number[], threads: number) {
  const ort = (await import('onnxruntime-node')).default;
  const bytes = exportOnnx(model, { inputShape: [1, ...shape.slice(1)] });
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
  });
  const input = new ort.Tensor('float32', Float32Array.from(nk.randn(shape).data), shape);
  return () => session.run({ input });
}

const [N, C, H, W] = [32, 64, 56, 56];
const numel = N * C * H * W;
const F32 = 4;

/** Forward and backward of a module on an input of shape `xs` with a fixed upstream gradient. */
function seqFwdBwd(module: nk.nn.Module, xs: number[], ys: number[]): () => void {
  const x = nk.keep(nk.randn(xs));
  const dy = nk.keep(nk.randn(ys));
  x.requiresGrad = true;
  return () =>
    nk.tidy(() => {
      x.grad?.dispose();
      x.grad = null;
      module.zeroGrad();
      module.call(x).backward(dy);
    });
}

const fwdBwd = (module: nk.nn.Module) => seqFwdBwd(module, [N, C, H, W], [N, C, H, W]);

export const cases: Case[] = [
  {
    name: 'bn2d_train_fwd',
    what: 'BatchNorm2d training forward [32,64,56,56]',
    bytes: 2 * numel * F32, // read x, write y
    designBytes: 3 * numel * F32,
    setup() {
      const bn = new nk.nn.BatchNorm2d(C);
      const x = nk.keep(nk.randn([N, C, H, W]));
      return () => nk.tidy(() => void nk.noGrad(() => bn.call(x)));
    },
  },
  {
    name: 'bn2d_train_fwdbwd',
    what: 'BatchNorm2d training forward+backward',
    bytes: 5 * numel * F32, // forward 2; backward reads x and dy, writes dx
    designBytes: 8 * numel * F32,
    setup: () => fwdBwd(new nk.nn.BatchNorm2d(C)),
  },
  {
    name: 'bn2d_eval_fwd',
    what: 'BatchNorm2d eval forward',
    bytes: 2 * numel * F32, // one scale-and-shift pass
    setup() {
      const bn = new nk.nn.BatchNorm2d(C).eval();
      const x = nk.keep(nk.randn([N, C, H, W]));
      return () => nk.tidy(() => void nk.noGrad(() => bn.call(x)));
    },
  },
  {
    // BatchNorm1d on features, the MLP case: each statistic is a column of [N, C].
    name: 'bn1d_fwdbwd',
    what: 'BatchNorm1d(512) forward+backward on [4096, 512]',
    bytes: 5 * 4096 * 512 * F32,
    designBytes: 8 * 4096 * 512 * F32,
    setup: () => seqFwdBwd(new nk.nn.BatchNorm1d(512), [4096, 512], [4096, 512]),
  },
  {
    name: 'layernorm_fwdbwd',
    what: 'LayerNorm([64,56,56]) forward+backward',
    bytes: 5 * numel * F32,
    designBytes: 8 * numel * F32,
    setup: () => fwdBwd(new nk.nn.LayerNorm([C, H, W])),
  },
  {
    name: 'groupnorm32_fwdbwd',
    what: 'GroupNorm(32, 64) forward+backward',
    bytes: 5 * numel * F32,
    designBytes: 8 * numel * F32,
    setup: () => fwdBwd(new nk.nn.GroupNorm(32, C)),
  },
  {
    name: 'instancenorm2d_fwdbwd',
    what: 'InstanceNorm2d(64) forward+backward',
    bytes: 5 * numel * F32,
    designBytes: 8 * numel * F32,
    setup: () => fwdBwd(new nk.nn.InstanceNorm2d(C)),
  },
  {
    name: 'rmsnorm_fwdbwd',
    what: 'RMSNorm([64,56,56]) forward+backward',
    bytes: 5 * numel * F32,
    designBytes: 8 * numel * F32,
    setup: () => fwdBwd(new nk.nn.RMSNorm([C, H, W])),
  },
  {
    name: 'gemm_1024',
    what: 'GEMM 1024x1024x1024',
    flops: 2 * 1024 ** 3,
    setup() {
      const a = nk.keep(nk.randn([1024, 1024])),
        b = nk.keep(nk.randn([1024, 1024]));
      return () => nk.tidy(() => void nk.matmul(a, b));
    },
  },
  {
    name: 'conv3x3_64_fwdbwd',
    what: 'conv2d 3x3 64->64 [32,64,56,56] forward+backward',
    flops: 3 * 2 * N * C * H * W * C * 9,
    reps: 3,
    setup: () => fwdBwd(new nk.nn.Conv2d(C, C, 3, { padding: 1 })),
  },
  {
    name: 'cnn_train_step_b64',
    what: 'CNN (2 conv + BN) training step, batch 64, 28x28',
    setup() {
      const model = buildModel({ model: 'cnn', norm: 'batch' });
      const opt = makeOptimizer('sgd', model, 0.05, 0);
      const x = nk.keep(nk.randn([64, 1, 28, 28]));
      const labels = Uint8Array.from({ length: 64 }, (_, i) => i % 10);
      return () => nk.tidy(() => trainStep(model, opt, x, labels));
    },
  },
  // Issue 13's sequence and generative layers; torch_bench.py builds the same ones.
  {
    name: 'lstm_fwdbwd',
    what: 'LSTM(28, 128), seq 28, batch 64, forward+backward',
    flops: 3 * 2 * 28 * 64 * 4 * 128 * (28 + 128),
    setup: () => seqFwdBwd(new nk.nn.LSTM(28, 128), [28, 64, 28], [28, 64, 128]),
  },
  {
    name: 'transformer_layer_fwdbwd',
    what: 'TransformerEncoderLayer(128, 4 heads, ff 512, dropout 0), [64, 28, 128], fwd+bwd',
    // Projections q, k, v, out; the two feed-forward layers; scores and weighted values.
    flops:
      3 * (4 * 2 * 1792 * 128 * 128 + 2 * 2 * 1792 * 128 * 512 + 2 * 2 * 64 * 4 * 28 * 28 * 32),
    setup: () =>
      seqFwdBwd(
        new nk.nn.TransformerEncoderLayer(128, 4, {
          dimFeedforward: 512,
          dropout: 0,
          batchFirst: true,
        }),
        [64, 28, 128],
        [64, 28, 128],
      ),
  },
  {
    name: 'convtranspose_fwdbwd',
    what: 'ConvTranspose2d 64->32 4x4 stride 2 on [64, 64, 7, 7], forward+backward',
    flops: 3 * 2 * 64 * 64 * 7 * 7 * 32 * 16,
    setup: () =>
      seqFwdBwd(
        new nk.nn.ConvTranspose2d(64, 32, 4, { stride: 2, padding: 1 }),
        [64, 64, 7, 7],
        [64, 32, 14, 14],
      ),
  },
  // Inference of the README CNN, as deployed: eval mode, with and without BatchNorm folded.
  ...[64, 1].flatMap((batch) =>
    [false, true].map((fold): Case => ({
      name: `cnn_eval_b${batch}${fold ? '_folded' : ''}`,
      what: `CNN eval forward, batch ${batch}${fold ? ', BatchNorm folded' : ''}`,
      setup() {
        const model = buildModel({ model: 'cnn', norm: 'batch' }).eval();
        const run = fold ? nk.foldBatchNorm(model).model : model;
        const x = nk.keep(nk.randn([batch, 1, 28, 28]));
        return () => nk.tidy(() => void nk.noGrad(() => run.call(x)));
      },
      // onnxruntime folds BatchNorm into the convolutions itself when it loads the model.
      onnxruntime: fold
        ? undefined
        : (threads) =>
            ortRunner(buildModel({ model: 'cnn', norm: 'batch' }), [batch, 1, 28, 28], threads),
    })),
  ),
];
