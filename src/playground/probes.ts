// What the playground shows of a network's insides, measured on one training step: the
// distribution of activations entering and leaving each norm (or the place one would sit),
// the fraction of active ReLUs, each weight layer's gradient norm, and one BatchNorm's running
// statistics beside the statistics of the batch it just saw. Hooks are attached only for the
// probed step (a hooked layer runs unfused, so ordinary steps keep their speed).
import * as nn from '../nn/index.js';
import type { Module } from '../nn/module.js';
import type { RemovableHandle } from '../autograd/hooks.js';
import type { Tensor } from '../tensor/tensor.js';
import { NoNorm } from './models.js';
import { channelLayout, jsNormPrimitives } from '../kernels/js/stats.js';

export interface Histogram {
  lo: number;
  hi: number;
  counts: number[];
  mean: number;
  std: number;
}

export interface NormProbe {
  name: string;
  before: Histogram;
  after: Histogram;
}

export interface LayerValue {
  name: string;
  value: number;
}

export interface BnWatch {
  name: string;
  runningMean: number[];
  runningVar: number[];
  batchMean: number[];
  /** Unbiased, as the running variance stores it (PyTorch's convention). */
  batchVar: number[];
}

export interface ProbeSnapshot {
  norms: NormProbe[];
  relu: LayerValue[];
  gradNorms: LayerValue[];
  bn: BnWatch | null;
  /** The names of the layers a BatchNorm watch can choose from. */
  bnLayers: string[];
}

export const HISTOGRAM_BINS = 40;

/** Counts of `values` in equal bins from their minimum to their maximum, with mean and sd. */
export function histogram(values: ArrayLike<number>, bins = HISTOGRAM_BINS): Histogram {
  let lo = Infinity,
    hi = -Infinity,
    sum = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    sum += v;
  }
  const n = values.length;
  const mean = sum / n;
  let ss = 0;
  const counts = new Array<number>(bins).fill(0);
  const scale = hi > lo ? bins / (hi - lo) : 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    ss += (v - mean) * (v - mean);
    counts[Math.min(bins - 1, Math.floor((v - lo) * scale))]++;
  }
  return { lo, hi, counts, mean, std: Math.sqrt(ss / n) };
}

/** Per-channel mean and unbiased variance of [N, C, ...], by the norms' statistics helper. */
export function channelStats(x: Tensor): { mean: number[]; variance: number[] } {
  const m = jsNormPrimitives.moments(x.data, channelLayout(x.shape));
  const n = x.size / x.shape[1];
  return {
    mean: Array.from(m.mean),
    variance: Array.from(m.m2, (q) => q / Math.max(1, n - 1)),
  };
}

function kindOf(m: Module): string {
  return m.constructor.name;
}

/** The layers of a playground network that the probes watch, with the names the page shows. */
export class Probes {
  readonly normSlots: [string, Module][] = [];
  readonly relus: [string, Module][] = [];
  readonly weightLayers: [string, nn.Linear | nn.Conv2d][] = [];
  readonly batchNorms: [string, nn.BatchNormBase][] = [];

  constructor(model: Module) {
    for (const [path, m] of model.namedModules()) {
      const isNorm = (m as { isNormalization?: boolean }).isNormalization === true;
      if (isNorm || m instanceof NoNorm)
        this.normSlots.push([`${path} ${isNorm ? kindOf(m) : 'no norm'}`, m]);
      if (m instanceof nn.ReLU) this.relus.push([`${path} ReLU`, m]);
      if (m instanceof nn.Linear || m instanceof nn.Conv2d)
        this.weightLayers.push([`${path} ${kindOf(m)}`, m]);
      if (m instanceof nn.BatchNormBase) this.batchNorms.push([`${path} ${kindOf(m)}`, m]);
    }
  }

  /**
   * Runs one step (forward, backward and update: `step`) with hooks on, and returns what they
   * saw. `watch` picks the BatchNorm layer whose statistics are compared.
   */
  capture(step: () => void, watch = 0): ProbeSnapshot {
    const norms: NormProbe[] = [];
    const relu: LayerValue[] = [];
    let bn: BnWatch | null = null;
    const handles: RemovableHandle[] = [];
    for (const [name, m] of this.normSlots) {
      handles.push(
        m.registerForwardHook((_, inputs, out) => {
          norms.push({
            name,
            before: histogram((inputs[0] as Tensor).data),
            after: histogram(out.data),
          });
        }),
      );
    }
    for (const [name, m] of this.relus) {
      handles.push(
        m.registerForwardHook((_, __, out) => {
          const d = out.data;
          let active = 0;
          for (let i = 0; i < d.length; i++) if (d[i] > 0) active++;
          relu.push({ name, value: active / d.length });
        }),
      );
    }
    const watched = this.batchNorms[Math.min(watch, this.batchNorms.length - 1)];
    if (watched) {
      const [name, m] = watched;
      handles.push(
        m.registerForwardPreHook((_, inputs) => {
          const { mean, variance } = channelStats(inputs[0] as Tensor);
          bn = { name, batchMean: mean, batchVar: variance, runningMean: [], runningVar: [] };
        }),
      );
    }
    try {
      step();
    } finally {
      for (const h of handles) h.remove();
    }
    if (watched && bn !== null) {
      // Read after the step: the running statistics that this batch has just moved.
      const w = bn as BnWatch;
      w.runningMean = Array.from(watched[1].runningMean?.data ?? []);
      w.runningVar = Array.from(watched[1].runningVar?.data ?? []);
    }
    const gradNorms = this.weightLayers.map(([name, m]) => {
      const g = m.weight.grad;
      let ss = 0;
      if (g) for (const v of g.data) ss += v * v;
      return { name, value: Math.sqrt(ss) };
    });
    return { norms, relu, gradNorms, bn, bnLayers: this.batchNorms.map(([n]) => n) };
  }
}
