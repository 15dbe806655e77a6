// An upper bound on a network's Lipschitz constant in ℓ2, layer by layer: linear layers
// (Linear, Conv2d and ConvTranspose2d with their stride, padding, dilation and groups, average
// pooling) by power
// iteration on the layer's own operator and its adjoint (the adjoint through autograd),
// eval-mode BatchNorm as max |γ|/√(running var + eps), ReLU-like activations by their
// steepest slope, max pooling by how many windows share an input, residual blocks as
// L(branch) + L(shortcut). The bound holds for exactly these weights and running statistics:
// after recalibrateBatchNorm (or any training) it must be computed again.
import { noGrad } from '../autograd/grad-mode.js';
import { asPair } from '../ops/util.js';
import { tidy } from '../memory/scope.js';
import { BatchNormBase } from '../nn/batchnorm.js';
import { Conv2d, ConvTranspose2d, Linear } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { BasicBlock } from '../nn/residual.js';
import {
  AdaptiveAvgPool2d,
  AvgPool2d,
  Dropout,
  Flatten,
  GELU,
  Identity,
  LeakyReLU,
  MaxPool2d,
  ReLU,
  Sequential,
  Sigmoid,
  Tanh,
  Upsample,
} from '../nn/simple.js';
import { conv2d } from '../ops/conv.js';
import { convTranspose2d } from '../ops/conv-transpose.js';
import { matmul } from '../ops/matmul.js';
import { adaptiveAvgPool2d, avgPool2d } from '../ops/pool.js';
import { upsample } from '../ops/upsample.js';
import { Generator } from '../random.js';
import { tensor, zeros } from '../tensor/create.js';
import { fmt } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { transpose } from '../ops/shape-ops.js';

export interface LayerBound {
  /** Dotted path of the layer in the model ('' for the model itself). */
  path: string;
  layer: string;
  bound: number;
  method: 'power iteration' | 'formula' | 'composition';
  /** Power iterations run (power iteration only). */
  iterations?: number;
}

export interface LipschitzOptions {
  /** One sample's shape, without the batch dimension (e.g. [1, 28, 28]). */
  inputShape: readonly number[];
  /** Most power iterations per layer (default 500). */
  maxIterations?: number;
  /** Stop when σ changes by less than this, relatively, between iterations (default 1e-6). */
  tolerance?: number;
  /** Seed of the power iterations' start vectors (default 0; the global generator is untouched). */
  seed?: number;
}

export interface LipschitzBound {
  bound: number;
  layers: LayerBound[];
}

/** Sup of the derivative of GELU (x·Φ(x)), reached near x = 1.41. */
const GELU_SLOPE = 1.1289;

/** σ_max of a linear map by power iteration on AᵀA, the adjoint from autograd. */
function operatorNorm(
  apply: (x: Tensor) => Tensor,
  shape: readonly number[],
  maxIterations: number,
  tolerance: number,
  g: Generator,
): { sigma: number; iterations: number } {
  // A start vector from the bound's own generator: the global one is left alone.
  const n = shape.reduce((a, b) => a * b, 1);
  let x = tensor(
    Float32Array.from({ length: n }, () => g.normal()),
    [1, ...shape],
  );
  let sigma = 0;
  let it = 0;
  for (; it < maxIterations; it++) {
    const next = tidy(() => {
      x.requiresGrad = true;
      const y = apply(x);
      y.mul(y).sum().mul(0.5).backward(); // x.grad = Aᵀ A x
      const g = x.grad!;
      const xx = x.mul(x).sum().item();
      const s = Math.sqrt(y.mul(y).sum().item() / xx);
      const n = Math.sqrt(g.mul(g).sum().item());
      const v = n > 0 ? noGrad(() => g.div(n)) : null;
      x.grad = null; // frees g
      return { v, s };
    });
    x.dispose();
    if (next.v === null) return { sigma: 0, iterations: it + 1 };
    x = next.v;
    const done = Math.abs(next.s - sigma) <= tolerance * next.s;
    sigma = next.s;
    if (done) break;
  }
  x.dispose();
  return { sigma, iterations: it + 1 };
}

/** Input shape of every module (one sample, no batch dimension) from one forward pass. */
function inputShapes(model: Module, shape: readonly number[]): Map<Module, number[]> {
  const shapes = new Map<Module, number[]>();
  const handles = model.namedModules().map(([, m]) =>
    m.registerForwardPreHook((mod, inputs) => {
      const x = inputs[0] as Tensor;
      if (!shapes.has(mod)) shapes.set(mod, x.shape.slice(1));
    }),
  );
  try {
    noGrad(() => tidy(() => void model.call(zeros([1, ...shape]))));
  } catch (e) {
    throw new Error(
      `lipschitzBound: inputShape ${fmt(shape)} does not fit ${model.describe()}: ${(e as Error).message}`,
    );
  } finally {
    for (const h of handles) h.remove();
  }
  return shapes;
}

/**
 * An upper bound on ‖f(x) − f(y)‖₂ / ‖x − y‖₂ for the model in eval mode, with a table per
 * layer. Refuses a model in training mode and layers it cannot bound, naming them all.
 */
