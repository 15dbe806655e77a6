// IDX (MNIST format) parsing, runtime-neutral: a truncated or corrupt file is an error that
// says what was expected, never a silent partial load. Gzipped input needs a gunzip function
// (Node's comes with readIdx in 'normkit/node').
export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

export function parseIdx(bytes: Uint8Array, source = 'IDX data', gunzip?: (b: Uint8Array) => Uint8Array): IdxArray {
  let raw = bytes;
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    if (gunzip === undefined) throw new Error(`${source}: gzipped; pass a gunzip function (Node: readIdx from 'normkit/node')`);
    try {
      raw = gunzip(raw);
    } catch (e) {
      throw new Error(`${source}: corrupt gzip stream (${(e as Error).message})`);
    }
  }
  if (raw.length < 4 || raw[0] !== 0 || raw[1] !== 0) {
    const got = raw.length < 2 ? 'too few bytes' : `0x${raw[0].toString(16)}${raw[1].toString(16)}`;
    throw new Error(`${source}: not an IDX file (expected magic 0x0000, got ${got})`);
  }
  if (raw[2] !== 0x08) throw new Error(`${source}: expected unsigned-byte data (type 0x08), got 0x${raw[2].toString(16)}`);
  const rank = raw[3];
  const headerBytes = 4 + 4 * rank;
  if (rank === 0 || raw.length < headerBytes) throw new Error(`${source}: truncated header (rank ${rank}, ${raw.length} bytes)`);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const count = shape.reduce((a, b) => a * b, 1);
  if (raw.length - headerBytes !== count) {
    throw new Error(`${source}: expected ${count} data bytes for shape [${shape.join(', ')}], got ${raw.length - headerBytes}`);
  }
  return { shape, data: raw.subarray(headerBytes) };
}
