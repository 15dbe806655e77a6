// What the ONNX import steps share: a compiled node (Step), the context a step is built in,
// and attribute readers.
import type { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Attrs, NodeProto } from './proto.js';

/** A compiled node: runs on the values it reads and returns its outputs. */
export type Step = (ins: (Tensor | undefined)[]) => (Tensor | undefined)[];

export interface Ctx {
  where: string;
  attrs: Attrs;
  node: NodeProto;
  /** The initializer behind input i, if it is one. */
  init(i: number): Tensor | undefined;
  /** A child module, registered under a name built from its initializers' common prefix. */
  module<M extends Module>(m: M, inits: number[]): M;
  opset: number;
}

export function attrsKnown(c: Ctx, known: string[]): void {
  for (const k of Object.keys(c.attrs))
    if (!known.includes(k))
      throw new Error(
        `${c.where}: attribute ${k} is not supported (supported: ${known.join(', ') || 'none'})`,
      );
}

export const intAttr = (c: Ctx, k: string, d: number) =>
  c.attrs[k] === undefined ? d : (c.attrs[k] as number);
export const intsAttr = (c: Ctx, k: string) => c.attrs[k] as number[] | undefined;
