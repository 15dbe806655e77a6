// Forward values and gradients of ops against golden fixtures produced by PyTorch
// (test/fixtures/gen_foundation.py), in float64 and float32.
import { describe, it } from 'node:test';
import * as nk from '../src/index.js';
import { assertClose, fixture, fromCase } from './helpers.js';

const { ops } = nk;
const fx = fixture('foundation.json');

const fns: Record<string, (...xs: nk.Tensor[]) => nk.Tensor> = {
  conv2d_s2_p1_d1_g1: (x, w, b) => ops.conv2d(x, w, b, { stride: 2, padding: 1 }),
  conv2d_s1_p2_d2_g2: (x, w, b) =>
    ops.conv2d(x, w, b, { stride: 1, padding: 2, dilation: 2, groups: 2 }),
  conv2d_1x1: (x, w) => ops.conv2d(x, w),
  max_pool2d_k3_s2_p1: (x) => ops.maxPool2d(x, 3, { stride: 2, padding: 1 }),
  max_pool2d_k2_ceil: (x) => ops.maxPool2d(x, 2, { ceilMode: true }),
  avg_pool2d_k3_s2_p1: (x) => ops.avgPool2d(x, 3, { stride: 2, padding: 1 }),
  avg_pool2d_k3_s2_p1_nopad: (x) =>
    ops.avgPool2d(x, 3, { stride: 2, padding: 1, countIncludePad: false }),
  adaptive_avg_pool2d_3x2: (x) => ops.adaptiveAvgPool2d(x, [3, 2]),
  gelu: (x) => ops.gelu(x),
  log_softmax_dim1: (x) => ops.logSoftmax(x, 1),
  softmax_dim0: (x) => ops.softmax(x, 0),
  matmul_batched_broadcast: (a, b) => ops.matmul(a, b),
  var_dims_0_2: (x) => ops.variance(x, [0, 2]),
  group_norm_3: (x, w, b) => ops.groupNorm(x, 3, w, b),
  layer_norm_last2: (x, w, b) => ops.layerNorm(x, [3, 5], w, b),
};

describe('ops match PyTorch', () => {
  for (const dtype of ['float64', 'float32'] as const) {
    const tol = dtype === 'float64' ? { rtol: 1e-9, atol: 1e-10 } : { rtol: 1e-5, atol: 1e-5 };
    const gtol = dtype === 'float64' ? { rtol: 1e-9, atol: 1e-10 } : { rtol: 1e-4, atol: 1e-4 };
    for (const [name, c] of Object.entries<any>(fx.ops)) {
      it(`${name} (${dtype})`, () => {
        nk.tidy(() => {
          const inputs = c.inputs.map((i: any) => fromCase(i, dtype, true));
          const y = fns[name](...inputs);
          assertClose(y.data, c.output.data, { ...tol, what: `${name} output` });
          y.mul(fromCase(c.w, dtype)).sum().backward();
          inputs.forEach((t: nk.Tensor, k: number) =>
            assertClose(t.grad!.data, c.grads[k].data, { ...gtol, what: `${name} grad ${k}` }),
          );
        });
      });
    }
  }

  for (const [s, c] of Object.entries<any>(fx.cross_entropy.cases)) {
    it(`crossEntropy with labelSmoothing ${s}`, () => {
      const logits = fromCase(fx.cross_entropy.logits, 'float64', true);
      const loss = ops.crossEntropy(logits, fx.cross_entropy.target, { labelSmoothing: Number(s) });
      assertClose([loss.item()], [c.loss], { rtol: 1e-12 });
      loss.backward();
      assertClose(logits.grad!.data, c.grad, { rtol: 1e-10, atol: 1e-12 });
    });
  }
});
