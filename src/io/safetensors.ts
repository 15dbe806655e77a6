// safetensors (Hugging Face's format, read by PyTorch, JAX, TensorFlow and others): an 8-byte
// little-endian header length, a JSON header naming each tensor's dtype, shape and byte range,
// then the raw little-endian bytes. Platform-neutral (browser and Node). Reading checks the
// whole header before any tensor is made: valid JSON, known dtypes, shapes that match their
// byte ranges, and ranges that tile the data exactly (no overlap, no gap, nothing past the
// end, nothing left over), so a truncated or hand-edited file is an error, never a partial
// state dict.
import { scalar, tensor } from '../tensor/create.js';
import { Tensor } from '../tensor/tensor.js';
import { fmt, sizeOf } from '../tensor/shape.js';

/** The dtypes normkit reads; it writes F32, F64 and I64 (for integer buffers, as PyTorch). */
const READ_DTYPES = { F32: 4, F64: 8, I64: 8, F16: 2, BF16: 2 } as const;
type FileDType = keyof typeof READ_DTYPES;

/** The reference implementation's cap on the header, against files that claim gigabytes. */
const MAX_HEADER_BYTES = 100_000_000;

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1)
  throw new Error('safetensors: this platform is big-endian; the format is little-endian');

export interface SaveSafetensorsOptions {
  /** String key-value pairs stored under `__metadata__`. */
  metadata?: Record<string, string>;
  /**
   * Keys stored as int64, as PyTorch stores them (normkit holds every tensor as a float):
   * by default the BatchNorm step counters, `*num_batches_tracked`.
   */
  int64Keys?: (key: string) => boolean;
}

const defaultInt64 = (key: string) =>
  key === 'num_batches_tracked' || key.endsWith('.num_batches_tracked');

/** A state dict (or any name → tensor record) as safetensors bytes. */
export function saveSafetensors(
  tensors: Record<string, Tensor>,
  opts: SaveSafetensorsOptions = {},
): Uint8Array {
  const isInt = opts.int64Keys ?? defaultInt64;
  const header: Record<string, unknown> = {};
  if (opts.metadata !== undefined) {
    for (const [k, v] of Object.entries(opts.metadata)) {
      if (typeof v !== 'string')
        throw new Error(`saveSafetensors: metadata ${k}: expected a string, got ${typeof v}`);
    }
    header.__metadata__ = opts.metadata;
  }
  const parts: { key: string; t: Tensor; dtype: FileDType; bytes: number }[] = [];
  let offset = 0;
  for (const [key, t] of Object.entries(tensors)) {
    if (key === '__metadata__')
      throw new Error('saveSafetensors: "__metadata__" is not a tensor name');
    if (!(t instanceof Tensor) || t.isDisposed)
      throw new Error(
        `saveSafetensors: ${key}: expected a live tensor, got ${t instanceof Tensor ? 'a disposed one' : t === null ? 'null' : typeof t}`,
      );
    const dtype: FileDType = isInt(key) ? 'I64' : t.dtype === 'float64' ? 'F64' : 'F32';
    if (dtype === 'I64') {
      const bad = Array.from(t.data).find((v) => !Number.isSafeInteger(v));
      if (bad !== undefined)
        throw new Error(`saveSafetensors: ${key}: int64 key holds ${bad}, not an integer`);
    }
    const bytes = t.size * READ_DTYPES[dtype];
    header[key] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    parts.push({ key, t, dtype, bytes });
    offset += bytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  // Pad with spaces to a multiple of 8 bytes, as the reference writer does, so the data that
  // follows is aligned for readers that map the file.
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const { t, dtype, bytes } of parts) {
    const src =
      dtype === 'I64'
        ? new Uint8Array(BigInt64Array.from(Array.from(t.data), (v) => BigInt(v)).buffer)
        : new Uint8Array(t.data.buffer, t.data.byteOffset, bytes);
    out.set(src, at);
    at += bytes;
  }
  return out;
}

interface HeaderEntry {
  key: string;
  dtype: FileDType;
  shape: number[];
  begin: number;
  end: number;
}

function fail(what: string): never {
  throw new Error(`loadSafetensors: ${what}`);
}

