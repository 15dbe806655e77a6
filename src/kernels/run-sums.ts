// BatchNorm's moments from the convolution before it (issue 17, item 4). A convolution asked
// for them takes, per output plane, the shifted sums BatchNorm's statistics helper takes of
// each run (assembly/stats.ts, runSums) while the plane is still in cache, and hands them
// over with its output; BatchNorm's training kernel, given that same tensor next, merges
// them instead of reading the tensor for them: the same bits, one pass over memory fewer.
// Only Sequential asks, for a Conv2d directly followed by a training BatchNorm, so no code
// runs between the two that could change the tensor; anything else drops the hand-off.
import type { Tensor } from '../tensor/tensor.js';

let wanted = false;
let handed: { y: Tensor; sums: Float64Array } | null = null;

/** Runs f (one convolution layer) asking its convolution for the run sums of its output. */
export function collectRunSums<T>(f: () => T): T {
  wanted = true;
  handed = null;
  try {
    return f();
  } finally {
    wanted = false;
  }
}

/** Whether the convolution running now should take its output's run sums. */
export const runSumsWanted = (): boolean => wanted;

/** The run sums of y [N, C, ...] (Σ(x − first), Σ(x − first)² per (n, c), float64 pairs). */
export function handRunSums(y: Tensor, sums: Float64Array): void {
  wanted = false; // the first convolution's output only
  handed = { y, sums };
}

let taken = 0;

/** The run sums handed over with x, if x is that tensor; any call ends the hand-off. */
export function takeRunSums(x: Tensor): Float64Array | undefined {
  const h = handed;
  handed = null;
  if (h === null || h.y !== x) return undefined;
  taken++;
  return h.sums;
}

/** How many hand-offs have been taken (tests and the bench check that one happened). */
export const runSumsTaken = (): number => taken;

/** Ends a hand-off nobody took (Sequential, after the layer that could take it). */
export function dropRunSums(): void {
  handed = null;
}
