// normkit export: a trained checkpoint's model in a format other tools read. safetensors holds
// the state dict under PyTorch's key names, so the same architecture in PyTorch loads it with
// load_state_dict(strict=True) (docs/interop.md).
import { saveSafetensorsFile } from '../io/safetensors-file.js';
import { buildModel } from '../train/models.js';
import { readRun, restoreRun } from '../train/session.js';

export function runExport(o: { checkpoint: string; safetensors?: string }): void {
  if (o.safetensors === undefined)
    throw new Error('export: name an output, e.g. --safetensors model.safetensors');
  const run = readRun(o.checkpoint);
  const model = buildModel(run.meta.config);
  restoreRun(run, model, null);
  const c = run.meta.config;
  const sd = model.stateDict();
  saveSafetensorsFile(o.safetensors, sd, {
    metadata: {
      format: 'pt',
      'normkit.model': String(c.model),
      'normkit.norm': String(c.norm),
      ...(c.width !== undefined ? { 'normkit.width': String(c.width) } : {}),
    },
  });
  console.log(
    `${o.safetensors}: ${Object.keys(sd).length} tensors of the ${c.model}/${c.norm} model ` +
      `(${model.numParameters()} parameters) after ${run.meta.epochsDone} epochs`,
  );
}
