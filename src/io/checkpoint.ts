// Checkpoint files: a magic line, a JSON header (metadata, tensor table, SHA-256 of the
// payload) and the raw little-endian tensor bytes. Written to a temporary file, flushed and
// renamed over the target, so an interrupted write leaves the previous checkpoint intact.
// A truncated or corrupt file is refused with a clear error, never partially loaded.
import { createHash } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import type { DType, TypedArray } from '../tensor/dtype.js';

const MAGIC = 'NORMKIT-CHECKPOINT\n';
export const CHECKPOINT_VERSION = 1;

export interface StoredArray {
  shape: number[];
  dtype: DType;
  data: TypedArray;
}

interface Entry {
  key: string;
  shape: number[];
  dtype: DType;
  offset: number;
  bytes: number;
}

export function encodeCheckpoint(arrays: Record<string, StoredArray>, meta: unknown): Buffer {
  const entries: Entry[] = [];
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const [key, a] of Object.entries(arrays)) {
    const bytes = Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength);
    const copy = Buffer.from(bytes); // detach from shared memory before hashing and writing
    entries.push({ key, shape: a.shape, dtype: a.dtype, offset, bytes: copy.length });
    chunks.push(copy);
    offset += copy.length;
  }
  const payload = Buffer.concat(chunks);
  const sha256 = createHash('sha256').update(payload).digest('hex');
  const header = Buffer.from(
    JSON.stringify({
      version: CHECKPOINT_VERSION,
      meta,
      entries,
      payloadBytes: payload.length,
      sha256,
    }),
  );
  const len = Buffer.alloc(4);
  len.writeUInt32LE(header.length);
  return Buffer.concat([Buffer.from(MAGIC), len, header, payload]);
}

export function decodeCheckpoint(
  buf: Buffer,
  source = 'checkpoint',
): { arrays: Record<string, StoredArray>; meta: any } {
  if (buf.length < MAGIC.length + 4 || buf.subarray(0, MAGIC.length).toString() !== MAGIC) {
    throw new Error(`${source}: not a normkit checkpoint (bad magic)`);
  }
  const hlen = buf.readUInt32LE(MAGIC.length);
  const hstart = MAGIC.length + 4;
  if (buf.length < hstart + hlen)
    throw new Error(`${source}: truncated header (${buf.length} bytes)`);
  let header: {
    version: number;
    meta: unknown;
    entries: Entry[];
    payloadBytes: number;
    sha256: string;
  };
  try {
    header = JSON.parse(buf.subarray(hstart, hstart + hlen).toString());
  } catch {
    throw new Error(`${source}: corrupt header`);
  }
  if (header.version !== CHECKPOINT_VERSION) {
    throw new Error(
      `${source}: checkpoint version ${header.version}, this normkit reads version ${CHECKPOINT_VERSION}`,
    );
  }
  const payload = buf.subarray(hstart + hlen);
  if (payload.length !== header.payloadBytes) {
    throw new Error(
      `${source}: truncated: expected ${header.payloadBytes} payload bytes, got ${payload.length}`,
    );
  }
  if (createHash('sha256').update(payload).digest('hex') !== header.sha256) {
    throw new Error(`${source}: corrupt: payload checksum does not match`);
  }
  const arrays: Record<string, StoredArray> = {};
  for (const e of header.entries) {
    const raw = payload.subarray(e.offset, e.offset + e.bytes);
    const ab = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength) as ArrayBuffer;
    arrays[e.key] = {
      shape: e.shape,
      dtype: e.dtype,
      data: e.dtype === 'float64' ? new Float64Array(ab) : new Float32Array(ab),
    };
  }
  return { arrays, meta: header.meta };
}

/** Writes atomically: temp file, fsync, rename. */
export function writeFileAtomic(path: string, data: Buffer): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

export function saveCheckpoint(
  path: string,
  arrays: Record<string, StoredArray>,
  meta: unknown,
): void {
  writeFileAtomic(path, encodeCheckpoint(arrays, meta));
}

export function loadCheckpoint(path: string): { arrays: Record<string, StoredArray>; meta: any } {
  return decodeCheckpoint(readFileSync(path), path);
}
