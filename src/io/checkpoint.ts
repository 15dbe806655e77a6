// Checkpoint files: a magic line, a JSON header (metadata, tensor table, SHA-256 of the
// payload), the raw little-endian tensor bytes, and (version 2) a SHA-256 of every byte
// before it, so a flipped bit anywhere, header included, is refused rather than loaded.
// Entry offsets, lengths, shapes and dtypes are checked against the payload too. Written to
// a temporary file, flushed and renamed over the target, so an interrupted write leaves the
// previous checkpoint intact. A truncated or corrupt file is never partially loaded.
import { createHash } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { DType, TypedArray } from '../tensor/dtype.js';

const MAGIC = 'NORMKIT-CHECKPOINT\n';
export const CHECKPOINT_VERSION = 2;
const DIGEST_BYTES = 32;

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

interface Header {
  version: number;
  meta: unknown;
  entries: Entry[];
  payloadBytes: number;
  sha256: string;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();

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
  const header: Header = {
    version: CHECKPOINT_VERSION,
    meta,
    entries,
    payloadBytes: payload.length,
    sha256: sha256(payload).toString('hex'),
  };
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  const body = Buffer.concat([Buffer.from(MAGIC), len, json, payload]);
  return Buffer.concat([body, sha256(body)]);
}

export function decodeCheckpoint(
  buf: Buffer,
  source = 'checkpoint',
): { arrays: Record<string, StoredArray>; meta: any } {
  if (buf.length < MAGIC.length + 4 || buf.subarray(0, MAGIC.length).toString() !== MAGIC) {
    throw new Error(`${source}: not a normkit checkpoint (bad magic)`);
  }
  // Version 2 ends with the digest of everything before it: checked before anything is read.
  const body = buf.subarray(0, Math.max(0, buf.length - DIGEST_BYTES));
  const whole = buf.length > MAGIC.length + 4 + DIGEST_BYTES;
  const sealed = whole && sha256(body).equals(buf.subarray(buf.length - DIGEST_BYTES));
  const hlen = buf.readUInt32LE(MAGIC.length);
  const hstart = MAGIC.length + 4;
  const end = sealed ? body.length : buf.length;
  if (end < hstart + hlen) {
    throw new Error(
      `${source}: truncated or corrupt header (${hlen} header bytes declared, file has ${buf.length})`,
    );
  }
  let header: Header;
  try {
    header = JSON.parse(buf.subarray(hstart, hstart + hlen).toString());
  } catch {
    throw new Error(`${source}: corrupt header (not JSON)`);
  }
  const version = (header as { version?: unknown } | null)?.version;
  if (version !== 1 && version !== 2) {
    throw new Error(
      `${source}: checkpoint version ${String(version)}, this normkit reads versions 1 and 2`,
    );
  }
  if (version === 2 && !sealed) {
    throw new Error(
      `${source}: corrupt or truncated: the file checksum does not match (${buf.length} bytes)`,
    );
  }
  const payload = buf.subarray(hstart + hlen, end);
  if (payload.length !== header.payloadBytes) {
    throw new Error(
      `${source}: truncated: expected ${header.payloadBytes} payload bytes, got ${payload.length}`,
    );
  }
  if (sha256(payload).toString('hex') !== header.sha256) {
    throw new Error(`${source}: corrupt: payload checksum does not match`);
  }
  return { arrays: readEntries(header.entries, payload, source), meta: header.meta };
}

const BYTES_PER: Record<string, number> = { float32: 4, float64: 8 };

/** The tensor table, each entry checked: in order, in bounds, its size matching its shape. */
function readEntries(
  entries: unknown,
  payload: Buffer,
  source: string,
): Record<string, StoredArray> {
  if (!Array.isArray(entries)) throw new Error(`${source}: corrupt header (no tensor table)`);
  const arrays: Record<string, StoredArray> = {};
  let at = 0;
  for (const [i, e] of (entries as Entry[]).entries()) {
    const bad = (why: string) => new Error(`${source}: corrupt tensor table, entry ${i}: ${why}`);
    if (typeof e?.key !== 'string' || e.key in arrays) throw bad(`key ${JSON.stringify(e?.key)}`);
    const per = BYTES_PER[e.dtype];
    if (per === undefined) throw bad(`${e.key}: dtype ${JSON.stringify(e.dtype)}`);
    const shapeOk = Array.isArray(e.shape) && e.shape.every((d) => Number.isInteger(d) && d >= 0);
    if (!shapeOk) throw bad(`${e.key}: shape ${JSON.stringify(e.shape)}`);
    const bytes = e.shape.reduce((a, b) => a * b, 1) * per;
    if (e.offset !== at || e.bytes !== bytes) {
      throw bad(
        `${e.key} ${JSON.stringify(e.shape)} ${e.dtype} should be ${bytes} bytes at ${at}, ` +
          `table says ${e.bytes} at ${e.offset}`,
      );
    }
    at += bytes;
    const raw = payload.subarray(e.offset, e.offset + e.bytes);
    const ab = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength) as ArrayBuffer;
    arrays[e.key] = {
      shape: e.shape,
      dtype: e.dtype,
      data: e.dtype === 'float64' ? new Float64Array(ab) : new Float32Array(ab),
    };
  }
  if (at !== payload.length) {
    throw new Error(
      `${source}: corrupt tensor table: entries cover ${at} of ${payload.length} payload bytes`,
    );
  }
  return arrays;
}

/** Temporary files that writes killed before their rename left beside `path`. */
function removeStaleTemps(path: string): void {
  const prefix = `${basename(path)}.tmp-`;
  let names: string[];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length));
    if (Number.isInteger(pid) && pid !== process.pid && processAlive(pid)) continue;
    try {
      unlinkSync(join(dirname(path), name));
    } catch {
      // another process removed it first
    }
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Writes atomically: temp file, fsync, rename; removes temp files of killed writes. */
export function writeFileAtomic(path: string, data: Buffer): void {
  removeStaleTemps(path);
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
