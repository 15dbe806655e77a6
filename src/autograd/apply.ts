// Runs a kernel and, when a gradient is needed, records the graph node. The one place where
// ops meet kernels: it refuses to run a differentiable kernel without a gradient when an
// input requires grad, so a fast path can never silently cut autograd.
import { type Attrs, findKernel, getGradient } from '../kernels/registry.js';
import type { Tensor } from '../tensor/tensor.js';
import { isGradEnabled } from './grad-mode.js';

export function applyMulti(name: string, inputs: Tensor[], attrs: Attrs = {}): Tensor[] {
  for (const t of inputs) {
    if (t.isDisposed)
      throw new Error(`${name}: an input tensor ${JSON.stringify(t.shape)} was disposed`);
  }
  const kernel = findKernel(name, inputs, attrs);
  const needsGrad = isGradEnabled() && inputs.some((t) => t.requiresGrad);
  const grad = needsGrad ? getGradient(name) : undefined;
  if (needsGrad && grad === undefined && kernel.differentiable !== false) {
    throw new Error(`${name}: kernel has no registered gradient; refusing to cut autograd`);
  }
  const result = kernel.fn(inputs, attrs);
  const outputs = Array.isArray(result) ? result : [result];
  if (grad !== undefined) {
    const y = outputs[0];
    y.requiresGrad = true;
    const ctx = { inputs, outputs, attrs };
    y.gradFn = {
      name,
      inputs,
      saved: outputs,
      backward: (dy, donated) => grad(dy, ctx, donated ?? false),
    };
  }
  return outputs;
}

export function apply(name: string, inputs: Tensor[], attrs: Attrs = {}): Tensor {
  return applyMulti(name, inputs, attrs)[0];
}
