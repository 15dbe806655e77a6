export type DType = 'float32' | 'float64';
export type TypedArray = Float32Array | Float64Array;

export function bytesPer(dtype: DType): number {
  return dtype === 'float64' ? 8 : 4;
}

export function viewOf(
  dtype: DType,
  buffer: ArrayBufferLike,
  offset: number,
  length: number,
): TypedArray {
  return dtype === 'float64'
    ? new Float64Array(buffer, offset, length)
    : new Float32Array(buffer, offset, length);
}
