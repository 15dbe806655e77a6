// Registers the 'wasm' backend's kernels once the module is loaded: the same kernel families
// as the JS backend, given SIMD primitives. They accept float32 tensors; float64 falls
// through to the JS reference kernels.
import { dxOver, empty } from '../../tensor/tensor.js';
import type { Tensor } from '../../tensor/tensor.js';
import { registerBatchNormKernels } from '../js/batchnorm.js';
import { withColumnPasses } from '../js/stats-columns.js';
import { registerConvKernels } from '../js/conv.js';
import { registerGroupNormKernels } from '../js/groupnorm.js';
import { registerLayerNormKernels, registerRmsNormKernels } from '../js/layernorm.js';
import { registerMatMul } from '../js/matmul.js';
import { registerRecurrentKernels } from '../js/recurrent.js';
import { registerRowNormKernels } from '../js/rownorm.js';
import { getBackendOrder, registerKernel } from '../registry.js';
import { setMaskFiller } from '../../random.js';
import { heap } from '../../memory/allocator.js';
import { workspaceBytes } from '../workspace.js';
import { registerWasmElementwise } from './elementwise.js';
import { makeWasmBatchedGemm, makeWasmPrepareB } from './gemm.js';
import { registerWasmLayout } from './layout.js';
import { registerWasmSoftmax } from './softmax.js';
import { type PoolAttrs, poolOutShape, registerAvgPoolKernels } from '../js/pool.js';
import type { AdamAttrs, SgdAttrs } from '../js/optim.js';
import { onWasmReady } from './loader.js';
import { heapPtr } from './memory.js';
import { parallelFor } from './threads.js';
import { GRAIN_ELEMENTS } from './primitives.js';
import {
  wasmCellPrimitives,
  wasmColumnPasses,
  wasmColumnPrimitives,
  wasmConvPrimitives,
  wasmNormPrimitives,
  wasmWindowPrimitives,
} from './primitives.js';

const float32 = (inputs: Tensor[]) => inputs.every((t) => t === undefined || t.dtype === 'float32');
const ptr = (t: Tensor): number => heapPtr(t.data)!;

/**
 * A WASM kernel y = f(x) over a float32 tensor, split across threads by ranges of floats: the
 * export takes (...head, x, y, n, ...tail), head and tail from the op's attributes.
 */
function pointwise(
  name: string,
  fn: string,
  grain: number,
  args: {
    head?: (attrs: any) => number[];
    tail?: (attrs: any) => number[];
    /** False for the ops that have no gradient of their own (sign, clamp's mask). */
    differentiable?: boolean;
  } = {},
): void {
  registerKernel({
    name,
    backend: 'wasm',
    differentiable: args.differentiable,
    supports: float32,
    fn: ([x], attrs) => {
      const y = empty(x.shape, x.dtype);
      const [px, py] = [ptr(x), ptr(y)];
      const head = args.head?.(attrs) ?? [],
        tail = args.tail?.(attrs) ?? [];
      parallelFor(fn, x.size, grain, (lo, hi) => [
        ...head,
        px + lo * 4,
        py + lo * 4,
        hi - lo,
        ...tail,
      ]);
      return y;
    },
  });
}

/** A WASM gradient kernel dx = f(dy, x), the export taking (dy, x, dx, n, ...tail). */
function pointwiseGrad(
  name: string,
  fn: string,
  grain: number,
  tail: (attrs: any) => number[] = () => [],
): void {
  registerKernel({
    name,
    backend: 'wasm',
    differentiable: false,
    supports: (inputs: Tensor[]) => float32(inputs) && inputs[0].size === inputs[1].size,
    // attrs.intoDy: dx over a donated dy (each element is read before it is written).
    fn: ([dy, x], attrs) => {
      const dx = dxOver(x, dy, attrs?.intoDy);
      const [pg, px, pd] = [ptr(dy), ptr(x), ptr(dx)];
      const rest = tail(attrs);
      parallelFor(fn, x.size, grain, (lo, hi) => [
        pg + lo * 4,
        px + lo * 4,
        pd + lo * 4,
        hi - lo,
        ...rest,
      ]);
      return dx;
    },
  });
}

