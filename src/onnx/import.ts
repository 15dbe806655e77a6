// ONNX import: a model's graph as an nn.Module whose nodes run in order with normkit ops.
// Initializers become parameters named as in the file (PyTorch's exporter names them by
// state-dict key); a BatchNormalization, Conv, ConvTranspose or Gemm node whose weights are
// initializers becomes the matching layer (BatchNorm with its running statistics, Conv2d,
// Linear, ...), so train(), fine-tuning, recalibrateBatchNorm and foldBatchNorm work on the
// imported model. An op or attribute normkit cannot run is an error naming the node; bytes
// that are not an ONNX model are an error, never a hang.
import { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Ctx, Step } from './import-step.js';
import { STEPS, SUPPORTED_ONNX_OPS } from './import-steps.js';
import { num, onnx, readAttrs, tensorFromProto } from './proto.js';

export { SUPPORTED_ONNX_OPS, tensorFromProto };

/** An imported ONNX graph. call(x, ...) returns its first output; run() returns all of them. */
export class OnnxModel extends Module {
  readonly inputNames: string[];
  readonly outputNames: string[];
  private readonly steps: { name: string; inputs: string[]; outputs: string[]; run: Step }[] = [];
  private readonly constants = new Map<string, Tensor>();
  /** Which layer module a node became, by the node's output name (for foldBatchNorm). */
  private readonly layerOf = new Map<string, Module>();
  private readonly readers = new Map<string, number>();

