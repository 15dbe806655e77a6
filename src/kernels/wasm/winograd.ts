// Which convolutions take the Winograd F(2x2, 3x3) path (assembly/winograd.ts), and the calls
// that split them across threads. Forward and backward-input split by images (the adjoint of
// a 3x3 stride-1 convolution with padding p is one with padding 2 − p and the kernel rotated
// and transposed); backward-weight splits by input channels, each summing all images in order.
import type { Geometry } from '../js/conv.js';
import { workspaceBytes } from '../workspace.js';
import { gemmWorkspace } from './gemm.js';
import { wasmKernels } from './loader.js';
import { parallelFor } from './threads.js';

let enabled = true;

/** Turns the Winograd path on or off (on by default); returns the previous setting. */
export function setWinograd(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

/**
 * Channel counts below which the transforms (and, for the weight gradient, the packing of
 * GEMMs whose inner dimension is the tile count) cost more than the multiplications saved.
 * Measured: BENCHMARKS.md, "Winograd". A rule of the shape alone, so that every thread count
 * takes the same path (and gives the same bits).
 */
const MIN_CHANNELS = { data: 16, weight: 32 };

/**
 * A 3x3, stride 1, dilation 1, one-group convolution with padding 0–2 and enough channels for
 * the pass: 'data' (forward, backward-input) or 'weight' (backward-weight).
 */
export function winogradApplies(
  g: Geometry,
  cout: number,
  pass: 'data' | 'weight' = 'data',
): boolean {
  const min = MIN_CHANNELS[pass];
  return (
    enabled &&
    g.kh === 3 &&
    g.kw === 3 &&
    g.sh === 1 &&
    g.sw === 1 &&
    g.dh === 1 &&
    g.dw === 1 &&
    g.ph <= 2 &&
    g.pw <= 2 &&
    g.oh >= 1 &&
    g.ow >= 1 &&
    g.C >= min &&
    cout >= min
  );
}

/**
 * out[n] = conv3x3(input[n]) for n < N: input [N, C, H, W], out [N, K, H + 2ph − 2, W + 2pw − 2];
 * flip = 1 reads w as [C, K, 3, 3] rotated (backward-input). Pointers are heap byte offsets.
 * pool (a heap offset, or 0): the output pooled by that geometry (see poolGeometry), then
 * ReLU'd when relu, in place of out.
 */
export function winogradConv(
  input: number,
  w: number,
  bias: number,
  out: number,
  N: number,
  C: number,
  H: number,
  W: number,
  K: number,
  ph: number,
  pw: number,
  flip: 0 | 1,
  pool = 0,
  relu: 0 | 1 = 0,
): void {
  const bytes = wasmKernels()!.winogradScratchBytes(C, K, H, W, ph, pw, pool);
  parallelFor('winogradConv', N, 1, (n0, n1, t) => [
    input,
    w,
    bias,
    out,
    n0,
    n1,
    C,
    H,
    W,
    K,
    ph,
    pw,
    flip,
    workspaceBytes(`winograd-${t}`, bytes),
    gemmWorkspace(t),
    pool,
    relu,
  ]);
}

/** Chunks of images the weight gradient sums separately (then adds in order), at most. */
const WEIGHT_CHUNKS = 8;
/** Bytes the chunks' partial sums may take; above that, threads split the input channels. */
const PARTIALS_BYTES = 32 << 20;

/**
 * dw [K, C, 3, 3] = the weight gradient of conv3x3(x [N, C, H, W]) given dy [N, K, oh, ow].
 * Threads take chunks of images (a rule of the shape: min(N, 8) chunks, summed separately and
 * added in order), so no thread repeats another's transforms or packing; when the chunks'
 * sums would take too much memory, they split the input channels instead, each over all
 * images in order (every thread then transforms all of dy).
 */
export function winogradWeightGrad(
  x: number,
  dy: number,
  dw: number,
  N: number,
  C: number,
  H: number,
  W: number,
  K: number,
  ph: number,
  pw: number,
): void {
  const k = wasmKernels()!;
  const chunks = Math.min(N, WEIGHT_CHUNKS);
  const partialBytes = 16 * K * C * 4;
  if (chunks >= 2 && chunks * partialBytes <= PARTIALS_BYTES) {
    const partials = workspaceBytes('winograd-partials', chunks * partialBytes);
    const scratch = k.winogradWeightGradScratchBytes(C, K, H, W, ph, pw);
    parallelFor('winogradWeightGradChunks', chunks, 1, (j0, j1, t) => [
      x,
      dy,
      partials,
      j0,
      j1,
      chunks,
      N,
      C,
      H,
      W,
      K,
      ph,
      pw,
      workspaceBytes(`winograd-${t}`, scratch),
    ]);
    k.winogradWeightGradFinish(partials, chunks, K, C, dw);
    return;
  }
  parallelFor('winogradWeightGrad', C, 4, (c0, c1, t) => [
    x,
    dy,
    dw,
    c0,
    c1,
    N,
    C,
    H,
    W,
    K,
    ph,
    pw,
    workspaceBytes(`winograd-${t}`, k.winogradWeightGradScratchBytes(c1 - c0, K, H, W, ph, pw)),
  ]);
}
