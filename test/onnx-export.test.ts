// exportOnnx checked by onnxruntime (onnxruntime-node, a devDependency): every CLI model with
// every norm, and every supported layer on its own, give normkit's eval outputs at batch 1
// and 7 (the batch is symbolic); the file names its initializers by state-dict keys; layers
// without an ONNX form, and bad options, are errors naming the layer.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import * as nk from '../src/index.js';
import { exportOnnx } from '../src/onnx/index.js';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildModel, type ModelKind, type NormKind } from '../src/train/models.js';
import { readRun, restoreRun } from '../src/train/session.js';
import { runCli, trainTiny } from './helpers.js';

const { nn } = nk;

/** max |a − b| over the largest |a|: the error relative to the output's scale. */
function relErr(want: ArrayLike<number>, got: ArrayLike<number>): number {
  let d = 0,
    s = 0;
  for (let i = 0; i < want.length; i++) {
    d = Math.max(d, Math.abs(want[i] - got[i]));
    s = Math.max(s, Math.abs(want[i]));
  }
  return d / Math.max(s, 1e-30);
}

/** Exports m for inputs [batch, ...rest] and compares onnxruntime with normkit at each batch. */
async function check(
  m: nk.nn.Module,
  rest: number[],
  what: string,
  opts: { batches?: number[]; opset?: number; tol?: number; input?: (b: number) => nk.Tensor } = {},
): Promise<void> {
  m.eval();
  const bytes = exportOnnx(m, { inputShape: [1, ...rest], opset: opts.opset });
  const session = await ort.InferenceSession.create(bytes);
  for (const b of opts.batches ?? [1, 7]) {
    const x = opts.input ? opts.input(b) : nk.randn([b, ...rest]);
    const want = nk.noGrad(() => m.call(x)).toArray();
    const r = await session.run({
      input: new ort.Tensor('float32', Float32Array.from(x.data), [b, ...rest]),
    });
    assert.deepEqual([...r.output.dims], nk.noGrad(() => m.call(x)).shape, `${what} shape`);
    const e = relErr(want, r.output.data as Float32Array);
    assert.ok(e <= (opts.tol ?? 1e-5), `${what} at batch ${b}: relative error ${e}`);
  }
}

/** BatchNorm statistics moved off their initial values by a few training batches. */
function warm(m: nk.nn.Module, shape: number[]): void {
  m.train();
  for (let i = 0; i < 3; i++) nk.tidy(() => void nk.noGrad(() => m.call(nk.randn(shape))));
  m.eval();
}

