// Spectral normalization against torch.nn.utils.spectral_norm (fixtures from
// gen_spectral_norm.py): outputs, gradients and u, v over training and eval steps.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { assertClose, fixture, gradcheck, rand64 } from './helpers.js';

const { nn } = nk;

function build(name: string): nk.nn.Module {
  if (name === 'conv2d') return new nn.Conv2d(2, 3, 3, { padding: 1 });
  return new nn.Linear(5, 4);
}

describe('spectralNorm', () => {
  for (const rec of fixture('spectral_norm.json')) {
    it(`matches PyTorch: ${rec.name}`, () => {
      const layer = build(rec.name);
      nn.spectralNorm(layer, {
        nPowerIterations: rec.options.n_power_iterations,
        dim: rec.options.dim,
      });
      const sd = layer.stateDict();
      assert.deepEqual(Object.keys(sd).sort(), Object.keys(rec.state).sort());
      layer.loadStateDict(
        Object.fromEntries(
          Object.entries(rec.state as Record<string, { shape: number[]; data: number[] }>).map(
            ([k, v]) => [k, nk.tensor(v.data, v.shape)],
          ),
        ),
      );
      const orig = sd.weight_orig,
        bias = sd.bias;
      for (const [i, step] of rec.steps.entries()) {
        layer.train(step.training);
        const shape = rec.name === 'conv2d' ? [2, 2, 5, 5] : [6, 5];
        const x = nk.tensor(step.x, shape, { requiresGrad: true });
        const y = layer.call(x);
        y.mul(nk.tensor(step.w, y.shape)).sum().backward();
        const what = `${rec.name} step ${i}`;
        assertClose(y.toArray(), step.y, { rtol: 1e-4, atol: 1e-5, what: `${what} y` });
        assertClose(x.grad!.toArray(), step.dx, { rtol: 1e-4, atol: 1e-5, what: `${what} dx` });
        assertClose(orig.grad!.toArray(), step.dweight_orig, {
          rtol: 1e-4,
          atol: 1e-5,
          what: `${what} dweight_orig`,
        });
        assertClose(bias.grad!.toArray(), step.dbias, {
          rtol: 1e-4,
          atol: 1e-5,
          what: `${what} dbias`,
        });
        assertClose(sd.weight_u.toArray(), step.u, { rtol: 1e-4, atol: 1e-6, what: `${what} u` });
        assertClose(sd.weight_v.toArray(), step.v, { rtol: 1e-4, atol: 1e-6, what: `${what} v` });
        orig.grad = null;
        bias.grad = null;
      }
    });
  }

  it('float64 gradcheck through σ (u, v fixed in eval mode)', () => {
    nk.manualSeed(9);
    const lin = nn.spectralNorm(new nn.Linear(4, 3));
    lin.eval();
    const orig = lin.stateDict().weight_orig;
    const w64 = rand64([3, 4]);
    const u64 = nk.tensor(lin.stateDict().weight_u.toArray(), [3], { dtype: 'float64' });
    const v64 = nk.tensor(lin.stateDict().weight_v.toArray(), [4], { dtype: 'float64' });
    // The same computation as the layer's, on float64 inputs, checked by finite differences.
    gradcheck(
      (w, x) => {
        const sigma = nk.sum(nk.mul(u64, nk.reshape(nk.matmul(w, nk.reshape(v64, [4, 1])), [3])));
        return nk.matmul(x, nk.transpose(nk.div(w, sigma), 0, 1));
      },
      [w64, rand64([5, 4])],
    );
    assert.equal(orig.rank, 2);
  });

  it('removeSpectralNorm leaves a plain weight equal to weight_orig / σ; bad input is refused', () => {
    nk.manualSeed(10);
    const lin = nn.spectralNorm(new nn.Linear(6, 4), { nPowerIterations: 50 });
    lin.train();
    nk.noGrad(() => lin.call(nk.randn([2, 6]))); // 50 iterations: u, v near the top singular pair
    const before = lin.weight.toArray();
    nn.removeSpectralNorm(lin);
    assert.deepEqual(Object.keys(lin.stateDict()).sort(), ['bias', 'weight']);
    assertClose(lin.weight.toArray(), before, { rtol: 1e-6, atol: 1e-7 });
    const b = nk.lipschitzBound(lin.eval(), { inputShape: [6] }).bound;
    assert.ok(Math.abs(b - 1) < 1e-3, `σ of the normalized weight: ${b}`);
    assert.throws(
      () => nn.removeSpectralNorm(lin),
      /removeSpectralNorm\(Linear\(6, 4\)\): 'weight' is not spectral-normalized/,
    );
    assert.throws(
      () => nn.spectralNorm(new nn.ReLU()),
      /spectralNorm\(ReLU\): the module has no parameter 'weight'/,
    );
    const twice = nn.spectralNorm(new nn.Linear(2, 2));
    assert.throws(() => nn.spectralNorm(twice), /'weight' is spectral-normalized already/);
    assert.throws(
      () => nn.spectralNorm(new nn.Linear(2, 2), { dim: 2 }),
      /expected dim in \[0, 1\] for weight \[2, 2\], got 2/,
    );
  });
});
