// Hooks as in PyTorch: module forward pre-hooks, forward hooks and full backward hooks, and
// gradient hooks on tensors, each removable through its handle.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { assertClose } from './helpers.js';

const { nn } = nk;

describe('hooks', () => {
  it('forward pre-hooks and forward hooks see and may replace inputs and output', () => {
    nk.manualSeed(1);
    const lin = new nn.Linear(3, 2);
    const x = nk.randn([4, 3]);
    const seen: string[] = [];
    const h1 = lin.registerForwardPreHook((m, inputs) => {
      seen.push(`pre ${m.describe()} ${(inputs[0] as nk.Tensor).shape}`);
      return (inputs[0] as nk.Tensor).mul(2);
    });
    const h2 = lin.registerForwardHook((_m, inputs, out) => {
      seen.push(`fwd ${(inputs[0] as nk.Tensor).data[0] === x.data[0] * 2} ${out.shape}`);
      return out.add(1);
    });
    const y = lin.call(x);
    assert.deepEqual(seen, ['pre Linear(3, 2) 4,3', 'fwd true 4,2']);
    const expected = nk.linear(x.mul(2), lin.weight, lin.bias).add(1);
    assertClose(y.toArray(), expected.toArray());
    h1.remove();
    h2.remove();
    h2.remove(); // removing twice is harmless
    assertClose(lin.call(x).toArray(), nk.linear(x, lin.weight, lin.bias).toArray());
    assert.equal(seen.length, 2);
  });

  it('a hooked layer in a Sequential runs unfused, so its hooks see its own output', () => {
    nk.manualSeed(2);
    const bn = new nn.BatchNorm1d(3);
    const model = new nn.Sequential(bn, new nn.ReLU());
    const x = nk.randn([8, 3]);
    const outs: number[][] = [];
    const h = bn.registerForwardHook((_m, _i, out) => void outs.push(Array.from(out.data)));
    const y = model.call(x).toArray();
    assert.equal(outs.length, 1);
    assert.ok(
      outs[0].some((v) => v < 0),
      'BN output before ReLU',
    );
    assertClose(
      y,
      outs[0].map((v) => Math.max(0, v)),
    );
    h.remove();
    assertClose(model.call(x).toArray(), y, { rtol: 1e-6, atol: 1e-6 }); // fused again, same values
  });

  it('full backward hooks get the gradients through the module, its input and its output', () => {
    nk.manualSeed(3);
    const lin = new nn.Linear(3, 2, { bias: false });
    const x = nk.randn([4, 3], { requiresGrad: true });
    let gin: number[] = [],
      gout: number[] = [],
      calls = 0;
    const h = lin.registerFullBackwardHook((_m, gradInput, gradOutput) => {
      calls++;
      gin = gradInput[0] === null ? [] : Array.from(gradInput[0].data);
      gout = Array.from(gradOutput[0].data);
    });
    // x also feeds the loss directly: the hook's input gradient is the part through lin only.
    const w = nk.tensor([1, -2, 3, 0.5, 2, -1, 1, 1], [4, 2]);
    lin.call(x).mul(w).sum().add(x.sum()).backward();
    assert.equal(calls, 1);
    assert.deepEqual(gout, Array.from(w.data));
    const throughLin = nk.matmul(w, lin.weight).toArray();
    assertClose(gin, throughLin);
    assertClose(
      x.grad!.toArray(),
      Array.from(throughLin, (v) => v + 1),
    );
    // An input that needs no gradient gives null; calls under noGrad() are not watched.
    const c = nk.randn([4, 3]);
    lin.call(c).sum().backward();
    assert.equal(calls, 2);
    assert.deepEqual(gin, []);
    assert.deepEqual(gout, [1, 1, 1, 1, 1, 1, 1, 1]);
    nk.noGrad(() => lin.call(x));
    h.remove();
    lin.call(x).sum().backward();
    assert.equal(calls, 2);
  });

  it('tensor gradient hooks see the gradient and may replace it; handles remove them', () => {
    const x = nk.tensor([1, 2, 3], [3], { requiresGrad: true });
    const mid = x.mul(x);
    const seen: number[][] = [];
    const h = mid.registerHook((g) => {
      seen.push(Array.from(g.data));
      return g.mul(10);
    });
    x.registerHook((g) => void seen.push(Array.from(g.data)));
    mid
      .mul(nk.tensor([1, 2, 3]))
      .sum()
      .backward();
    assert.deepEqual(seen, [
      [1, 2, 3],
      [20, 80, 180],
    ]);
    assert.deepEqual(Array.from(x.grad!.data), [20, 80, 180]);
    h.remove();
    assert.throws(
      () => nk.tensor([1, 2]).registerHook(() => undefined),
      /registerHook: cannot register a hook on a tensor \[2\] that does not require grad/,
    );
    const y = nk.tensor([1, 2], [2], { requiresGrad: true });
    y.registerHook(() => nk.zeros([3]));
    assert.throws(
      () => y.mul(2).sum().backward(),
      /registerHook: a hook returned \[3\] float32 for a gradient of \[2\] float32/,
    );
    assert.equal(y.grad, null);
  });
});
