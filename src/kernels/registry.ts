// Kernel name x backend -> implementation, and kernel name -> gradient. Ops dispatch through
// runKernel(); a faster backend (wasm) registers the same names and wins when it supports
// the inputs, so ops and modules never change when kernels are added.
import type { Tensor } from '../tensor/tensor.js';

export type Attrs = Record<string, unknown>;
export type KernelFn = (inputs: Tensor[], attrs: any) => Tensor | Tensor[];

export interface KernelSpec {
  name: string;
  backend: string;
  fn: KernelFn;
  /** False for kernels whose outputs carry no gradient (comparisons, backward kernels). */
  differentiable?: boolean;
  /** A fast path may decline some inputs (e.g. float64); the next backend then runs. */
  supports?: (inputs: Tensor[], attrs: any) => boolean;
}

export interface GradContext {
  inputs: readonly Tensor[];
  outputs: readonly Tensor[];
  attrs: any;
}
/**
 * Returns one gradient per input (null where an input needs none). Written with public ops.
 * `donated`: backward() holds dy only for this node and lets it write a gradient over dy's
 * storage (kernels take it as attrs.intoDy) instead of allocating one.
 */
export type GradientFn = (dy: Tensor, ctx: GradContext, donated: boolean) => (Tensor | null)[];

const kernels = new Map<string, KernelSpec[]>();
const gradients = new Map<string, GradientFn>();
let backendOrder: string[] = ['wasm', 'js'];

export function registerKernel(spec: KernelSpec): void {
  const list = kernels.get(spec.name) ?? [];
  const i = list.findIndex((k) => k.backend === spec.backend);
  if (i >= 0) list[i] = spec;
  else list.push(spec);
  kernels.set(spec.name, list);
}

export function registerGradient(name: string, fn: GradientFn): void {
  gradients.set(name, fn);
}

export function getGradient(name: string): GradientFn | undefined {
  return gradients.get(name);
}

/** Backends tried in order; 'js' (the reference) is always last. */
export function setBackendOrder(order: string[]): void {
  backendOrder = [...order.filter((b) => b !== 'js'), 'js'];
}

export function getBackendOrder(): string[] {
  return [...backendOrder];
}

export function findKernel(name: string, inputs: Tensor[], attrs: Attrs): KernelSpec {
  const list = kernels.get(name);
  if (list === undefined) throw new Error(`no kernel registered for '${name}'`);
  for (const backend of backendOrder) {
    const k = list.find((s) => s.backend === backend);
    if (k !== undefined && (k.supports === undefined || k.supports(inputs, attrs))) return k;
  }
  throw new Error(
    `no backend among [${backendOrder.join(', ')}] implements '${name}' for these inputs`,
  );
}

/** Kernels that claim to be differentiable but have no gradient: must be empty. */
export function kernelsWithoutGradient(): string[] {
  const out: string[] = [];
  for (const [name, list] of kernels) {
    if (list.some((k) => k.differentiable !== false) && !gradients.has(name)) out.push(name);
  }
  return out;
}

export function listKernels(): { name: string; backends: string[] }[] {
  return [...kernels].map(([name, list]) => ({ name, backends: list.map((k) => k.backend) }));
}
