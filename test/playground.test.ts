// The playground's runtime-neutral part, in Node: its configs (checked, with errors that name
// the field), its networks (layer order, init gain), the probes (histograms in closed form,
// batch statistics against BatchNorm's own, gradient norms, no hooks left behind) and a run
// (deterministic, unchanged by probing, eval vs "forgot eval()", divergence, memory freed);
// and the server of `normkit playground` (headers, the built files, nothing outside them).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { fileURLToPath } from 'node:url';
import * as nk from '../src/index.js';
import {
  DEFAULT_CONFIG,
  MODELS,
  NORMS,
  NoNorm,
  PRESETS,
  PlaygroundRun,
  Probes,
  buildPlaygroundModel,
  channelStats,
  histogram,
  runConfig,
} from '../src/playground/index.js';
import type { Split } from '../src/data/fashion-mnist.js';
import { assertClose } from './helpers.js';

const { nn } = nk;
const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** A small random "dataset" in the Split format (normalized-looking images, labels 0-9). */
function split(count: number, seed: number): Split {
  const g = new nk.Generator(seed);
  const images = Float32Array.from({ length: count * 784 }, () => g.normal());
  const labels = Uint8Array.from({ length: count }, () => g.int(10));
  return { images, labels, count };
}
const data = { train: split(256, 1), test: split(64, 2) };

function kinds(m: nk.nn.Module): string[] {
  return (m as nk.nn.Sequential).layers.map((l) => l.constructor.name);
}

describe('playground config', () => {
  it('fills defaults and rejects bad fields with the field, what was expected and what came', () => {
    assert.deepEqual(runConfig({}), DEFAULT_CONFIG);
    assert.throws(
      () => runConfig({ norm: 'batchnorm' as never }),
      /RunConfig\.norm: expected one of none \| batch .* got batchnorm/,
    );
    assert.throws(
      () => runConfig({ model: 'cnn', depth: 1 }),
      /RunConfig\.depth: expected an integer from 2 to 8, got 1/,
    );
    assert.throws(() => runConfig({ depth: 2.5 }), /RunConfig\.depth: expected an integer/);
    assert.throws(
      () => runConfig({ lr: 0 }),
      /RunConfig\.lr: expected a number from 0\.0001 to 2, got 0/,
    );
    assert.throws(
      () => runConfig({ batchSize: 3 }),
      /RunConfig\.batchSize: expected one of 2 \| 4/,
    );
    assert.throws(() => runConfig({ lr: NaN }), /RunConfig\.lr/);
    assert.throws(() => runConfig({ momentum: 0.9 } as never), /RunConfig: unknown field momentum/);
  });

  it('every preset is a valid pair of configs and names an experiment of the lab', () => {
    const lab = readFileSync(new URL('../../docs/lab/README.md', import.meta.url), 'utf8');
    for (const p of PRESETS) {
      runConfig({ ...DEFAULT_CONFIG, ...p.a });
      runConfig({ ...DEFAULT_CONFIG, ...p.b });
      assert.match(lab, new RegExp(`^### ${p.lab}$`, 'm'), `${p.name}: lab experiment ${p.lab}`);
    }
  });
});

describe('playground models', () => {
  it('every model and norm maps [N, 1, 28, 28] to [N, 10]', () => {
    for (const model of MODELS)
      for (const norm of NORMS) {
        const m = buildPlaygroundModel(runConfig({ model, norm, depth: model === 'cnn' ? 3 : 2 }));
        const y = nk.tidy(() => m.call(nk.randn([3, 1, 28, 28])).shape);
        assert.deepEqual(y, [3, 10], `${model} ${norm}`);
      }
  });

  it('puts the norm and the dropout where the config says', () => {
    const mlp = (o: object) =>
      kinds(buildPlaygroundModel(runConfig({ model: 'mlp', depth: 1, ...o })));
    assert.deepEqual(mlp({}), ['Flatten', 'Linear', 'BatchNorm1d', 'ReLU', 'Linear']);
    assert.deepEqual(mlp({ normPosition: 'after-relu' }), [
      'Flatten',
      'Linear',
      'ReLU',
      'BatchNorm1d',
      'Linear',
    ]);
    assert.deepEqual(mlp({ dropout: 0.2 }), [
      'Flatten',
      'Linear',
      'BatchNorm1d',
      'ReLU',
      'Dropout',
      'Linear',
    ]);
    assert.deepEqual(mlp({ dropout: 0.2, dropoutPosition: 'before-norm' }), [
      'Flatten',
      'Linear',
      'Dropout',
      'BatchNorm1d',
      'ReLU',
      'Linear',
    ]);
    assert.deepEqual(
      mlp({ norm: 'instance' }),
      ['Flatten', 'Linear', 'NoNorm', 'ReLU', 'Linear'],
      'no instance norm over [N, C]',
    );
    assert.deepEqual(mlp({ norm: 'renorm' }).slice(0, 3), ['Flatten', 'Linear', 'BatchRenorm1d']);
    const cnn = kinds(
      buildPlaygroundModel(runConfig({ model: 'cnn', depth: 3, norm: 'layer', dropout: 0.1 })),
    );
    assert.deepEqual(cnn.filter((k) => k === 'Dropout2d').length, 3);
    assert.deepEqual(cnn.filter((k) => k === 'MaxPool2d').length, 2);
    assert.ok(cnn.includes('GroupNorm'), 'LayerNorm over (C, H, W) is GroupNorm(1, C)');
  });

  it('scales He initialization by the gain (sd of a 784 x 128 weight within 3 %)', () => {
    for (const gain of [0.5, 2]) {
      const m = buildPlaygroundModel(
        runConfig({ model: 'mlp', depth: 2, initGain: gain }),
      ) as nk.nn.Sequential;
      const w = (m.layers[1] as nk.nn.Linear).weight.data;
      const sd = Math.sqrt(Array.from(w).reduce((s, v) => s + v * v, 0) / w.length);
      const expected = gain * Math.sqrt(2 / 784);
      assert.ok(Math.abs(sd / expected - 1) < 0.03, `gain ${gain}: sd ${sd}, expected ${expected}`);
      assert.ok((m.layers[1] as nk.nn.Linear).bias!.data.every((v) => v === 0));
    }
  });
});

