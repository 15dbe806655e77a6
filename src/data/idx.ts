// IDX (MNIST format) parsing, runtime-neutral: a truncated or corrupt file is an error that
// says what was expected, never a silent partial load. Gzipped input needs a gunzip function
// (Node's zlib.gunzipSync fits; readIdx in 'normkit/node' passes it). A gzipped file is
// checked before it is inflated: its header (inflated from the first compressed bytes) must
// declare the expected shape, and the whole file then inflates to no more than it declared,
// so a small file that expands to gigabytes is refused, not inflated.
export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

/** zlib's options, as Node's gunzipSync takes them: output past maxOutputLength throws. */
export interface GunzipOptions {
  maxOutputLength: number;
  /** 2 (Z_SYNC_FLUSH): input cut short returns what it decodes instead of failing. */
  finishFlush?: number;
}
export type Gunzip = (bytes: Uint8Array, options: GunzipOptions) => Uint8Array;

/** What the caller expects: the rank, and each dimension (null: any size). */
export interface IdxExpectation {
  dims: (number | null)[];
  /** The most data bytes accepted (default 1 GiB). */
  maxBytes?: number;
}

const Z_SYNC_FLUSH = 2;
/** Compressed bytes inflated to read the header (Huffman tables come first), grown as needed. */
const PEEK_BYTES = 1024;
/** Deflate expands at most 1032:1, which bounds what a peek can inflate to. */
const DEFLATE_RATIO = 1032;
const DEFAULT_MAX = 2 ** 30;

interface Header {
  shape: number[];
  headerBytes: number;
  dataBytes: number;
}

function readHeader(raw: Uint8Array, source: string, complete: boolean): Header {
  if (raw.length < 4 || raw[0] !== 0 || raw[1] !== 0) {
    const got = raw.length < 2 ? 'too few bytes' : `0x${raw[0].toString(16)}${raw[1].toString(16)}`;
    throw new Error(`${source}: not an IDX file (expected magic 0x0000, got ${got})`);
  }
  if (raw[2] !== 0x08)
    throw new Error(
      `${source}: expected unsigned-byte data (type 0x08), got 0x${raw[2].toString(16)}`,
    );
  const rank = raw[3];
  const headerBytes = 4 + 4 * rank;
  if (rank === 0 || raw.length < headerBytes) {
    const what = complete ? `${raw.length} bytes` : 'in the first compressed bytes';
    throw new Error(`${source}: truncated header (rank ${rank}, ${what})`);
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const shape = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  return { shape, headerBytes, dataBytes: shape.reduce((a, b) => a * b, 1) };
}

function checkExpected(h: Header, expect: IdxExpectation | undefined, source: string): void {
  const dims = expect?.dims;
  const ok =
    dims === undefined ||
    (dims.length === h.shape.length && dims.every((d, i) => d === null || d === h.shape[i]));
  if (!ok) {
    const want = dims!.map((d) => (d === null ? 'n' : d)).join(', ');
    throw new Error(
      `${source}: expected shape [${want}], the header declares [${h.shape.join(', ')}]`,
    );
  }
  const max = expect?.maxBytes ?? DEFAULT_MAX;
  if (h.dataBytes > max) {
    throw new Error(
      `${source}: the header declares [${h.shape.join(', ')}], ${h.dataBytes} bytes, more than the ${max} accepted`,
    );
  }
}

/** Inflates a gzipped IDX file after checking what its header declares. */
function inflate(
  bytes: Uint8Array,
  source: string,
  gunzip: Gunzip,
  expect?: IdxExpectation,
): Uint8Array {
  let head: Uint8Array = new Uint8Array(0);
  for (let peek = PEEK_BYTES; ; peek *= 16) {
    const part = bytes.subarray(0, peek);
    try {
      head = gunzip(part, {
        maxOutputLength: DEFLATE_RATIO * part.length,
        finishFlush: Z_SYNC_FLUSH,
      });
    } catch (e) {
      throw new Error(`${source}: corrupt gzip stream (${(e as Error).message})`);
    }
    const enough = head.length >= 4 && head.length >= 4 + 4 * head[3];
    if (enough || part.length === bytes.length) break;
  }
  const h = readHeader(head, source, false);
  checkExpected(h, expect, source);
  const declared = h.headerBytes + h.dataBytes;
  // The gzip trailer holds the inflated size modulo 2^32.
  const n = bytes.length;
  const trailer =
    n >= 18
      ? (bytes[n - 4] | (bytes[n - 3] << 8) | (bytes[n - 2] << 16) | (bytes[n - 1] << 24)) >>> 0
      : -1;
  if (trailer !== declared % 2 ** 32) {
    throw new Error(
      `${source}: corrupt gzip stream (truncated?): the IDX header declares ${declared} bytes, the gzip trailer ${trailer}`,
    );
  }
  try {
    return gunzip(bytes, { maxOutputLength: declared });
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new Error(`${source}: inflates past the ${declared} bytes its header declares`);
    }
    throw new Error(`${source}: corrupt gzip stream (${err.message})`);
  }
}

export function parseIdx(
  bytes: Uint8Array,
  source = 'IDX data',
  gunzip?: Gunzip,
  expect?: IdxExpectation,
): IdxArray {
  let raw = bytes;
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    if (gunzip === undefined)
      throw new Error(
        `${source}: gzipped; pass a gunzip function (Node: readIdx from 'normkit/node')`,
      );
    raw = inflate(raw, source, gunzip, expect);
  }
  const h = readHeader(raw, source, true);
  checkExpected(h, expect, source);
  if (raw.length - h.headerBytes !== h.dataBytes) {
    throw new Error(
      `${source}: expected ${h.dataBytes} data bytes for shape [${h.shape.join(', ')}], got ${raw.length - h.headerBytes}`,
    );
  }
  return { shape: h.shape, data: raw.subarray(h.headerBytes) };
}
