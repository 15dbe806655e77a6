import { scalar } from '../tensor/create.js';
import { fmt } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';

export type TensorLike = Tensor | number;

/** Checks that x is a live tensor, naming the op and argument when it is not. */
export function expectTensor(op: string, name: string, x: unknown): Tensor {
  if (!(x instanceof Tensor))
    throw new Error(`${op}: expected ${name} to be a Tensor, got ${describe(x)}`);
  if (x.isDisposed) throw new Error(`${op}: ${name} ${fmt(x.shape)} was disposed`);
  return x;
}

export function expectRank(
  op: string,
  name: string,
  x: Tensor,
  ranks: number[],
  layout = '',
): void {
  if (!ranks.includes(x.rank)) {
    const want = ranks.length === 1 ? `rank ${ranks[0]}` : `rank ${ranks.join(' or ')}`;
    throw new Error(
      `${op}: expected ${name} of ${want}${layout ? ` ${layout}` : ''}, got ${fmt(x.shape)}`,
    );
  }
}

/** Turns a number into a scalar tensor of `like`'s dtype; checks two tensors' dtypes agree. */
export function pair(op: string, a: TensorLike, b: TensorLike): [Tensor, Tensor] {
  if (typeof a === 'number' && typeof b === 'number')
    throw new Error(`${op}: at least one argument must be a Tensor`);
  const ta =
    typeof a === 'number' ? scalar(a, { dtype: (b as Tensor).dtype }) : expectTensor(op, 'a', a);
  const tb = typeof b === 'number' ? scalar(b, { dtype: ta.dtype }) : expectTensor(op, 'b', b);
  if (ta.dtype !== tb.dtype) throw new Error(`${op}: dtypes differ: ${ta.dtype} and ${tb.dtype}`);
  return [ta, tb];
}

export function describe(x: unknown): string {
  if (x instanceof Tensor) return `Tensor ${fmt(x.shape)}`;
  if (Array.isArray(x)) return `array of length ${x.length}`;
  return x === null
    ? 'null'
    : typeof x === 'object'
      ? (x.constructor?.name ?? 'object')
      : `${typeof x} ${String(x)}`;
}

/**
 * A number or pair as a pair, `dflt` for both when absent: for options a layer has already
 * checked (pair2 is the checking form).
 */
export function asPair(
  v: number | readonly [number, number] | undefined,
  dflt: number,
): [number, number] {
  return v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

/** Expands a number to a pair (kernel sizes, strides, padding). */
export function pair2(
  op: string,
  name: string,
  v: number | readonly number[],
  min: number,
): [number, number] {
  const p = typeof v === 'number' ? [v, v] : [...v];
  if (p.length !== 2 || p.some((d) => !Number.isInteger(d) || d < min)) {
    throw new Error(
      `${op}: expected ${name} to be an integer >= ${min} or a pair of them, got ${JSON.stringify(v)}`,
    );
  }
  return [p[0], p[1]];
}
