// In-place optimizer updates (PyTorch's formulas), one pass per parameter.
import { registerKernel } from '../registry.js';

export interface SgdAttrs {
  lr: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;
  first: boolean; // momentum buffer not yet initialized: it becomes d_p
}

// Inputs [param, grad, momentumBuffer?]; updates param and buffer in place.
registerKernel({
  name: 'SgdUpdate',
  backend: 'js',
  differentiable: false,
  fn: ([p, g, buf], a: SgdAttrs) => {
    const P = p.data,
      G = g.data;
    const B = buf?.data;
    for (let i = 0; i < P.length; i++) {
      let d = G[i] + a.weightDecay * P[i];
      if (B !== undefined) {
        const m = a.first ? d : a.momentum * B[i] + (1 - a.dampening) * d;
        B[i] = m;
        d = a.nesterov ? d + a.momentum * m : m;
      }
      P[i] -= a.lr * d;
    }
    return [];
  },
});

export interface AdamAttrs {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  decoupled: boolean; // AdamW
  step: number;
}

// Inputs [param, grad, expAvg, expAvgSq]; updates all but grad in place.
registerKernel({
  name: 'AdamUpdate',
  backend: 'js',
  differentiable: false,
  fn: ([p, g, m, v], a: AdamAttrs) => {
    const P = p.data,
      G = g.data,
      Mt = m.data,
      Vt = v.data;
    const bc1 = 1 - Math.pow(a.beta1, a.step);
    const bc2 = Math.sqrt(1 - Math.pow(a.beta2, a.step));
    const stepSize = a.lr / bc1;
    const decay = a.decoupled ? 1 - a.lr * a.weightDecay : 1;
    const l2 = a.decoupled ? 0 : a.weightDecay;
    for (let i = 0; i < P.length; i++) {
      const pi = P[i] * decay;
      const gi = G[i] + l2 * P[i];
      const mi = a.beta1 * Mt[i] + (1 - a.beta1) * gi;
      const vi = a.beta2 * Vt[i] + (1 - a.beta2) * gi * gi;
      Mt[i] = mi;
      Vt[i] = vi;
      P[i] = pi - (stepSize * mi) / (Math.sqrt(vi) / bc2 + a.eps);
    }
    return [];
  },
});
