// nn.Embedding: a [numEmbeddings, embeddingDim] table looked up by integer indices, as
// PyTorch's (weight initialized from N(0, 1), the paddingIdx row zero and without gradient).
import { embedding } from '../ops/embedding.js';
import { randn } from '../tensor/create.js';
import type { Tensor } from '../tensor/tensor.js';
import { checkSizes } from './input-checks.js';
import { Module } from './module.js';

export class Embedding extends Module {
  readonly weight: Tensor;
  readonly paddingIdx: number | null;

  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    opts: { paddingIdx?: number | null } = {},
  ) {
    super();
    checkSizes('Embedding', 'numEmbeddings and embeddingDim', [numEmbeddings, embeddingDim]);
    const p = opts.paddingIdx ?? null;
    if (p !== null && !(Number.isInteger(p) && p >= -numEmbeddings && p < numEmbeddings)) {
      throw new Error(
        `Embedding: expected paddingIdx in [${-numEmbeddings}, ${numEmbeddings - 1}], got ${p}`,
      );
    }
    this.paddingIdx = p === null ? null : p < 0 ? p + numEmbeddings : p;
    this.weight = this.registerParameter('weight', randn([numEmbeddings, embeddingDim]))!;
    if (this.paddingIdx !== null) {
      const d = embeddingDim;
      this.weight.data.fill(0, this.paddingIdx * d, (this.paddingIdx + 1) * d);
    }
  }

  override describe(): string {
    const pad = this.paddingIdx === null ? '' : `, paddingIdx=${this.paddingIdx}`;
    return `Embedding(${this.numEmbeddings}, ${this.embeddingDim}${pad})`;
  }

  /** indices: a tensor of integers in [0, numEmbeddings); output [...indices.shape, embeddingDim]. */
  forward(indices: Tensor): Tensor {
    return embedding(this.weight, indices, { paddingIdx: this.paddingIdx, name: this.describe() });
  }
}
