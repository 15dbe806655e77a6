// Module hooks, shaped as PyTorch's: forward pre-hooks see (and may replace) a module's
// inputs, forward hooks its output, and full backward hooks the gradients with respect to its
// inputs and its output, the inputs' gradients being those that flowed through this module
// alone (each input that requires grad enters the module through a view of its own).
import { isGradEnabled } from '../autograd/grad-mode.js';
import { type RemovableHandle, addHook, registerGradHook } from '../autograd/hooks.js';
import { reshape } from '../ops/shape-ops.js';
import { Tensor } from '../tensor/tensor.js';
import type { Module } from './module.js';

/** May return replacement inputs (one tensor, or all of them as an array). */
export type ForwardPreHook = (module: Module, inputs: unknown[]) => unknown[] | Tensor | void;
/** May return a replacement output. */
export type ForwardHook = (module: Module, inputs: unknown[], output: Tensor) => Tensor | void;
/** Gradients are freed when backward() returns: clone() what the hook keeps. */
export type BackwardHook = (
  module: Module,
  gradInput: (Tensor | null)[],
  gradOutput: Tensor[],
) => void;

export class ModuleHooks {
  readonly pre = new Map<number, ForwardPreHook>();
  readonly forward = new Map<number, ForwardHook>();
  readonly backward = new Map<number, BackwardHook>();

  get any(): boolean {
    return this.pre.size + this.forward.size + this.backward.size > 0;
  }

  add<F>(map: Map<number, F>, fn: F): RemovableHandle {
    return addHook(map, fn);
  }

  /** Runs forward with every hook around it. */
  call(m: Module, args: unknown[], forward: (...a: unknown[]) => Tensor): Tensor {
    for (const h of this.pre.values()) {
      const r = h(m, args);
      if (r !== undefined) args = Array.isArray(r) ? r : [r];
    }
    const watched = this.backward.size > 0 && isGradEnabled();
    const inputs = watched
      ? args.map((a) => (a instanceof Tensor && a.requiresGrad ? reshape(a, a.shape) : a))
      : args;
    let y = forward(...inputs);
    for (const h of this.forward.values()) {
      const r = h(m, inputs, y);
      if (r !== undefined) y = r;
    }
    if (watched && y.requiresGrad) this.watchBackward(m, inputs, y);
    return y;
  }

  /** Calls the backward hooks once the gradients of every watched input have arrived. */
  private watchBackward(m: Module, inputs: unknown[], y: Tensor): void {
    const gradInput: (Tensor | null)[] = inputs.map(() => null);
    const waiting = new Set<number>();
    let gradOutput: Tensor | null = null;
    const fire = () => {
      if (waiting.size > 0 || gradOutput === null) return;
      for (const h of [...this.backward.values()]) h(m, gradInput, [gradOutput]);
    };
    registerGradHook(y, (g) => {
      gradOutput = g;
      fire();
    });
    inputs.forEach((a, i) => {
      if (!(a instanceof Tensor) || !a.requiresGrad) return;
      waiting.add(i);
      registerGradHook(a, (g) => {
        gradInput[i] = g;
        waiting.delete(i);
        fire();
      });
    });
  }
}
