// What BatchNorm and InstanceNorm share (PyTorch's _NormBase): per-channel weight and bias,
// and the running buffers with PyTorch's state-dict names.
import { ones, scalar, zeros } from '../tensor/create.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

export abstract class NormBase extends Module {
  readonly isNormalization = true;
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor | null;
  readonly runningVar: Tensor | null;
  private readonly tracked: Tensor | null;

  constructor(
    readonly numFeatures: number,
    readonly affine: boolean,
    readonly trackRunningStats: boolean,
  ) {
    super();
    if (!Number.isInteger(numFeatures) || numFeatures < 1) {
      throw new Error(
        `${this.constructor.name}: expected numFeatures to be a positive integer, got ${numFeatures}`,
      );
    }
    this.weight = this.registerParameter('weight', affine ? ones([numFeatures]) : null);
    this.bias = this.registerParameter('bias', affine ? zeros([numFeatures]) : null);
    const track = trackRunningStats;
    this.runningMean = this.registerBuffer('running_mean', track ? zeros([numFeatures]) : null);
    this.runningVar = this.registerBuffer('running_var', track ? ones([numFeatures]) : null);
    this.tracked = this.registerBuffer(
      'num_batches_tracked',
      track ? scalar(0, { dtype: 'float64' }) : null,
    );
  }

  get numBatchesTracked(): number {
    return this.tracked === null ? 0 : this.tracked.item();
  }

  /** Sets the training-step count (after a successful step, or when importing a state). */
  setNumBatchesTracked(n: number): void {
    this.tracked?.data.fill(n);
  }

  /** Resets running statistics to mean 0, variance 1 and the step count to 0. */
  resetRunningStats(): void {
    this.runningMean?.data.fill(0);
    this.runningVar?.data.fill(1);
    this.setNumBatchesTracked(0);
  }
}