describe('exportOnnx, checked by onnxruntime', () => {
  const combos: [ModelKind, NormKind][] = [];
  for (const model of ['mlp', 'cnn', 'resnet'] as const)
    for (const norm of ['batch', 'group', 'layer', 'instance', 'none'] as const)
      if (!(model === 'mlp' && norm === 'instance')) combos.push([model, norm]);
  for (const [model, norm] of combos) {
    it(`the CLI's ${model} with ${norm} norm`, async () => {
      nk.manualSeed(1);
      const m = buildModel({ model, norm, width: model === 'mlp' ? 64 : 8 });
      warm(m, [8, 1, 28, 28]);
      await check(m, [1, 28, 28], `${model}/${norm}`);
    });
  }

  it('every supported layer on its own', async () => {
    nk.manualSeed(2);
    const cases: [nk.nn.Module, number[], number?][] = [
      [new nn.Sequential(new nn.Linear(6, 5), new nn.LeakyReLU(0.2), new nn.Linear(5, 3)), [6]],
      [new nn.Sequential(new nn.Linear(6, 5, { bias: false }), new nn.Sigmoid()), [4, 6]], // MatMul
      [new nn.Sequential(new nn.Tanh(), new nn.GELU(), new nn.Dropout(0.5)), [9]],
      [new nn.MaxPool2d(3, { stride: 2, padding: 1, ceilMode: true }), [2, 9, 8]],
      [new nn.AvgPool2d(3, { stride: 2, padding: 1, countIncludePad: false }), [2, 9, 8]],
      [new nn.AvgPool2d(2, { ceilMode: true }), [2, 7, 7]],
      [new nn.AdaptiveAvgPool2d(2), [3, 8, 6]],
      [new nn.Conv2d(4, 6, 3, { stride: 2, padding: 2, dilation: 2, groups: 2 }), [4, 9, 9]],
      [
        new nn.ConvTranspose2d(4, 6, 3, { stride: 2, padding: 1, outputPadding: 1, groups: 2 }),
        [4, 5, 5],
      ],
      [new nn.Conv1d(3, 4, 3, { stride: 2, padding: 1 }), [3, 11]],
      [
        new nn.Sequential(new nn.Conv1d(3, 4, 1), new nn.InstanceNorm1d(4, { affine: true })),
        [3, 7],
      ],
      [new nn.InstanceNorm2d(3, { trackRunningStats: true }), [3, 5, 5]],
      [new nn.LayerNorm([3, 4, 4], { elementwiseAffine: false }), [3, 4, 4]],
      [new nn.GroupNorm(2, 4), [4, 3, 3]],
      [new nn.RMSNorm(6), [5, 6]],
      [new nn.RMSNorm([2, 3]), [2, 3], 18],
      [new nn.BatchRenorm2d(3), [3, 4, 4]],
      [new nn.BatchNorm1d(5, { affine: false }), [5, 4]],
      [new nn.BasicBlock(3, 6, 2, (c) => new nn.BatchNorm2d(c)), [3, 8, 8]],
    ];
    for (const [m, rest, opset] of cases) {
      warm(m, [6, ...rest]);
      // Affine parameters away from 1 and 0, so a missed one shows.
      for (const p of m.parameters()) p.data.set(p.data.map((v, i) => v + 0.1 * Math.sin(i + 1)));
      await check(m, rest, m.describe(), { opset });
    }
  });

  it('recurrent, attention, Embedding and Upsample layers', async () => {
    nk.manualSeed(5);
    const bf = { batchFirst: true };
    const cases: [nk.nn.Module, number[], ((b: number) => nk.Tensor)?][] = [
      [new nn.LSTM(5, 4, { ...bf, numLayers: 2, bidirectional: true }), [6, 5]],
      [new nn.GRU(5, 3, { ...bf, numLayers: 2 }), [6, 5]],
      [new nn.RNN(5, 3, { ...bf, nonlinearity: 'relu', bidirectional: true }), [6, 5]],
      [new nn.RNN(5, 3, { ...bf, bias: false }), [6, 5]],
      [new nn.MultiheadAttention(8, 2, { batchFirst: true }), [5, 8]],
      [
        new nn.TransformerEncoderLayer(8, 2, { dimFeedforward: 16, batchFirst: true, dropout: 0 }),
        [5, 8],
      ],
      [
        new nn.TransformerEncoder(
          () =>
            new nn.TransformerEncoderLayer(8, 2, {
              dimFeedforward: 12,
              batchFirst: true,
              normFirst: true,
              activation: 'gelu',
            }),
          2,
          new nn.LayerNorm(8),
        ),
        [5, 8],
      ],
      [
        new nn.Embedding(11, 4),
        [6],
        (b) =>
          nk.tensor(
            Array.from({ length: b * 6 }, (_, i) => (i * 7) % 11),
            [b, 6],
          ),
      ],
      [new nn.Upsample({ scaleFactor: 2 }), [2, 3, 4]],
      [new nn.Upsample({ size: [7, 5], mode: 'bilinear' }), [2, 3, 4]],
    ];
    for (const [m, rest, input] of cases) await check(m, rest, m.describe(), { input });
    // Time first (PyTorch's default layout): a fixed shape, the batch in dim 1.
    for (const m of [new nn.LSTM(5, 4), new nn.MultiheadAttention(8, 2)]) {
      const shape = m instanceof nn.LSTM ? [6, 2, 5] : [5, 2, 8];
      const bytes = exportOnnx(m, { inputShape: shape, dynamicBatch: false });
      const session = await ort.InferenceSession.create(bytes);
      const x = nk.randn(shape);
      const r = await session.run({
        input: new ort.Tensor('float32', Float32Array.from(x.data), shape),
      });
      const e = relErr(nk.noGrad(() => m.call(x)).toArray(), r.output.data as Float32Array);
      assert.ok(e <= 1e-5, `${m.describe()} time first: ${e}`);
    }
  });

  it('the file: opset, symbolic batch, initializers by state-dict key; mode restored', () => {
    const m = buildModel({ model: 'cnn', norm: 'batch', width: 8 });
    assert.ok(m.training);
    const bytes = exportOnnx(m, { inputShape: [1, 1, 28, 28] });
    assert.ok(m.training);
    const model = onnxProto.onnx.ModelProto.decode(bytes);
    const graph = model.graph as onnxProto.onnx.GraphProto;
    const inputDim = (gr: onnxProto.onnx.IGraphProto) =>
      gr.input![0].type!.tensorType!.shape!.dim![0];
    assert.equal(Number(model.opsetImport[0].version), 17);
    assert.equal(inputDim(graph).dimParam, 'N');
    const names = graph.initializer.map((t) => t.name);
    for (const k of ['0.weight', '1.running_mean', '1.running_var', '9.weight', '12.bias'])
      assert.ok(names.includes(k), k);
    const ops = graph.node.map((n) => n.opType);
    assert.deepEqual([...new Set(ops)].sort(), [
      'BatchNormalization',
      'Conv',
      'Flatten',
      'Gemm',
      'Identity',
      'MaxPool',
      'Relu',
    ]);
    const fixed = exportOnnx(m, { inputShape: [3, 1, 28, 28], dynamicBatch: false });
    assert.equal(Number(inputDim(onnxProto.onnx.ModelProto.decode(fixed).graph!).dimValue), 3);
  });

  it('what has no ONNX form is an error naming the layer', () => {
    const lstm = new nn.Sequential(new nn.Flatten(), new nn.LSTMCell(4, 3));
    assert.throws(
      () => exportOnnx(lstm, { inputShape: [1, 4] }),
      /exportOnnx: 1 \(LSTMCell\(4, 3\)\): no ONNX form yet \(supported: Sequential/,
    );
    const noStats = new nn.Sequential(
      new nn.Linear(3, 4),
      new nn.BatchNorm1d(4, { trackRunningStats: false }),
    );
    assert.throws(
      () => exportOnnx(noStats, { inputShape: [2, 3] }),
      /exportOnnx: 1 \(BatchNorm1d\(4, trackRunningStats=false\)\): without running statistics/,
    );
    assert.throws(
      () => exportOnnx(new nn.LayerNorm(3), { inputShape: [1, 3], opset: 16 }),
      /LayerNormalization needs opset 17 or later, asked for 16/,
    );
    assert.throws(
      () => exportOnnx(new nn.ReLU(), { inputShape: [1, 3], opset: 12 }),
      /expected opset an integer in \[13, 21\], got 12/,
    );
    assert.throws(
      () => exportOnnx(new nn.ReLU(), { inputShape: [0, 3] }),
      /expected inputShape a list of positive integers, got \[0,3\]/,
    );
    assert.throws(
      () => exportOnnx(new nn.Flatten(2), { inputShape: [1, 2, 3, 4] }),
      /only Flatten\(1, -1\) has an ONNX form/,
    );
  });

  it('normkit export --onnx writes what onnxruntime runs as normkit does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'normkit-onnx-'));
    const ckpt = join(dir, 'c.ckpt'),
      file = join(dir, 'c.onnx');
    const t = trainTiny(ckpt);
    assert.equal(t.status, 0, t.stderr);
    const e = runCli('export', '--checkpoint', ckpt, '--onnx', file);
    assert.equal(e.status, 0, e.stderr);
    assert.match(
      e.stdout,
      /c\.onnx: ONNX \(opset 17, input \[N, 1, 28, 28\]\) of the cnn\/batch model/,
    );
    const run = readRun(ckpt);
    const m = buildModel(run.meta.config);
    restoreRun(run, m, null);
    m.eval();
    const x = nk.rand([2, 1, 28, 28]);
    const session = await ort.InferenceSession.create(new Uint8Array(readFileSync(file)));
    const r = await session.run({
      input: new ort.Tensor('float32', Float32Array.from(x.data), [2, 1, 28, 28]),
    });
    const e2 = relErr(nk.noGrad(() => m.call(x)).toArray(), r.output.data as Float32Array);
    assert.ok(e2 <= 1e-5, String(e2));
    const lstm = join(dir, 'l.ckpt');
    trainTiny(lstm, 'lstm');
    const bad = runCli('export', '--checkpoint', lstm, '--onnx', join(dir, 'l.onnx'));
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /exportOnnx: \(root\) \(LstmClassifier\(8\)\): no ONNX form yet/);
  });
});
