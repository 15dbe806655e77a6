// safetensors files in Node: written atomically (a temporary file renamed over the target),
// as checkpoints are, so an interrupted save never destroys the previous file.
import { readFileSync } from 'node:fs';
import type { Tensor } from '../tensor/tensor.js';
import { writeFileAtomic } from './checkpoint.js';
import { type SaveSafetensorsOptions, loadSafetensors, saveSafetensors } from './safetensors.js';

export function saveSafetensorsFile(
  path: string,
  tensors: Record<string, Tensor>,
  opts: SaveSafetensorsOptions = {},
): void {
  const bytes = saveSafetensors(tensors, opts);
  writeFileAtomic(path, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

export function loadSafetensorsFile(path: string): Record<string, Tensor> {
  const b = readFileSync(path);
  try {
    return loadSafetensors(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}
