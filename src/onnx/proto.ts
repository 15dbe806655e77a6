// Reading ONNX's protobuf messages: tensors (initializers, test data, constant attributes)
// as normkit tensors, and a node's attributes as plain values.
import onnxProto from 'onnx-proto';
import { tensor } from '../tensor/create.js';
import { fmt } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';

export const { onnx } = onnxProto;
export type NodeProto = onnxProto.onnx.INodeProto;
type TensorProto = onnxProto.onnx.ITensorProto;
const DT = onnx.TensorProto.DataType;

export const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));

/** An ONNX tensor as a normkit tensor: float as float32, double and integers as float64. */
export function tensorFromProto(t: TensorProto, where: string): Tensor {
  const dims = (t.dims ?? []).map(num);
  const n = dims.reduce((a, b) => a * b, 1);
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  const bytes = (per: number) => {
    if (raw!.length !== n * per)
      throw new Error(
        `${where}: raw data of ${raw!.length} bytes for ${fmt(dims)} (${n * per} expected)`,
      );
    return new Uint8Array(raw!).buffer; // a copy: raw data need not be aligned (nor own its buffer)
  };
  let values: ArrayLike<number>;
  let dtype: 'float32' | 'float64' = 'float64';
  switch (t.dataType) {
    case DT.FLOAT:
      values = raw ? new Float32Array(bytes(4)) : (t.floatData ?? []);
      dtype = 'float32';
      break;
    case DT.DOUBLE:
      values = raw ? new Float64Array(bytes(8)) : (t.doubleData ?? []);
      break;
    case DT.INT64:
      values = raw ? Array.from(new BigInt64Array(bytes(8)), Number) : (t.int64Data ?? []).map(num);
      break;
    case DT.INT32:
      values = raw ? new Int32Array(bytes(4)) : (t.int32Data ?? []);
      break;
    default:
      throw new Error(
        `${where}: tensor type ${DT[t.dataType ?? 0] ?? t.dataType} is not one normkit holds (FLOAT, DOUBLE, INT64, INT32)`,
      );
  }
  if (values.length !== n)
    throw new Error(`${where}: ${values.length} values for shape ${fmt(dims)} (${n} expected)`);
  return tensor(values, dims, { dtype });
}

export interface Attrs {
  [name: string]: number | number[] | string | Tensor | undefined;
}

export function readAttrs(node: NodeProto, where: string): Attrs {
  const A = onnx.AttributeProto.AttributeType;
  const out: Attrs = {};
  for (const a of node.attribute ?? []) {
    const name = a.name ?? '';
    switch (a.type) {
      case A.INT:
        out[name] = num(a.i);
        break;
      case A.FLOAT:
        out[name] = a.f ?? 0;
        break;
      case A.INTS:
        out[name] = (a.ints ?? []).map(num);
        break;
      case A.FLOATS:
        out[name] = [...(a.floats ?? [])];
        break;
      case A.STRING:
        out[name] = new TextDecoder().decode(a.s ?? new Uint8Array());
        break;
      case A.TENSOR:
        out[name] = tensorFromProto(a.t ?? {}, `${where} attribute ${name}`);
        break;
      default:
        throw new Error(`${where}: attribute ${name} of type ${A[a.type ?? 0]} is not supported`);
    }
  }
  return out;
}
