// 'normkit/node': everything in 'normkit' plus what needs Node's file system: reading IDX
// files and Fashion-MNIST from disk, and checkpoints and safetensors files written atomically.
export * from './index.js';
export * as data from './data/node.js';
export { loadCheckpoint, saveCheckpoint, writeFileAtomic } from './io/checkpoint.js';
export { loadSafetensorsFile, saveSafetensorsFile } from './io/safetensors-file.js';
export * as lab from './lab/index.js';
export {
  certify,
  certifiedAccuracy,
  verifyCertificate,
  type Certificate,
} from './tools/certificate.js';
