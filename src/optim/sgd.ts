import { applyMulti } from '../autograd/apply.js';
import type { Tensor } from '../tensor/tensor.js';
import { type GroupBase, Optimizer, type ParamGroup, type ParamsArg } from './optimizer.js';

export interface SgdOptions extends GroupBase {
  momentum: number;
  dampening: number;
  nesterov: boolean;
}

/** PyTorch's SGD: d = g + wd·p; buf = μ·buf + (1 − τ)·d (buf = d at first); p −= lr·(nesterov ? d + μ·buf : buf). */
export class SGD extends Optimizer<SgdOptions> {
  constructor(params: ParamsArg<SgdOptions>, opts: Partial<SgdOptions> & { lr: number }) {
    super(params, { momentum: 0, dampening: 0, nesterov: false, weightDecay: 0, ...opts });
    for (const g of this.paramGroups) {
      if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) {
        throw new Error('SGD: nesterov momentum requires a momentum > 0 and zero dampening');
      }
      if (!(g.momentum >= 0)) throw new Error(`SGD: expected momentum >= 0, got ${g.momentum}`);
    }
  }

  protected update(
    p: Tensor,
    grad: Tensor,
    g: ParamGroup<SgdOptions>,
    _step: number,
    buffer: (n: string) => [Tensor, boolean],
  ): void {
    const attrs = {
      lr: g.lr,
      momentum: g.momentum,
      dampening: g.dampening,
      nesterov: g.nesterov,
      weightDecay: g.weightDecay,
      first: false,
    };
    if (g.momentum > 0) {
      const [buf, fresh] = buffer('momentumBuffer');
      applyMulti('SgdUpdate', [p, grad, buf], { ...attrs, first: fresh });
    } else {
      applyMulti('SgdUpdate', [p, grad], attrs);
    }
  }
}
