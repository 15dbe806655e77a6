export type DType = 'float32' | 'float64';
export type TypedArray = Float32Array | Float64Array;

/** Refuses a dtype normkit does not store (tensors hold float32 or float64 only). */
export function checkDType(where: string, dtype: unknown): asserts dtype is DType {
  if (dtype !== 'float32' && dtype !== 'float64') {
    throw new Error(
      `${where}: expected dtype 'float32' or 'float64', got ${JSON.stringify(dtype)}`,
    );
  }
}

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