describe('playground probes', () => {
  it('histogram: counts, mean and sd in closed form', () => {
    const h = histogram([0, 1, 2, 3, 3], 3);
    assert.deepEqual([h.lo, h.hi, h.counts], [0, 3, [1, 1, 3]]);
    assert.equal(h.mean, 1.8);
    assertClose([h.std], [Math.sqrt((1.8 ** 2 + 0.8 ** 2 + 0.2 ** 2 + 2 * 1.2 ** 2) / 5)]);
    assert.deepEqual(
      histogram([5, 5], 4).counts,
      [2, 0, 0, 0],
      'a constant lands in the first bin',
    );
  });

  it('channelStats equals what BatchNorm2d(momentum 1) stores as its running statistics', () => {
    const bn = new nn.BatchNorm2d(3, { momentum: 1 });
    const x = nk.keep(nk.add(nk.mul(nk.randn([4, 3, 5, 7]), nk.scalar(3)), nk.scalar(10)));
    nk.tidy(() => bn.call(x));
    const s = channelStats(x);
    assertClose(s.mean, bn.runningMean!.data, { rtol: 1e-5, what: 'mean' });
    assertClose(s.variance, bn.runningVar!.data, { rtol: 1e-4, what: 'unbiased variance' });
    x.dispose();
  });

  it('sees every norm slot, ReLU and weight layer, reports true gradient norms, and leaves no hooks', () => {
    const cfg = runConfig({ model: 'mlp', depth: 3, norm: 'batch' });
    const run = new PlaygroundRun(cfg, data);
    const { snapshot } = run.step({ watch: 1 });
    assert.ok(snapshot);
    assert.equal(snapshot.norms.length, 3);
    assert.equal(snapshot.relu.length, 3);
    assert.deepEqual(snapshot.bnLayers, ['2 BatchNorm1d', '5 BatchNorm1d', '8 BatchNorm1d']);
    assert.equal(snapshot.bn!.name, '5 BatchNorm1d');
    const watched = (run.model as nk.nn.Sequential).layers[5] as nk.nn.BatchNorm1d;
    assert.deepEqual(snapshot.bn!.runningMean, Array.from(watched.runningMean!.data));
    for (const p of snapshot.norms) {
      assert.equal(
        p.before.counts.reduce((a, b) => a + b),
        64 * 128,
        `${p.name}: one count per value`,
      );
      assert.ok(
        Math.abs(p.after.mean) < 1e-3 && Math.abs(p.after.std - 1) < 1e-2,
        `${p.name}: BN output standardized`,
      );
    }
    for (const r of snapshot.relu)
      assert.ok(r.value > 0.2 && r.value < 0.8, `${r.name}: ${r.value}`);
    const layers = run.probes.weightLayers;
    assert.equal(snapshot.gradNorms.length, 4);
    layers.forEach(([, m], i) => {
      const g = m.weight.grad!.data;
      assertClose([snapshot.gradNorms[i].value], [Math.hypot(...g)], { rtol: 1e-6 });
    });
    for (const [, m] of run.model.namedModules()) assert.equal(m.hasHooks, false);
    run.dispose();
  });

  it('a network without norm shows its norm slots as "no norm" and has no BatchNorm to watch', () => {
    const probes = new Probes(buildPlaygroundModel(runConfig({ model: 'cnn', norm: 'none' })));
    assert.equal(probes.normSlots.length, 2);
    assert.ok(probes.normSlots.every(([n, m]) => m instanceof NoNorm && n.endsWith('no norm')));
    const run = new PlaygroundRun({ model: 'cnn', norm: 'none' }, data);
    assert.equal(run.step({ watch: 0 }).snapshot!.bn, null);
    run.dispose();
  });
});

