import { rng } from '../random.js';
import type { DType, TypedArray } from './dtype.js';
import { type Shape, checkShape, fmt, sizeOf } from './shape.js';
import { Tensor, empty } from './tensor.js';

export interface CreateOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

type Nested = number | readonly Nested[];

function inferShape(data: Nested): number[] {
  const shape: number[] = [];
  let cur: Nested = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0] as Nested;
  }
  return shape;
}

function flatten(data: Nested, shape: number[], dim: number, out: number[]): void {
  if (dim === shape.length) {
    if (typeof data !== 'number')
      throw new Error(`tensor: ragged nested array, expected ${fmt(shape)}`);
    out.push(data);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[dim]) {
    throw new Error(`tensor: ragged nested array, expected ${fmt(shape)}`);
  }
  for (const d of data) flatten(d as Nested, shape, dim + 1, out);
}

function finish(t: Tensor, opts: CreateOptions): Tensor {
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

/** A tensor from flat values and a shape, or from (nested) JS arrays with the shape inferred. */
export function tensor(
  data: Nested | ArrayLike<number>,
  shape?: Shape,
  opts: CreateOptions = {},
): Tensor {
  let flat: ArrayLike<number>;
  let shp: number[];
  if (typeof data === 'number') {
    flat = [data];
    shp = shape ? [...shape] : [];
  } else if (Array.isArray(data) && shape === undefined) {
    shp = inferShape(data as Nested);
    const out: number[] = [];
    flatten(data as Nested, shp, 0, out);
    flat = out;
  } else {
    flat = Array.isArray(data)
      ? (data as number[]).flat(Infinity as 1)
      : (data as ArrayLike<number>);
    shp = shape ? [...shape] : [flat.length];
  }
  checkShape('tensor', shp);
  if (sizeOf(shp) !== flat.length) {
    throw new Error(
      `tensor: ${flat.length} values cannot fill shape ${fmt(shp)} (${sizeOf(shp)} elements)`,
    );
  }
  const t = empty(shp, opts.dtype ?? 'float32');
  t.data.set(flat);
  return finish(t, opts);
}

export function scalar(value: number, opts: CreateOptions = {}): Tensor {
  return tensor([value], [], opts);
}

export function full(shape: Shape, value: number, opts: CreateOptions = {}): Tensor {
  checkShape('full', shape);
  const t = empty(shape, opts.dtype ?? 'float32');
  t.data.fill(value);
  return finish(t, opts);
}

export function zeros(shape: Shape, opts: CreateOptions = {}): Tensor {
  return full(shape, 0, opts);
}

export function ones(shape: Shape, opts: CreateOptions = {}): Tensor {
  return full(shape, 1, opts);
}

export function zerosLike(t: Tensor): Tensor {
  return zeros(t.shape, { dtype: t.dtype });
}

export function onesLike(t: Tensor): Tensor {
  return ones(t.shape, { dtype: t.dtype });
}

function fillWith(shape: Shape, opts: CreateOptions, f: () => number): Tensor {
  checkShape('random', shape);
  const t = empty(shape, opts.dtype ?? 'float32');
  const d: TypedArray = t.data;
  for (let i = 0; i < d.length; i++) d[i] = f();
  return finish(t, opts);
}

/** Uniform on [low, high) from the global seeded generator. */
export function rand(
  shape: Shape,
  opts: CreateOptions & { low?: number; high?: number } = {},
): Tensor {
  const low = opts.low ?? 0;
  const span = (opts.high ?? 1) - low;
  return fillWith(shape, opts, () => low + span * rng.uniform());
}

/** Normal(mean, std) from the global seeded generator. */
export function randn(
  shape: Shape,
  opts: CreateOptions & { mean?: number; std?: number } = {},
): Tensor {
  const mean = opts.mean ?? 0;
  const std = opts.std ?? 1;
  return fillWith(shape, opts, () => mean + std * rng.normal());
}

/** Values start, start+step, ... below end (PyTorch's torch.arange). */
export function arange(start: number, end?: number, step = 1, opts: CreateOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0) throw new Error('arange: step must be non-zero');
  const n = Math.max(0, Math.ceil((end - start) / step));
  const t = empty([n], opts.dtype ?? 'float32');
  const d = t.data;
  for (let i = 0; i < n; i++) d[i] = start + i * step;
  return finish(t, opts);
}