/** The header's entries and metadata, every field checked against the data's size. */
function parseHeader(bytes: Uint8Array): {
  entries: HeaderEntry[];
  metadata: Record<string, string>;
  dataStart: number;
} {
  if (!(bytes instanceof Uint8Array)) fail(`expected a Uint8Array, got ${typeof bytes}`);
  if (bytes.length < 8)
    fail(`truncated: ${bytes.length} bytes, but the header length alone takes 8`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES))
    fail(`the header claims ${n} bytes, more than the 100 MB limit`);
  const headerBytes = Number(n);
  if (8 + headerBytes > bytes.length)
    fail(
      `truncated: the header claims ${headerBytes} bytes, the file has ${bytes.length - 8} after the length`,
    );
  let parsed: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(
      bytes.subarray(8, 8 + headerBytes),
    );
    parsed = JSON.parse(text);
  } catch (e) {
    fail(`the header is not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    fail(
      `the header must be a JSON object, got ${Array.isArray(parsed) ? 'an array' : String(parsed)}`,
    );
  const dataStart = 8 + headerBytes;
  const dataBytes = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [key, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (key === '__metadata__') {
      if (v === null || typeof v !== 'object' || Array.isArray(v))
        fail('__metadata__ must be an object of strings');
      for (const [mk, mv] of Object.entries(v as Record<string, unknown>)) {
        if (typeof mv !== 'string')
          fail(`__metadata__.${mk}: expected a string, got ${JSON.stringify(mv)}`);
        metadata[mk] = mv;
      }
      continue;
    }
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (e === null || typeof e !== 'object') fail(`${key}: expected {dtype, shape, data_offsets}`);
    if (typeof e.dtype !== 'string' || !(e.dtype in READ_DTYPES))
      fail(
        `${key}: dtype ${JSON.stringify(e.dtype)} is not one normkit reads (${Object.keys(READ_DTYPES).join(', ')})`,
      );
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      fail(`${key}: shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    const offs = e.data_offsets;
    if (
      !Array.isArray(offs) ||
      offs.length !== 2 ||
      !offs.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offs[0] > offs[1]
    )
      fail(
        `${key}: data_offsets ${JSON.stringify(offs)} is not [begin, end] with 0 <= begin <= end`,
      );
    const [begin, end] = offs as number[];
    if (end > dataBytes)
      fail(
        `${key}: data_offsets [${begin}, ${end}] run past the data (${dataBytes} bytes): truncated?`,
      );
    const dtype = e.dtype as FileDType;
    const want = sizeOf(shape) * READ_DTYPES[dtype];
    if (end - begin !== want)
      fail(
        `${key}: ${dtype} ${fmt(shape)} needs ${want} bytes, data_offsets [${begin}, ${end}] hold ${end - begin}`,
      );
    entries.push({ key, dtype, shape, begin, end });
  }
  // The byte ranges must tile the data exactly, in some order.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  for (const e of sorted) {
    if (e.begin < at)
      fail(`${e.key}: data_offsets [${e.begin}, ${e.end}] overlap another tensor's bytes`);
    if (e.begin > at)
      fail(`${e.key}: data_offsets [${e.begin}, ${e.end}] leave bytes [${at}, ${e.begin}) unused`);
    at = e.end;
  }
  if (at !== dataBytes)
    fail(`the tensors cover ${at} of the ${dataBytes} data bytes; the rest is unaccounted for`);
  return { entries, metadata, dataStart };
}

/** float16 / bfloat16 bit patterns to numbers (both convert exactly to float32). */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f,
    m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function decode(bytes: Uint8Array, start: number, e: HeaderEntry): Tensor {
  const n = sizeOf(e.shape);
  // Copy out first: the data need not be aligned for a typed view.
  const raw = bytes.slice(start + e.begin, start + e.end).buffer;
  let values: ArrayLike<number>;
  let dtype: 'float32' | 'float64' = 'float32';
  switch (e.dtype) {
    case 'F32':
      values = new Float32Array(raw);
      break;
    case 'F64':
      values = new Float64Array(raw);
      dtype = 'float64';
      break;
    case 'I64': {
      const ints = new BigInt64Array(raw);
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const v = ints[i];
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
          fail(`${e.key}: int64 value ${v} at ${i} is beyond 2^53, which a float64 cannot hold`);
        out[i] = Number(v);
      }
      values = out;
      dtype = 'float64';
      break;
    }
    case 'F16': {
      const h = new Uint16Array(raw);
      values = Float32Array.from(h, halfToFloat);
      break;
    }
    case 'BF16': {
      const h = new Uint16Array(raw);
      const f = new Float32Array(n);
      const u = new Uint32Array(f.buffer);
      for (let i = 0; i < n; i++) u[i] = h[i] << 16;
      values = f;
      break;
    }
  }
  return e.shape.length === 0 ? scalar(values[0], { dtype }) : tensor(values, e.shape, { dtype });
}

/**
 * Tensors by name from safetensors bytes: F32 → float32, F64 and I64 → float64 (integers up
 * to 2^53), F16 and BF16 → float32 (exactly). Ready for `module.loadStateDict`.
 */
export function loadSafetensors(bytes: Uint8Array): Record<string, Tensor> {
  const { entries, dataStart } = parseHeader(bytes);
  const out: Record<string, Tensor> = {};
  try {
    for (const e of entries) out[e.key] = decode(bytes, dataStart, e);
  } catch (err) {
    for (const t of Object.values(out)) t.dispose();
    throw err;
  }
  return out;
}

/** The `__metadata__` strings of safetensors bytes (the header is checked as by loadSafetensors). */
export function safetensorsMetadata(bytes: Uint8Array): Record<string, string> {
  return parseHeader(bytes).metadata;
}
