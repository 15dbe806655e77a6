import { applyMulti } from '../autograd/apply.js';
import type { Tensor } from '../tensor/tensor.js';
import { type GroupBase, Optimizer, type ParamGroup, type ParamsArg } from './optimizer.js';

export interface AdamOptions extends GroupBase {
  betas: [number, number];
  eps: number;
}

function check(name: string, g: AdamOptions): void {
  const [b1, b2] = g.betas;
  if (!(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1))
    throw new Error(`${name}: expected betas in [0, 1), got [${b1}, ${b2}]`);
  if (!(g.eps >= 0)) throw new Error(`${name}: expected eps >= 0, got ${g.eps}`);
}

abstract class AdamBase extends Optimizer<AdamOptions> {
  protected abstract readonly decoupled: boolean;

  protected update(
    p: Tensor,
    grad: Tensor,
    g: ParamGroup<AdamOptions>,
    step: number,
    buffer: (n: string) => [Tensor, boolean],
  ): void {
    const [m] = buffer('expAvg');
    const [v] = buffer('expAvgSq');
    applyMulti('AdamUpdate', [p, grad, m, v], {
      lr: g.lr,
      beta1: g.betas[0],
      beta2: g.betas[1],
      eps: g.eps,
      weightDecay: g.weightDecay,
      decoupled: this.decoupled,
      step,
    });
  }
}

/** Adam (Kingma & Ba) with L2 weight decay added to the gradient, as torch.optim.Adam. */
export class Adam extends AdamBase {
  protected readonly decoupled = false;
  constructor(params: ParamsArg<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, ...opts });
    this.paramGroups.forEach((g) => check('Adam', g));
  }
}

/** AdamW: decoupled weight decay p ← p·(1 − lr·wd) before the Adam step (torch.optim.AdamW). */
export class AdamW extends AdamBase {
  protected readonly decoupled = true;
  constructor(params: ParamsArg<AdamOptions>, opts: Partial<AdamOptions> = {}) {
    super(params, { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, ...opts });
    this.paramGroups.forEach((g) => check('AdamW', g));
  }
}
