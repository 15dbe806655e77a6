// Gradient hooks on tensors (PyTorch's Tensor.register_hook): backward() calls each hook with
// the tensor's whole gradient before using it, and a hook may return a replacement of the
// same shape. The gradients handed to hooks are freed when backward() returns: clone() what
// a hook keeps.
import { fmt, sameShape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

export type GradHook = (grad: Tensor) => Tensor | void;

/** What register... returns: remove() takes the hook out again (PyTorch's RemovableHandle). */
export interface RemovableHandle {
  remove(): void;
}

const hooks = new WeakMap<Tensor, Map<number, GradHook>>();
let nextHook = 1;

/** Adds a hook to a map of hooks, in call order; the handle removes it. */
export function addHook<F>(map: Map<number, F>, fn: F): RemovableHandle {
  const id = nextHook++;
  map.set(id, fn);
  return { remove: () => void map.delete(id) };
}

export function registerGradHook(t: Tensor, fn: GradHook): RemovableHandle {
  if (!t.requiresGrad) {
    throw new Error(
      `registerHook: cannot register a hook on a tensor ${fmt(t.shape)} that does not require grad`,
    );
  }
  let map = hooks.get(t);
  if (map === undefined) hooks.set(t, (map = new Map()));
  return addHook(map, fn);
}

/** Whether t has gradient hooks (backward() then keeps the gradient they see). */
export function hasGradHooks(t: Tensor): boolean {
  return (hooks.get(t)?.size ?? 0) > 0;
}

/** The gradient of t after its hooks, in the order they were registered. */
export function applyGradHooks(t: Tensor, g: Tensor): Tensor {
  const map = hooks.get(t);
  if (map === undefined) return g;
  for (const fn of map.values()) {
    const r = fn(g);
    if (r === undefined) continue;
    if (!sameShape(r.shape, g.shape) || r.dtype !== g.dtype) {
      throw new Error(
        `registerHook: a hook returned ${fmt(r.shape)} ${r.dtype} for a gradient of ${fmt(g.shape)} ${g.dtype}`,
      );
    }
    g = r;
  }
  return g;
}