describe('playground run', () => {
  it('is deterministic for a seed, and probing a step does not change training', () => {
    const losses = (probe: boolean) => {
      const run = new PlaygroundRun({ norm: 'batch', batchSize: 16 }, data);
      const out = Array.from(
        { length: 6 },
        () => run.step(probe ? { watch: 0 } : undefined).record.loss,
      );
      run.dispose();
      return out;
    };
    const plain = losses(false);
    assert.deepEqual(losses(false), plain);
    // Hooked layers run unfused (BatchNorm and ReLU apart): the same maths, float32 rounding apart.
    assertClose(losses(true), plain, { rtol: 1e-4, what: 'losses with probes' });
  });

  it('starts a new epoch after the last full batch', () => {
    const run = new PlaygroundRun({ model: 'mlp', batchSize: 128 }, data);
    run.step();
    run.step();
    assert.equal(run.epoch, 0);
    assert.equal(run.step().record.epoch, 1);
    run.dispose();
  });

  it('evaluates in eval mode (running statistics untouched) or, having "forgot eval()", in training mode', () => {
    const run = new PlaygroundRun({ model: 'mlp', norm: 'batch', batchSize: 8 }, data);
    for (let i = 0; i < 3; i++) run.step();
    const bn = (run.model as nk.nn.Sequential).layers[2] as nk.nn.BatchNorm1d;
    const before = Array.from(bn.runningMean!.data);
    const good = run.evaluate(false, 5);
    assert.deepEqual(Array.from(bn.runningMean!.data), before);
    assert.equal(good.trainMode, false);
    assert.equal(good.predictions.length, 5);
    const was = nk.nn.setBatchNormEvalGuard(false);
    const bad = run.evaluate(true);
    nk.nn.setBatchNormEvalGuard(was);
    assert.equal(bad.trainMode, true);
    assert.notDeepEqual(
      Array.from(bn.runningMean!.data),
      before,
      'training mode moved the running mean',
    );
    assert.ok(run.model.training, 'back in training mode');
    run.dispose();
  });

  it('stops at a non-finite loss and says so', () => {
    const run = new PlaygroundRun({ model: 'mlp', norm: 'none' }, data);
    ((run.model as nk.nn.Sequential).layers[1] as nk.nn.Linear).weight.data[0] = NaN;
    assert.ok(Number.isNaN(run.step().record.loss));
    assert.equal(run.divergedAt, 1);
    assert.throws(() => run.step(), /PlaygroundRun\.step: the run diverged at step 1/);
    run.dispose();
  });

  it('frees its tensors on dispose (memory back where it was)', () => {
    const use = () => {
      const run = new PlaygroundRun({ model: 'cnn', optimizer: 'adam' }, data);
      run.step({ watch: 0 });
      run.step();
      run.evaluate();
      run.dispose();
    };
    use(); // the kernels' scratch areas (grow-only, kept for the process) reach their size
    const before = nk.memoryStats().bytesInUse;
    use();
    assert.equal(nk.memoryStats().bytesInUse, before);
  });
});

describe('normkit playground (the server)', () => {
  /** Starts the CLI, reads the URL it prints, and hands it to fn; stops it after. */
  async function withServer(args: string[], fn: (url: string) => Promise<void>) {
    const child = spawn(process.execPath, [MAIN, 'playground', '--port', '0', ...args]);
    try {
      const url = await new Promise<string>((ok, fail) => {
        let out = '';
        child.stdout.on('data', (b) => {
          out += b;
          const m = /normkit playground: (http:\S+)/.exec(out);
          if (m) ok(m[1]);
        });
        child.on('exit', (code) => fail(new Error(`exited with ${code}: ${out}`)));
      });
      await fn(url);
    } finally {
      child.kill();
    }
  }

  it('serves the built page, worker, library and data cross-origin isolated, and nothing outside', async () => {
    await withServer([], async (url) => {
      for (const path of [
        '',
        'app.js',
        'worker.js',
        'normkit/src/index.js',
        'normkit/wasm/normkit.wasm',
        'data/t10k-labels-idx1-ubyte.gz',
      ]) {
        const res = await fetch(url + path);
        assert.equal(res.status, 200, path);
        assert.equal(res.headers.get('cross-origin-opener-policy'), 'same-origin', path);
        assert.equal(res.headers.get('cross-origin-embedder-policy'), 'require-corp', path);
      }
      assert.equal((await fetch(url + 'normkit.wasm')).status, 404);
      // An encoded slash survives URL parsing; decoded it would climb out of the site.
      const { hostname, port } = new URL(url);
      const status = await new Promise((ok) =>
        get({ hostname, port, path: '/..%2f..%2fpackage.json' }, (res) => ok(res.statusCode)),
      );
      assert.equal(status, 403);
    });
    await withServer(['--no-isolation'], async (url) => {
      const res = await fetch(url);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('cross-origin-opener-policy'), null);
    });
  });

  it('says so when the port is taken', async () => {
    await withServer([], async (url) => {
      const port = new URL(url).port;
      const r = spawnSync(process.execPath, [MAIN, 'playground', '--port', port], {
        encoding: 'utf8',
      });
      assert.equal(r.status, 1);
      assert.match(
        r.stderr,
        new RegExp(`normkit: port ${port} on 127.0.0.1 is in use; pass another --port`),
      );
    });
  });
});
