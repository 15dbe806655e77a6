// Builds the bundled Fashion-MNIST subset from the full IDX files (Debian's
// dataset-fashion-mnist): the first 10,000 training images and labels, and the full test set.
// Usage: node scripts/make-bundled-data.mjs [/usr/share/datasets/fashion-mnist]
import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { join } from 'node:path';

const src = process.argv[2] ?? '/usr/share/datasets/fashion-mnist';
const dst = new URL('../data/fashion-mnist/', import.meta.url).pathname;
const TRAIN = 10000;

function subset(name, itemBytes) {
  const raw = gunzipSync(readFileSync(join(src, name)));
  const dims = raw[3];
  const header = Buffer.from(raw.subarray(0, 4 + 4 * dims));
  header.writeUInt32BE(TRAIN, 4);
  const body = raw.subarray(4 + 4 * dims, 4 + 4 * dims + TRAIN * itemBytes);
  writeFileSync(join(dst, name), gzipSync(Buffer.concat([header, body]), { level: 9 }));
}

subset('train-images-idx3-ubyte.gz', 28 * 28);
subset('train-labels-idx1-ubyte.gz', 1);
for (const f of ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'])
  copyFileSync(join(src, f), join(dst, f));
console.log(`wrote ${TRAIN} training and 10000 test examples to ${dst}`);
