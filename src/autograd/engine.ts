// Reverse-mode autodiff over the recorded graph. Gradients are computed inside a scope so
// every intermediate gradient is freed; only the leaves' .grad survive. The whole graph is
// checked before any gradient is written: a graph that tidy() or dispose() freed, or one
// already used by a backward() without retainGraph, is an error, as in PyTorch.
import { heap } from '../memory/allocator.js';
import { noteStep } from '../memory/growth.js';
import { keep, ownedByScope, tidy } from '../memory/scope.js';
import { onesLike } from '../tensor/create.js';
import { fmt, sameShape } from '../tensor/shape.js';
import { type GradNode, Tensor } from '../tensor/tensor.js';
import { add } from '../ops/arith.js';
import { clone } from '../ops/shape-ops.js';
import { noGrad } from './grad-mode.js';
import { applyGradHooks, hasGradHooks } from './hooks.js';

export interface BackwardOptions {
  /** Keep the graph usable for another backward() (PyTorch's retain_graph). */
  retainGraph?: boolean;
}

/** Stands in for a node whose graph a backward() already used (and let go of). */
function usedNode(name: string): GradNode {
  return {
    name,
    inputs: [],
    backward() {
      throw new Error('unreachable: checked before backward runs');
    },
  };
}
const USED = new WeakSet<GradNode>();

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

const HOW =
  'run backward() inside the tidy() that ran the forward pass: ' +
  'tidy(() => { const loss = lossFn(model.call(x), y); opt.zeroGrad(); loss.backward(); opt.step(); })';

/** Throws, before anything is written, when the graph cannot give correct gradients. */
function checkGraph(root: Tensor, order: Tensor[]): void {
  for (const t of order) {
    const node = t.gradFn;
    if (node !== null && USED.has(node)) {
      throw new Error(
        `backward: trying to backward through the graph a second time (${node.name} was ` +
          `already used by a backward()); pass { retainGraph: true } to the first backward() ` +
          `to go through it again`,
      );
    }
    const what = t === root ? 'the output' : node === null ? 'a leaf' : 'an intermediate';
    if (t.isDisposed) {
      throw new Error(
        `backward: the graph was freed: ${what} ${fmt(t.shape)} (id ${t.id}) was disposed, ` +
          `by tidy() or dispose(), before backward() ran; ${HOW}`,
      );
    }
    for (const s of [...(node?.inputs ?? []), ...(node?.saved ?? [])]) {
      if (s.isDisposed) {
        throw new Error(
          `backward: the graph was freed: ${node!.name} needs a tensor ${fmt(s.shape)} ` +
            `(id ${s.id}) that was disposed, by tidy() or dispose(), before backward() ran; ${HOW}`,
        );
      }
    }
  }
}

export function backward(root: Tensor, grad?: Tensor, opts: BackwardOptions = {}): void {
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
  checkGraph(root, order);
  noGrad(() =>
    tidy(() => {
      // Each gradient is freed as soon as nothing more needs it (PyTorch's engine drops them
      // the same way), so backward's peak is a few layers' gradients, not the whole graph's.
      // Only the engine's own tensors go: never the caller's `grad` or what a hook saw.
      const grads = new Map<Tensor, Tensor>();
      const holders = new Map<Tensor, number>(); // how many entries of grads hold a tensor
      const pinned = new Set<Tensor>(grad === undefined ? [] : [grad]);
      const hold = (input: Tensor, g: Tensor) => {
        grads.set(input, g);
        holders.set(g, (holders.get(g) ?? 0) + 1);
      };
      const drop = (g: Tensor) => {
        if (!holders.has(g) && !pinned.has(g) && ownedByScope(g)) g.dispose();
      };
      const free = (g: Tensor) => {
        const n = (holders.get(g) ?? 0) - 1;
        if (n > 0) holders.set(g, n);
        else holders.delete(g);
        drop(g);
      };
      const pushBack = (t: Tensor, g: Tensor, donate: boolean) => {
        const node = t.gradFn!;
        const inGrads = node.backward(g, donate);
        node.inputs.forEach((input, i) => {
          const gi = inGrads[i];
          if (gi === null || gi === undefined || !input.requiresGrad) return;
          if (!sameShape(gi.shape, input.shape)) {
            throw new Error(
              `backward: gradient of ${node.name} for input ${i} has shape ${fmt(gi.shape)}, expected ${fmt(input.shape)}`,
            );
          }
          const prev = grads.get(input);
          if (prev === undefined) return hold(input, gi);
          hold(input, add(prev, gi));
          free(prev);
        });
        // What the node returned and nothing holds (summed into another, or not needed).
        for (const gi of new Set(inGrads)) if (gi && gi !== g) drop(gi);
      };
      hold(root, grad ?? onesLike(root));
      for (const t of order) {
        const got = grads.get(t);
        if (got === undefined) continue;
        grads.delete(t);
        let g = got;
        if (hasGradHooks(t)) {
          pinned.add(got); // a hook may keep it until backward returns (hooks.ts)
          pinned.add((g = applyGradHooks(t, got)));
        }
        if (t.gradFn === null) accumulateLeaf(t, g);
        else {
          // The only holder, and made here: the node may write its input's gradient over it.
          const only = holders.get(g) === 1 && !pinned.has(g) && ownedByScope(g);
          pushBack(t, g, only && g.sharedStorage.refs === 1);
        }
        free(got);
      }
    }),
  );
  if (!opts.retainGraph) {
    // As PyTorch frees saved tensors: drop the references, so a graph the user no longer
    // holds can be collected, and remember the nodes so a second pass is refused.
    for (const t of order) {
      if (t.gradFn === null) continue;
      const used = usedNode(t.gradFn.name);
      USED.add(used);
      t.gradFn = used;
    }
  }
  noteStep(heap.stats().bytesInUse);
}

function accumulateLeaf(t: Tensor, g: Tensor): void {
  const own = ownedByScope(g) ? g : clone(g);
  const next = t.grad === null ? own : add(t.grad, own);
  if (next.dtype !== t.dtype)
    throw new Error(`backward: gradient dtype ${next.dtype} for a ${t.dtype} leaf`);
  t.grad = keep(next); // the setter frees the gradient it replaces
}
