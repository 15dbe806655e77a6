// normkit export: a trained checkpoint's model in a format other tools read. safetensors holds
// the state dict under PyTorch's key names, so the same architecture in PyTorch loads it with
// load_state_dict(strict=True); ONNX holds the whole eval-mode network, for onnxruntime and
// the other ONNX runtimes (docs/interop.md).
import { writeFileAtomic } from '../io/checkpoint.js';
import { saveSafetensorsFile } from '../io/safetensors-file.js';
import { exportOnnx } from '../onnx/export.js';
import { buildModel } from '../train/models.js';
import { readRun, restoreRun } from '../train/session.js';

export function runExport(o: {
  checkpoint: string;
  safetensors?: string;
  onnx?: string;
  opset?: number;
}): void {
  if (o.safetensors === undefined && o.onnx === undefined)
    throw new Error(
      'export: name an output, e.g. --safetensors model.safetensors or --onnx model.onnx',
    );
  const run = readRun(o.checkpoint);
  const model = buildModel(run.meta.config);
  restoreRun(run, model, null);
  const c = run.meta.config;
  const sd = model.stateDict();
  const what = `the ${c.model}/${c.norm} model (${model.numParameters()} parameters) after ${run.meta.epochsDone} epochs`;
  if (o.onnx !== undefined) {
    const bytes = exportOnnx(model, { inputShape: [1, 1, 28, 28], opset: o.opset });
    writeFileAtomic(o.onnx, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    console.log(`${o.onnx}: ONNX (opset ${o.opset ?? 17}, input [N, 1, 28, 28]) of ${what}`);
  }
  if (o.safetensors === undefined) return;
  saveSafetensorsFile(o.safetensors, sd, {
    metadata: {
      format: 'pt',
      'normkit.model': String(c.model),
      'normkit.norm': String(c.norm),
      ...(c.width !== undefined ? { 'normkit.width': String(c.width) } : {}),
    },
  });
  console.log(`${o.safetensors}: ${Object.keys(sd).length} tensors of ${what}`);
}