export function lipschitzBound(model: Module, opts: LipschitzOptions): LipschitzBound {
  const shape = opts.inputShape;
  if (
    !Array.isArray(shape) ||
    shape.length === 0 ||
    !shape.every((d) => Number.isInteger(d) && d >= 1)
  ) {
    throw new Error(
      `lipschitzBound: expected inputShape to be one sample's shape of positive integers (no batch dimension), got ${JSON.stringify(shape)}`,
    );
  }
  const training = model.namedModules().filter(([, m]) => m.training);
  if (training.length > 0) {
    throw new Error(
      `lipschitzBound: ${model.describe()} is in training mode (${training
        .slice(0, 3)
        .map(([k, m]) => k || m.describe())
        .join(
          ', ',
        )}${training.length > 3 ? ', ...' : ''}); the bound uses BatchNorm's running statistics: call model.eval() first`,
    );
  }
  const maxIterations = opts.maxIterations ?? 500;
  const tolerance = opts.tolerance ?? 1e-6;
  const shapes = inputShapes(model, shape);
  const gen = new Generator(opts.seed ?? 0);
  const table: LayerBound[] = [];
  const refused: string[] = [];

  const visit = (m: Module, path: string): number => {
    const name = m.describe();
    const leaf = (bound: number, method: LayerBound['method'], iterations?: number) => {
      table.push({ path, layer: name, bound, method, ...(iterations ? { iterations } : {}) });
      return bound;
    };
    const power = (apply: (x: Tensor) => Tensor) => {
      const r = operatorNorm(apply, shapes.get(m)!, maxIterations, tolerance, gen);
      return leaf(r.sigma, 'power iteration', r.iterations);
    };
    const child = (c: Module, key: string) => visit(c, path ? `${path}.${key}` : key);
    if (!shapes.has(m)) return leaf(1, 'formula'); // never called in the forward pass
    if (m instanceof Sequential) {
      const b = m.layers.reduce((acc, c, i) => acc * child(c, String(i)), 1);
      return leaf(b, 'composition');
    }
    if (m instanceof BasicBlock) {
      const branch =
        child(m.conv1, 'conv1') *
        child(m.bn1, 'bn1') *
        child(m.conv2, 'conv2') *
        child(m.bn2, 'bn2');
      return leaf(branch + child(m.downsample, 'downsample'), 'composition');
    }
    // The weight as a constant: the power iterations' backward passes must not reach the
    // model's parameters (nor build a spectral norm's graph).
    const constant = (w: () => Tensor) => noGrad(() => w().detach());
    if (m instanceof Linear) {
      const Wt = constant(() => transpose(m.weight, 0, 1));
      return power((x) => matmul(x, Wt));
    }
    if (m instanceof Conv2d) {
      const { bias: _bias, ...o } = m.options as Record<string, unknown>;
      const W = constant(() => m.weight);
      return power((x) => conv2d(x, W, null, o));
    }
    if (m instanceof ConvTranspose2d) {
      const { bias: _bias, ...o } = m.options as Record<string, unknown>;
      const W = constant(() => m.weight);
      return power((x) => convTranspose2d(x, W, null, o));
    }
    if (m instanceof AvgPool2d) return power((x) => avgPool2d(x, m.kernelSize, m.options));
    if (m instanceof Upsample) return power((x) => upsample(x, m.options));
    if (m instanceof AdaptiveAvgPool2d) return power((x) => adaptiveAvgPool2d(x, m.outputSize));
    if (m instanceof BatchNormBase) {
      if (!m.trackRunningStats) {
        refused.push(`${path} ${name}: no running statistics, so eval mode uses batch statistics`);
        return 1;
      }
      const g = m.weight?.data,
        v = m.runningVar!.data;
      let b = 0;
      for (let c = 0; c < m.numFeatures; c++)
        b = Math.max(b, Math.abs(g ? g[c] : 1) / Math.sqrt(v[c] + m.eps));
      return leaf(b, 'formula');
    }
    if (m instanceof MaxPool2d) {
      // An input in w windows: ‖y‖² ≤ w‖x‖² (each window's max is one of its inputs).
      const [kh, kw] = asPair(m.kernelSize, 1);
      const [sh, sw] = m.options.stride === undefined ? [kh, kw] : asPair(m.options.stride, 1);
      return leaf(Math.sqrt(Math.ceil(kh / sh) * Math.ceil(kw / sw)), 'formula');
    }
    if (m instanceof ReLU || m instanceof Identity || m instanceof Flatten || m instanceof Dropout)
      return leaf(1, 'formula');
    if (m instanceof Tanh) return leaf(1, 'formula');
    if (m instanceof Sigmoid) return leaf(0.25, 'formula');
    if (m instanceof LeakyReLU) return leaf(Math.max(1, Math.abs(m.negativeSlope)), 'formula');
    if (m instanceof GELU) return leaf(GELU_SLOPE, 'formula');
    refused.push(`${path || '(root)'} ${name}`);
    return 1;
  };

  const bound = visit(model, '');
  if (refused.length > 0) {
    throw new Error(`lipschitzBound: cannot bound ${refused.join('; ')}`);
  }
  return { bound, layers: table };
}
