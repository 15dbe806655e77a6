// importOnnx: ONNX's own backend test data (Debian's libonnx-testdata; skipped, and saying so,
// when it is not installed), models exported by PyTorch 1.13 (gen_onnx.py) with BatchNorm
// kept (imported as BatchNorm layers, trainable and foldable) and folded, normkit's own
// exports imported back, and malformed input refused.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';
import * as nk from '../src/index.js';
import { exportOnnx, importOnnx } from '../src/onnx/index.js';
import { tensorFromProto } from '../src/onnx/import.js';
import { buildModel } from '../src/train/models.js';
import { assertClose, fixture } from './helpers.js';

const TESTDATA = '/usr/share/libonnx-testdata/data';
const FIXTURES = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));

/** The ops and attributes normkit does not run are reported as such; anything else is a bug. */
const unsupported = (e: unknown) =>
  /not supported|is not one normkit holds/.test((e as Error).message);

/** Runs one backend test directory: 'pass', 'unsupported: why', or throws on a wrong output. */
function runBackendTest(dir: string): string {
  const read = (f: string) =>
    tensorFromProto(onnxProto.onnx.TensorProto.decode(readFileSync(f)), f);
  let model;
  try {
    model = importOnnx(new Uint8Array(readFileSync(join(dir, 'model.onnx'))));
  } catch (e) {
    if (unsupported(e)) return `unsupported: ${(e as Error).message}`;
    throw e;
  }
  model.eval();
  for (const set of readdirSync(dir).filter((f) => f.startsWith('test_data_set'))) {
    const files = (kind: string) =>
      readdirSync(join(dir, set))
        .filter((f) => f.startsWith(kind))
        .sort((a, b) => parseInt(a.split('_')[1]) - parseInt(b.split('_')[1]))
        .map((f) => join(dir, set, f));
    let inputs, wants;
    try {
      inputs = files('input_').map(read);
      wants = files('output_').map(read);
    } catch (e) {
      if (unsupported(e)) return `unsupported: ${(e as Error).message}`;
      throw e;
    }
    let got;
    try {
      got = model.run(inputs);
    } catch (e) {
      if (unsupported(e)) return `unsupported: ${(e as Error).message}`;
      throw e;
    }
    wants.forEach((w, i) => {
      const g = got[model.outputNames[i]];
      assert.deepEqual(g.shape, w.shape, `${dir} output ${i} shape`);
      // ONNX's backend test runner's tolerances.
      assertClose(g.data, w.data, { rtol: 1e-3, atol: 1e-7, what: `${dir} ${set} output ${i}` });
    });
  }
  return 'pass';
}

/** Tests named in issue 15 that normkit does not run, each with the reason. */
const KNOWN_UNSUPPORTED: Record<string, string> = {
  test_add_uint8: 'uint8 tensors (normkit holds float32 and float64)',
  test_mul_uint8: 'uint8 tensors',
  test_maxpool_2d_uint8: 'uint8 tensors',
  test_convinteger_with_padding: 'the quantized ConvInteger op',
  test_convinteger_without_padding: 'the quantized ConvInteger op',
  test_matmulinteger: 'the quantized MatMulInteger op',
  test_convtranspose_3d: '3-D transposed convolution',
};
const REQUIRED =
  /^test_(batchnorm|instancenorm|layer_normalization|conv|convtranspose|maxpool_2d|averagepool_2d|globalaveragepool|gemm|matmul|relu|leakyrelu|sigmoid|tanh|softmax|flatten|add|mul|reshape|transpose|BatchNorm|Conv2d|Linear|MaxPool2d|AvgPool2d|ReLU)/;