onWasmReady((k) => {
  // Dropout's masks in WASM when the wasm backend runs: the same draws (assembly/random.ts).
  setMaskFiller((state, out, p, scale) => {
    const at = getBackendOrder()[0] === 'wasm' ? heapPtr(out as Float32Array) : null;
    if (at === null) return false;
    const words = workspaceBytes('rng-state', 16);
    new Uint32Array(heap.buffer, words, 4).set(state);
    k.dropoutMask(words, at, out.length, p, scale);
    state.set(new Uint32Array(heap.buffer, words, 4));
    return true;
  });
  const conv = wasmConvPrimitives();
  const norm = wasmNormPrimitives();
  registerConvKernels('wasm', conv, float32);
  registerMatMul('wasm', conv.gemm, float32, makeWasmBatchedGemm(conv.gemm));
  registerRecurrentKernels(
    'wasm',
    conv.gemm,
    wasmCellPrimitives(),
    float32,
    makeWasmPrepareB(conv.gemm),
  );
  registerBatchNormKernels('wasm', withColumnPasses(norm, wasmColumnPasses()), float32);
  registerRowNormKernels('wasm', norm, float32);
  registerGroupNormKernels('wasm', norm, float32);
  const column = wasmColumnPrimitives();
  registerLayerNormKernels('wasm', column, float32);
  registerRmsNormKernels('wasm', column, float32);
  registerAvgPoolKernels('wasm', wasmWindowPrimitives(), float32);
  registerWasmElementwise();
  registerWasmLayout();
  registerWasmSoftmax();
  pointwise('Relu', 'relu', GRAIN_ELEMENTS);
  pointwiseGrad('ReluGrad', 'reluGrad', GRAIN_ELEMENTS);
  pointwise('LeakyRelu', 'leakyRelu', GRAIN_ELEMENTS, { tail: (a) => [a.slope] });
  pointwiseGrad('LeakyReluGrad', 'leakyReluGrad', GRAIN_ELEMENTS, (a) => [a.slope]);
  // Op codes of assembly/transcendental.ts's unaryMath; these cost tens of cycles a float,
  // so threads split them from 4,096 floats on.
  for (const [name, op] of [
    ['Exp', 0],
    ['Log', 1],
    ['Sigmoid', 2],
    ['Tanh', 3],
    ['Gelu', 4],
  ] as const)
    pointwise(name, 'unaryMath', GRAIN_ELEMENTS / 8, { head: () => [op] });
  for (const [name, op] of [
    ['Neg', 5],
    ['Sqrt', 6],
    ['Abs', 7],
  ] as const)
    pointwise(name, 'unaryMath', GRAIN_ELEMENTS, { head: () => [op] });
  pointwise('Sign', 'unaryMath', GRAIN_ELEMENTS, { head: () => [8], differentiable: false });
  // x^e: a float32 multiply for e = 2, else Math.pow a float (tens of cycles).
  pointwise('PowScalar', 'powScalar', GRAIN_ELEMENTS / 8, { tail: (a) => [a.exponent] });
  pointwiseGrad('GeluGrad', 'geluGrad', GRAIN_ELEMENTS / 8);
  pointwise('Clamp', 'clamp', GRAIN_ELEMENTS, { tail: (a) => [a.min, a.max, 0] });
  pointwise('ClampMask', 'clamp', GRAIN_ELEMENTS, {
    tail: (a) => [a.min, a.max, 1],
    differentiable: false,
  });
  registerKernel({
    name: 'MaxPool2d',
    backend: 'wasm',
    supports: float32,
    fn: ([x], a: PoolAttrs) => {
      const [N, C, H, W] = x.shape;
      const out = poolOutShape(x.shape, a);
      const [oh, ow] = out.slice(2);
      // Without indices (no gradient wanted) the kernel writes the values alone (idx 0).
      const indices = a.indices !== false;
      const y = empty(out, x.dtype),
        idx = empty(indices ? out : [0], x.dtype);
      const [px, py, pi] = [ptr(x), ptr(y), indices ? ptr(idx) : 0];
      parallelFor('maxPool2d', N * C, Math.ceil(GRAIN_ELEMENTS / (H * W)), (p0, p1) => [
        px + p0 * H * W * 4,
        p1 - p0,
        H,
        W,
        ...a.kernel,
        ...a.stride,
        ...a.padding,
        oh,
        ow,
        py + p0 * oh * ow * 4,
        pi === 0 ? 0 : pi + p0 * oh * ow * 4,
      ]);
      return [y, idx];
    },
  });
  registerKernel({
    name: 'MaxPool2dGrad',
    backend: 'wasm',
    differentiable: false,
    supports: float32,
    fn: ([dy, idx], a: PoolAttrs & { inputShape: number[] }) => {
      const [N, C, H, W] = a.inputShape;
      const dx = empty(a.inputShape, dy.dtype);
      const [oh, ow] = dy.shape.slice(2);
      const [pg, pi, pd] = [ptr(dy), ptr(idx), ptr(dx)];
      parallelFor('maxPool2dGrad', N * C, Math.ceil(GRAIN_ELEMENTS / (H * W)), (p0, p1) => [
        pg + p0 * oh * ow * 4,
        pi + p0 * oh * ow * 4,
        p1 - p0,
        H,
        W,
        ...a.kernel,
        ...a.stride,
        ...a.padding,
        oh,
        ow,
        pd + p0 * H * W * 4,
      ]);
      return dx;
    },
  });
  registerKernel({
    name: 'SgdUpdate',
    backend: 'wasm',
    differentiable: false,
    supports: float32,
    fn: ([p, g, buf], a: SgdAttrs) => {
      const [pp, pg, pb] = [ptr(p), ptr(g), buf ? ptr(buf) : 0];
      const h = [a.lr, a.momentum, a.dampening, a.nesterov ? 1 : 0, a.weightDecay, a.first ? 1 : 0];
      parallelFor('sgdUpdate', p.size, GRAIN_ELEMENTS, (lo, hi) => [
        pp + lo * 4,
        pg + lo * 4,
        pb ? pb + lo * 4 : 0,
        hi - lo,
        ...h,
      ]);
      return [];
    },
  });
  registerKernel({
    name: 'AdamUpdate',
    backend: 'wasm',
    differentiable: false,
    supports: float32,
    fn: ([p, g, m, v], a: AdamAttrs) => {
      const [pp, pg, pm, pv] = [ptr(p), ptr(g), ptr(m), ptr(v)];
      const h = [a.lr, a.beta1, a.beta2, a.eps, a.weightDecay, a.decoupled ? 1 : 0, a.step];
      parallelFor('adamUpdate', p.size, GRAIN_ELEMENTS, (lo, hi) => [
        pp + lo * 4,
        pg + lo * 4,
        pm + lo * 4,
        pv + lo * 4,
        hi - lo,
        ...h,
      ]);
      return [];
    },
  });
});
