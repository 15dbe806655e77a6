// Learning-rate schedules (PyTorch's closed forms), stepped once per epoch or per iteration.
import type { GroupBase, Optimizer } from './optimizer.js';

export abstract class LRScheduler {
  readonly baseLrs: number[];
  lastEpoch = 0;

  constructor(protected readonly optimizer: Optimizer<GroupBase>) {
    this.baseLrs = optimizer.paramGroups.map((g) => g.lr);
  }

  /** The factor applied to each base learning rate after `epoch` steps. */
  protected abstract factor(epoch: number): number;

  step(): void {
    this.lastEpoch++;
    this.apply();
  }

  getLastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  /** Sets the learning rates for lastEpoch; subclasses call it once their fields are set. */
  protected apply(): void {
    const f = this.factor(this.lastEpoch);
    this.optimizer.paramGroups.forEach((g, i) => (g.lr = this.baseLrs[i] * f));
  }

  stateDict(): { lastEpoch: number } {
    return { lastEpoch: this.lastEpoch };
  }

  loadStateDict(s: { lastEpoch: number }): void {
    this.lastEpoch = s.lastEpoch;
    this.apply();
  }
}

/** lr = base · γ^floor(epoch / stepSize). */
export class StepLR extends LRScheduler {
  constructor(
    opt: Optimizer<GroupBase>,
    readonly stepSize: number,
    readonly gamma = 0.1,
  ) {
    if (!(Number.isInteger(stepSize) && stepSize > 0))
      throw new Error(`StepLR: expected stepSize > 0, got ${stepSize}`);
    super(opt);
    this.apply();
  }
  protected factor(e: number): number {
    return Math.pow(this.gamma, Math.floor(e / this.stepSize));
  }
}

/** lr = etaMin + (base − etaMin)·(1 + cos(π·epoch/tMax))/2, given as a factor of base. */
export class CosineAnnealingLR extends LRScheduler {
  constructor(
    opt: Optimizer<GroupBase>,
    readonly tMax: number,
    readonly etaMinFactor = 0,
  ) {
    if (!(tMax > 0)) throw new Error(`CosineAnnealingLR: expected tMax > 0, got ${tMax}`);
    super(opt);
    this.apply();
  }
  protected factor(e: number): number {
    // Not clamped at tMax: past it the schedule rises again, as PyTorch's does.
    return (
      this.etaMinFactor + ((1 - this.etaMinFactor) * (1 + Math.cos((Math.PI * e) / this.tMax))) / 2
    );
  }
}

/** Linear warm-up (PyTorch's LinearLR): the factor moves from start to end over totalIters. */
export class LinearLR extends LRScheduler {
  constructor(
    opt: Optimizer<GroupBase>,
    readonly startFactor = 1 / 3,
    readonly endFactor = 1,
    readonly totalIters = 5,
  ) {
    if (!(startFactor > 0 && startFactor <= 1))
      throw new Error(`LinearLR: expected startFactor in (0, 1], got ${startFactor}`);
    super(opt);
    this.apply();
  }
  protected factor(e: number): number {
    const t = Math.min(e, this.totalIters) / this.totalIters;
    return this.startFactor + (this.endFactor - this.startFactor) * t;
  }
}

/** Linear warm-up for `warmup` steps, then cosine decay to zero at `total` steps. */
export class WarmupCosineLR extends LRScheduler {
  constructor(
    opt: Optimizer<GroupBase>,
    readonly warmup: number,
    readonly total: number,
  ) {
    if (!(total > warmup && warmup >= 0))
      throw new Error(`WarmupCosineLR: expected 0 <= warmup < total, got ${warmup}, ${total}`);
    super(opt);
    this.apply();
  }
  protected factor(e: number): number {
    if (e < this.warmup) return (e + 1) / (this.warmup + 1);
    const t = Math.min(1, (e - this.warmup) / (this.total - this.warmup));
    return (1 + Math.cos(Math.PI * t)) / 2;
  }
}
