import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';

/**
 * Splits a model's parameters into two groups: normalization parameters and biases get no
 * weight decay (decaying a BatchNorm scale only fights the normalization), the rest get `weightDecay`.
 */
export function paramGroupsNoDecayForNorm(
  model: Module,
  weightDecay: number,
): { params: Tensor[]; weightDecay: number }[] {
  const noDecay = new Set<Tensor>();
  for (const [, m] of model.namedModules()) {
    if ((m as { isNormalization?: boolean }).isNormalization)
      for (const p of m.parameters()) noDecay.add(p);
  }
  for (const [name, p] of model.namedParameters()) if (name.endsWith('bias')) noDecay.add(p);
  const params = model.parameters();
  return [
    { params: params.filter((p) => !noDecay.has(p)), weightDecay },
    { params: params.filter((p) => noDecay.has(p)), weightDecay: 0 },
  ];
}
