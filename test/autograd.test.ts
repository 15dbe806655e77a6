import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { assertClose } from './helpers.js';

describe('autograd', () => {
  it('accumulates gradients across backward calls and through shared inputs', () => {
    const x = nk.tensor([1, 2, 3], [3], { requiresGrad: true });
    const y = x.mul(x).add(x).sum(); // d/dx = 2x + 1
    y.backward();
    assertClose(x.grad!.data, [3, 5, 7]);
    x.mul(2).sum().backward();
    assertClose(x.grad!.data, [5, 7, 9]);
  });

  it('noGrad records nothing and detach cuts the graph', () => {
    const x = nk.tensor([1, 2], [2], { requiresGrad: true });
    const y = nk.noGrad(() => x.mul(3));
    assert.equal(y.requiresGrad, false);
    assert.equal(y.gradFn, null);
    const d = x.mul(3).detach();
    assert.equal(d.requiresGrad, false);
    assert.throws(() => d.sum().backward(), /does not require grad/);
  });

  it('backward needs a one-element output or an explicit gradient of the right shape', () => {
    const x = nk.tensor([1, 2], [2], { requiresGrad: true });
    assert.throws(() => x.mul(2).backward(), /only for one-element outputs, got \[2\]/);
    assert.throws(
      () => x.mul(2).backward(nk.ones([3])),
      /grad of shape \[3\] does not match output \[2\]/,
    );
    x.mul(2).backward(nk.tensor([1, 10]));
    assertClose(x.grad!.data, [2, 20]);
  });

  it('the registry refuses a differentiable kernel without a gradient', () => {
    nk.kernels.registerKernel({ name: 'TestNoGrad', backend: 'js', fn: ([x]) => x.clone() });
    const x = nk.tensor([1], [1], { requiresGrad: true });
    assert.throws(
      () => nk.runKernel('TestNoGrad', [x]),
      /TestNoGrad: kernel has no registered gradient; refusing to cut autograd/,
    );
    // Without grad recording the same kernel runs.
    assertClose(nk.noGrad(() => nk.runKernel('TestNoGrad', [x])).data, [1]);
    assert.ok(nk.kernels.kernelsWithoutGradient().includes('TestNoGrad'));
  });

  it('every registered differentiable kernel has a gradient', () => {
    const missing = nk.kernels.kernelsWithoutGradient().filter((n) => n !== 'TestNoGrad');
    assert.deepEqual(missing, []);
  });

  it('deep chains do not overflow the stack', () => {
    const x = nk.tensor([1], [1], { requiresGrad: true });
    let y = x;
    for (let i = 0; i < 20000; i++) y = y.mul(1);
    y.sum().backward();
    assertClose(x.grad!.data, [1]);
  });

  it('backward() on a graph that tidy() freed throws and says how to write it', () => {
    nk.manualSeed(1);
    const model = new nk.nn.Sequential(new nk.nn.Linear(4, 3), new nk.nn.BatchNorm1d(3));
    const x = nk.randn([5, 4]);
    const l = nk.tidy(() => model.call(x).sum());
    assert.throws(
      () => l.backward(),
      /backward: the graph was freed: .* was disposed, by tidy\(\) or dispose\(\), before backward\(\) ran; run backward\(\) inside the tidy\(\) that ran the forward pass/,
    );
    for (const p of model.parameters()) assert.equal(p.grad, null);
    // The other shape of the same mistake (a loss whose op reads a freed input).
    const w = nk.randn([3], { requiresGrad: true });
    const m = nk.tidy(() => w.mul(2).div(w.add(3)).sum());
    assert.throws(() => m.backward(), /the graph was freed/);
    assert.equal(w.grad, null);
  });

  it('a second backward() through the same graph throws unless the first retained it', () => {
    const x = nk.tensor([1, 2, 3], [3], { requiresGrad: true });
    const y = x.mul(x).sum();
    y.backward();
    assert.deepEqual(Array.from(x.grad!.data), [2, 4, 6]);
    assert.throws(
      () => y.backward(),
      /backward: trying to backward through the graph a second time \(Sum was already used by a backward\(\)\); pass \{ retainGraph: true \}/,
    );
    assert.deepEqual(Array.from(x.grad!.data), [2, 4, 6]); // unchanged by the refused call
    const z = x.mul(3).sum();
    z.backward(undefined, { retainGraph: true });
    z.backward(undefined, { retainGraph: true });
    z.backward();
    assert.deepEqual(Array.from(x.grad!.data), [11, 13, 15]);
    assert.throws(() => z.backward(), /a second time/);
  });
});
