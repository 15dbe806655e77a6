// Optimizer updates and LR schedules against PyTorch trajectories.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { assertClose, fixture } from './helpers.js';

const { optim, nn } = nk;
const fx = fixture('foundation.json');

const makers: Record<string, (ps: nk.Tensor[]) => nk.optim.Optimizer<any>> = {
  sgd: (ps) => new optim.SGD(ps, { lr: 0.05 }),
  sgd_momentum_dampening_wd: (ps) =>
    new optim.SGD(ps, { lr: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 0.01 }),
  sgd_nesterov: (ps) => new optim.SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true }),
  adam: (ps) => new optim.Adam(ps, { lr: 0.1, betas: [0.8, 0.95], eps: 1e-6 }),
  adam_wd: (ps) => new optim.Adam(ps, { lr: 0.1, weightDecay: 0.1 }),
  adamw: (ps) => new optim.AdamW(ps, { lr: 0.1, weightDecay: 0.1 }),
};

describe('optimizers follow PyTorch', () => {
  for (const c of fx.optim) {
    it(c.name, () => {
      const p = nk.tensor(c.p0, [7], { dtype: 'float64', requiresGrad: true });
      const opt = makers[c.name]([p]);
      const k = nk.arange(1, 8, 1, { dtype: 'float64' });
      c.trajectory.forEach((expected: number[], i: number) => {
        nk.tidy(() => {
          opt.zeroGrad();
          p.sub(0.5).pow(2).mul(k).sum().backward();
          // PyTorch's loss also adds sum(sin p) (normkit has no sin op): add its gradient cos(p).
          const g = p.grad!.data;
          for (let j = 0; j < 7; j++) g[j] += Math.cos(p.data[j]);
          opt.step();
        });
        assertClose(p.data, expected, {
          rtol: 1e-10,
          atol: 1e-12,
          what: `${c.name} step ${i + 1}`,
        });
      });
    });
  }

  it('optimizer state round-trips through stateDict', () => {
    const p = nk.tensor([1, 2, 3], [3], { requiresGrad: true });
    const opt = new optim.Adam([p], { lr: 0.1 });
    p.grad = nk.keep(nk.tensor([0.1, 0.2, 0.3]));
    opt.step();
    const sd = opt.stateDict();
    const q = nk.tensor([1, 2, 3], [3], { requiresGrad: true });
    const opt2 = new optim.Adam([q], { lr: 0.5 });
    opt2.loadStateDict(sd);
    assert.equal(opt2.paramGroups[0].lr, 0.1);
    assert.deepEqual(opt2.stateDict().state, sd.state);
    assert.throws(
      () => opt2.loadStateDict({ ...sd, paramGroups: [] }),
      /expected 1 parameter groups, got 0/,
    );
  });

  it('bad hyperparameters are refused', () => {
    const p = nk.zeros([2], { requiresGrad: true });
    assert.throws(() => new optim.SGD([p], { lr: -1 }), /SGD: expected lr >= 0, got -1/);
    assert.throws(
      () => new optim.SGD([p], { lr: 0.1, nesterov: true }),
      /nesterov momentum requires a momentum > 0/,
    );
    assert.throws(() => new optim.Adam([p], { betas: [1, 0.9] }), /betas in \[0, 1\)/);
    assert.throws(() => new optim.SGD([], { lr: 0.1 }), /empty parameter list/);
    assert.throws(
      () => new optim.SGD([{ params: [p] }, { params: [p] }], { lr: 0.1 }),
      /more than one group/,
    );
  });
});

describe('LR schedulers follow PyTorch', () => {
  const make: Record<string, (o: nk.optim.Optimizer<any>) => nk.optim.LRScheduler> = {
    'step_3_0.5': (o) => new optim.StepLR(o, 3, 0.5),
    cosine_6: (o) => new optim.CosineAnnealingLR(o, 6),
    'linear_0.25_4': (o) => new optim.LinearLR(o, 0.25, 1, 4),
  };
  for (const [name, lrs] of Object.entries<number[]>(fx.schedulers)) {
    it(name, () => {
      const opt = new optim.SGD([nk.zeros([1], { requiresGrad: true })], { lr: 0.2 });
      const s = make[name](opt);
      const got: number[] = [];
      for (let e = 0; e < lrs.length; e++) {
        got.push(opt.paramGroups[0].lr);
        s.step();
      }
      assertClose(got, lrs, { rtol: 1e-9, atol: 1e-12 });
    });
  }
});

describe('parameter groups without decay for norms and biases', () => {
  it('puts BatchNorm weights and every bias in the zero-decay group', () => {
    const model = new nn.Sequential(
      new nn.Conv2d(1, 4, 3),
      new nn.BatchNorm2d(4),
      new nn.Flatten(),
      new nn.Linear(4, 2),
    );
    const [decay, noDecay] = optim.paramGroupsNoDecayForNorm(model, 5e-4);
    const sd = model.stateDict();
    assert.deepEqual(new Set(decay.params), new Set([sd['0.weight'], sd['3.weight']]));
    assert.deepEqual(
      new Set(noDecay.params),
      new Set([sd['0.bias'], sd['1.weight'], sd['1.bias'], sd['3.bias']]),
    );
    assert.equal(decay.weightDecay, 5e-4);
    assert.equal(noDecay.weightDecay, 0);
  });
});
