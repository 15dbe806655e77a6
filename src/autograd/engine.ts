// Reverse-mode autodiff over the recorded graph. Gradients are computed inside a scope so
// every intermediate gradient is freed; only the leaves' .grad survive.
import { keep, ownedByScope, tidy } from '../memory/scope.js';
import { onesLike } from '../tensor/create.js';
import { fmt, sameShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import { add } from '../ops/arith.js';
import { clone } from '../ops/shape-ops.js';
import { noGrad } from './grad-mode.js';

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative DFS: deep nets would overflow the call stack with recursion.
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.gradFn?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const next = inputs[i];
      if (next.requiresGrad && !seen.has(next)) {
        seen.add(next);
        stack.push([next, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order.reverse();
}

export function backward(root: Tensor, grad?: Tensor): void {
  if (!root.requiresGrad) {
    throw new Error('backward: the tensor does not require grad and has no grad_fn');
  }
  if (grad === undefined && root.size !== 1) {
    throw new Error(
      `backward: grad can be implicitly created only for one-element outputs, got ${fmt(root.shape)}`,
    );
  }
  if (grad !== undefined && !sameShape(grad.shape, root.shape)) {
    throw new Error(
      `backward: grad of shape ${fmt(grad.shape)} does not match output ${fmt(root.shape)}`,
    );
  }
  const order = topoOrder(root);
  noGrad(() =>
    tidy(() => {
      const grads = new Map<Tensor, Tensor>();
      grads.set(root, grad ?? onesLike(root));
      for (const t of order) {
        const g = grads.get(t);
        if (g === undefined) continue;
        if (t.gradFn !== null) {
          const inGrads = t.gradFn.backward(g);
          t.gradFn.inputs.forEach((input, i) => {
            const gi = inGrads[i];
            if (gi === null || gi === undefined || !input.requiresGrad) return;
            if (!sameShape(gi.shape, input.shape)) {
              throw new Error(
                `backward: gradient of ${t.gradFn!.name} for input ${i} has shape ${fmt(gi.shape)}, expected ${fmt(input.shape)}`,
              );
            }
            const prev = grads.get(input);
            grads.set(input, prev === undefined ? gi : add(prev, gi));
          });
        } else {
          accumulateLeaf(t, g);
        }
      }
    }),
  );
}

function accumulateLeaf(t: Tensor, g: Tensor): void {
  const own = ownedByScope(g) ? g : clone(g);
  const next = t.grad === null ? own : add(t.grad, own);
  if (t.grad !== null) t.grad.dispose();
  if (next.dtype !== t.dtype)
    throw new Error(`backward: gradient dtype ${next.dtype} for a ${t.dtype} leaf`);
  t.grad = keep(next);
}