describe('importOnnx', () => {
  const have = existsSync(TESTDATA);
  it(
    have
      ? "ONNX's backend test data: every test whose ops normkit runs passes"
      : 'skipped: libonnx-testdata not installed (apt-get install -y libonnx-testdata)',
    { skip: !have && 'libonnx-testdata not installed' },
    () => {
      const counts: Record<string, [number, number]> = {};
      const missing: string[] = [];
      for (const group of ['node', 'pytorch-converted', 'pytorch-operator', 'simple']) {
        let pass = 0,
          total = 0;
        for (const name of readdirSync(join(TESTDATA, group)).sort()) {
          const dir = join(TESTDATA, group, name);
          if (!existsSync(join(dir, 'model.onnx'))) continue;
          total++;
          const r = runBackendTest(dir);
          if (r === 'pass') pass++;
          else if (
            REQUIRED.test(name) &&
            !(name in KNOWN_UNSUPPORTED) &&
            !name.endsWith('_expanded')
          )
            missing.push(`${name}: ${r}`);
        }
        counts[group] = [pass, total];
      }
      console.log(
        `libonnx-testdata: ${Object.entries(counts)
          .map(([g, [p, t]]) => `${g} ${p} of ${t} pass`)
          .join(', ')}; the rest use ops or types normkit does not run`,
      );
      assert.deepEqual(missing, []);
      assert.ok(
        counts.node[0] >= 210 && counts['pytorch-converted'][0] >= 50,
        JSON.stringify(counts),
      );
    },
  );

  for (const rec of fixture('onnx.json').records) {
    it(`${rec.file} (torch.onnx.export) gives PyTorch's outputs at batch 3 and 1`, () => {
      const m = importOnnx(new Uint8Array(readFileSync(join(FIXTURES, rec.file)))).eval();
      const x = nk.tensor(rec.x, rec.xShape);
      assertClose(m.call(x).toArray(), rec.output, { rtol: 1e-4, atol: 1e-5, what: rec.file });
      const one = nk.slice(x, 0, 0, 1);
      assertClose(m.call(one).toArray(), rec.output.slice(0, 10), { rtol: 1e-4, atol: 1e-5 });
      if (rec.file !== 'torch-cnn-folded.onnx') {
        // BatchNormalization nodes are BatchNorm layers under PyTorch's names.
        const sd = m.stateDict();
        for (const k of rec.stateDictKeys as string[])
          if (/\.(running_mean|running_var|num_batches_tracked)$/.test(k)) assert.ok(k in sd, k);
      }
    });
  }

  it('an imported model trains, recalibrates and folds like a built one', () => {
    const rec = fixture('onnx.json').records[0];
    const m = importOnnx(new Uint8Array(readFileSync(join(FIXTURES, rec.file))));
    const x = nk.tensor(rec.x, rec.xShape);
    const { model: folded, report } = nk.foldBatchNorm(m, { batch: x });
    assert.deepEqual(
      report.folded.map((f) => f.norm.split(' ')[0]),
      ['1', '5'],
      JSON.stringify(report),
    );
    assert.ok(report.maxAbsDiff! < 1e-4, String(report.maxAbsDiff));
    assert.equal(
      folded.namedModules().filter(([, l]) => l instanceof nk.nn.BatchNormBase).length,
      1,
    );
    const bn = m.namedModules().find(([n]) => n === '1')![1] as nk.nn.BatchNormBase;
    const before = Array.from(bn.runningMean!.data);
    const opt = new nk.optim.SGD(m.parameters(), { lr: 0.1 });
    m.train();
    nk.tidy(() => {
      const loss = nk.crossEntropy(
        m.call(nk.rand([8, 1, 28, 28])),
        Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7]),
      );
      opt.zeroGrad();
      loss.backward();
      opt.step();
    });
    assert.notDeepEqual(Array.from(bn.runningMean!.data), before);
    assert.equal(bn.numBatchesTracked, 1);
  });

  it("normkit's exports import back: same outputs, and for Conv/BN/Linear models the same state dict", () => {
    for (const [model, norm] of [
      ['cnn', 'batch'],
      ['resnet', 'batch'],
      ['cnn', 'group'],
      ['mlp', 'layer'],
    ] as const) {
      nk.manualSeed(3);
      const m = buildModel({ model, norm, width: 8 }).eval();
      const back = importOnnx(exportOnnx(m, { inputShape: [1, 1, 28, 28] })).eval();
      const x = nk.rand([4, 1, 28, 28]);
      assertClose(back.call(x).toArray(), m.call(x).toArray(), {
        rtol: 1e-5,
        atol: 1e-5,
        what: model,
      });
      if (norm === 'batch' && model === 'cnn') back.loadStateDict(m.stateDict()); // strict
    }
  });

  it('malformed bytes and unsupported ops are errors, never a hang', () => {
    assert.throws(
      () => importOnnx(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f])),
      /importOnnx: not an ONNX model/,
    );
    assert.throws(() => importOnnx(new Uint8Array(0)), /importOnnx: not an ONNX model/);
    const good = exportOnnx(new nk.nn.Sequential(new nk.nn.Linear(3, 2), new nk.nn.ReLU()), {
      inputShape: [1, 3],
    });
    for (const cut of [5, 40, good.length - 3])
      assert.throws(() => importOnnx(good.subarray(0, cut)), /importOnnx/);
    assert.throws(
      () => importOnnx('x' as unknown as Uint8Array),
      /expected a Uint8Array, got string/,
    );
    const { onnx } = onnxProto;
    const bad = onnx.ModelProto.encode({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        node: [{ opType: 'Celu', input: ['x'], output: ['y'], name: 'act' }],
        input: [{ name: 'x' }],
        output: [{ name: 'y' }],
      },
    }).finish();
    assert.throws(
      () => importOnnx(bad),
      /importOnnx: node act \(Celu\): op Celu is not supported \(supported: Abs, Add, /,
    );
    const order = onnx.ModelProto.encode({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        node: [{ opType: 'Relu', input: ['z'], output: ['y'], name: 'r' }],
        input: [{ name: 'x' }],
        output: [{ name: 'y' }],
      },
    }).finish();
    assert.throws(
      () => importOnnx(order),
      /node r \(Relu\): input z is not defined by an earlier node/,
    );
  });
});
