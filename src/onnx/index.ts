// 'normkit/onnx': models out as ONNX. A separate entry point, so that 'normkit' itself loads
// in a browser without a bundler (the ONNX schema package is CommonJS).
export { exportOnnx, type ExportOnnxOptions } from './export.js';
export { importOnnx, OnnxModel, SUPPORTED_ONNX_OPS } from './import.js';
