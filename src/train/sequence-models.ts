// Fashion-MNIST as sequences (each image 28 steps of 28 pixels): an LSTM and a small
// Transformer encoder, each with a choice of normalization on the features the classifier
// reads, for the CLI's --model lstm | transformer.
import * as nn from '../nn/index.js';
import { add } from '../ops/arith.js';
import { mean } from '../ops/reduce.js';
import { reshape, slice } from '../ops/shape-ops.js';
import type { Tensor } from '../tensor/tensor.js';

/** [N, 1, 28, 28] images read row by row: [N, 28 steps, 28 features]. */
const rows = (x: Tensor) => reshape(x, [x.shape[0], 28, 28]);

export class LstmClassifier extends nn.Module {
  readonly lstm: nn.LSTM;
  readonly head: nn.Sequential;

  constructor(hidden: number, norm: nn.NormFactory) {
    super();
    this.lstm = this.registerModule('lstm', new nn.LSTM(28, hidden, { batchFirst: true }));
    this.head = this.registerModule(
      'head',
      new nn.Sequential(norm(hidden), new nn.Linear(hidden, 10)),
    );
  }

  override describe(): string {
    return `LstmClassifier(${this.lstm.hiddenSize})`;
  }

  forward(x: Tensor): Tensor {
    const out = this.lstm.call(rows(x)); // [N, 28, H]
    const last = reshape(slice(out, 1, 27, 28), [x.shape[0], this.lstm.hiddenSize]);
    return this.head.call(last);
  }
}

export class TransformerClassifier extends nn.Module {
  readonly embed: nn.Linear;
  readonly encoder: nn.TransformerEncoder;
  readonly head: nn.Sequential;
  private readonly pe: Tensor;

  constructor(
    readonly dModel: number,
    norm: nn.NormFactory,
  ) {
    super();
    const heads = dModel % 4 === 0 ? 4 : 1;
    this.embed = this.registerModule('embed', new nn.Linear(28, dModel));
    this.encoder = this.registerModule(
      'encoder',
      new nn.TransformerEncoder(
        () =>
          new nn.TransformerEncoderLayer(dModel, heads, {
            dimFeedforward: 2 * dModel,
            batchFirst: true,
            normFirst: true,
          }),
        2,
        new nn.LayerNorm(dModel),
      ),
    );
    this.head = this.registerModule(
      'head',
      new nn.Sequential(norm(dModel), new nn.Linear(dModel, 10)),
    );
    this.pe = this.registerBuffer('positional_encoding', nn.positionalEncoding(28, dModel))!;
  }

  override describe(): string {
    return `TransformerClassifier(${this.dModel})`;
  }

  forward(x: Tensor): Tensor {
    const h = this.encoder.call(add(this.embed.call(rows(x)), this.pe)); // [N, 28, d]
    return this.head.call(mean(h, 1));
  }
}