  constructor(bytes: Uint8Array) {
    super();
    let model: InstanceType<typeof onnx.ModelProto>;
    try {
      model = onnx.ModelProto.decode(bytes);
    } catch (e) {
      throw new Error(`importOnnx: not an ONNX model (${(e as Error).message})`);
    }
    const graph = model.graph;
    if (!graph || (graph.node ?? []).length === 0)
      throw new Error('importOnnx: not an ONNX model (no graph, or a graph without nodes)');
    const opset = num(
      (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 0,
    );
    if (opset === 0)
      throw new Error(
        'importOnnx: a model without the default ONNX opset (ai.onnx) is not supported',
      );
    const inits = new Map<string, Tensor>();
    for (const t of graph.initializer ?? [])
      inits.set(t.name ?? '', tensorFromProto(t, `initializer ${t.name}`));
    for (const v of [...(graph.input ?? []), ...(graph.output ?? [])]) {
      const t = v.type;
      if (
        t &&
        !t.tensorType &&
        (t.sequenceType || t.mapType || t.optionalType || t.sparseTensorType)
      )
        throw new Error(
          `importOnnx: graph value ${v.name} is not a tensor; sequences, maps and optionals are not supported`,
        );
    }
    this.inputNames = (graph.input ?? []).map((i) => i.name ?? '').filter((n) => !inits.has(n));
    this.outputNames = (graph.output ?? []).map((o) => o.name ?? '');
    const defined = new Set<string>([...this.inputNames, ...inits.keys()]);
    const params = new Map<string, Tensor>();
    const param = (name: string) => {
      if (!params.has(name)) {
        const t = inits.get(name)!;
        const key = name.replace(/[^A-Za-z0-9_.]/g, '_') || 'initializer';
        this.setParameter(key, t);
        // Integer initializers (shapes, axes; held as float64) are constants, not weights.
        if (t.dtype !== 'float32') t.requiresGrad = false;
        params.set(name, t);
      }
      return params.get(name)!;
    };
    const names = new Set<string>();
    (graph.node ?? []).forEach((node, i) => {
      const op = node.opType ?? '';
      const nodeName = node.name || `${op}_${i}`;
      const where = `importOnnx: node ${nodeName} (${op})`;
      if (node.domain && node.domain !== 'ai.onnx')
        throw new Error(`${where}: domain ${node.domain} is not supported`);
      const make = STEPS[op];
      if (make === undefined)
        throw new Error(
          `${where}: op ${op} is not supported (supported: ${SUPPORTED_ONNX_OPS.join(', ')})`,
        );
      const inputs = (node.input ?? []).map((n) => n ?? '');
      for (const n of inputs) {
        if (n !== '' && !defined.has(n))
          throw new Error(
            `${where}: input ${n} is not defined by an earlier node, an input or an initializer`,
          );
        this.readers.set(n, (this.readers.get(n) ?? 0) + 1);
      }
      const layerInits: number[][] = [];
      const ctx: Ctx = {
        where,
        attrs: readAttrs(node, where),
        node,
        opset,
        init: (k) => (inputs[k] && inits.has(inputs[k]) ? inits.get(inputs[k]) : undefined),
        module: (m, idx) => {
          layerInits.push(idx);
          // Named by its initializers' common prefix (PyTorch's exporter: conv1.weight,
          // conv1.bias -> conv1), so the state dict keeps the exporting model's keys.
          const keys = idx.map((k) => inputs[k]);
          const prefix = keys.every((k) => k.includes('.'))
            ? keys.map((k) => k.slice(0, k.lastIndexOf('.'))).reduce((a, b) => (a === b ? a : ''))
            : '';
          let name = (prefix || nodeName).replace(/[^A-Za-z0-9_.]/g, '_');
          while (names.has(name)) name = `${name}_`;
          names.add(name);
          this.registerModule(name, m);
          this.layerOf.set((node.output ?? [])[0] ?? '', m);
          return m;
        },
      };
      const run = make(ctx);
      const taken = new Set(layerInits.flat());
      // Initializers a layer did not take are parameters of the graph itself.
      inputs.forEach((n, k) => {
        if (n && inits.has(n) && !taken.has(k)) this.constants.set(n, param(n));
      });
      const outputs = (node.output ?? []).map((n) => n ?? '');
      for (const o of outputs) if (o) defined.add(o);
      this.steps.push({ name: nodeName, inputs, outputs, run });
    });
    for (const o of this.outputNames)
      if (!defined.has(o)) throw new Error(`importOnnx: output ${o} is not produced by any node`);
  }

  override describe(): string {
    return `OnnxModel(${this.steps.length} nodes)`;
  }

  /** Every graph output, by name, for inputs given in order or by name. */
  run(inputs: Tensor[] | Record<string, Tensor>): Record<string, Tensor> {
    const given = Array.isArray(inputs)
      ? Object.fromEntries(this.inputNames.map((n, i) => [n, inputs[i]]))
      : inputs;
    const values = new Map<string, Tensor>(this.constants);
    for (const n of this.inputNames) {
      const t = given[n];
      if (t === undefined)
        throw new Error(
          `${this.describe()}: expected inputs ${this.inputNames.join(', ')}; ${n} is missing`,
        );
      values.set(n, t);
    }
    for (const s of this.steps) {
      let outs: (Tensor | undefined)[];
      try {
        outs = s.run(s.inputs.map((n) => (n ? values.get(n) : undefined)));
      } catch (e) {
        const msg = (e as Error).message;
        throw new Error(
          msg.startsWith('importOnnx') ? msg : `${this.describe()}: node ${s.name}: ${msg}`,
        );
      }
      s.outputs.forEach((n, i) => {
        if (n && outs[i] !== undefined) values.set(n, outs[i]!);
      });
    }
    return Object.fromEntries(this.outputNames.map((n) => [n, values.get(n)!]));
  }

  forward(...inputs: Tensor[]): Tensor {
    return this.run(inputs)[this.outputNames[0]];
  }

  /**
   * Layer pairs where the second reads only the first's output and nothing else reads it
   * (what foldBatchNorm folds).
   */
  override adjacentLayers(): [Module, Module][] {
    const out: [Module, Module][] = [];
    for (const s of this.steps) {
      const layer = this.layerOf.get(s.outputs[0]);
      if (layer === undefined) continue;
      const x = s.inputs[0];
      const before = this.layerOf.get(x);
      if (before !== undefined && this.readers.get(x) === 1) out.push([before, layer]);
    }
    return out;
  }
}

/** An ONNX model (bytes) as a normkit module. */
export function importOnnx(bytes: Uint8Array): OnnxModel {
  if (!(bytes instanceof Uint8Array))
    throw new Error(`importOnnx: expected a Uint8Array, got ${typeof bytes}`);
  return new OnnxModel(bytes);
}
