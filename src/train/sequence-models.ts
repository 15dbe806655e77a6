// Fashion-MNIST as sequences (each image 28 steps of 28 pixels): an LSTM and a small
// Transformer encoder, each with a choice of normalization on the features the classifier
// reads, for the CLI's --model lstm | transformer. Both take per-image lengths (the rows
// after are padding: the LSTM's state stops there, the Transformer masks those keys and pools
// over real rows only), and can train on random-length crops (`minLength`).
import * as nn from '../nn/index.js';
import { add, div, mul } from '../ops/arith.js';
import { mean, sum } from '../ops/reduce.js';
import { reshape } from '../ops/shape-ops.js';
import { rng } from '../random.js';
import { tensor } from '../tensor/create.js';
import type { Tensor } from '../tensor/tensor.js';

const STEPS = 28;

/** [N, 1, 28, 28] images read row by row: [N, 28 steps, 28 features]. */
const rows = (x: Tensor) => reshape(x, [x.shape[0], STEPS, 28]);

export interface SequenceOptions {
  /**
   * In training, crop each image to a random number of rows in [minLength, 28] (uniform,
   * from normkit's seeded generator); the rest is padding, masked. Evaluation reads all 28.
   */
  minLength?: number;
}

function checkMinLength(name: string, minLength: number | undefined): void {
  if (
    minLength !== undefined &&
    !(Number.isInteger(minLength) && minLength >= 1 && minLength <= STEPS)
  )
    throw new Error(`${name}: expected minLength an integer in [1, ${STEPS}], got ${minLength}`);
}

/** The lengths to use: the caller's, else random crops in training with minLength, else none. */
function lengthsFor(
  name: string,
  N: number,
  given: readonly number[] | undefined,
  minLength: number | undefined,
  training: boolean,
): readonly number[] | undefined {
  if (given !== undefined) {
    if (given.length !== N || !given.every((v) => Number.isInteger(v) && v >= 1 && v <= STEPS))
      throw new Error(
        `${name}: expected ${N} lengths, integers in [1, ${STEPS}], got [${given.join(', ')}]`,
      );
    return given;
  }
  if (!training || minLength === undefined || minLength === STEPS) return undefined;
  return Array.from(
    { length: N },
    () => minLength + Math.floor(rng.uniform() * (STEPS - minLength + 1)),
  );
}

export class LstmClassifier extends nn.Module {
  readonly lstm: nn.LSTM;
  readonly head: nn.Sequential;

  constructor(
    hidden: number,
    norm: nn.NormFactory,
    readonly opts: SequenceOptions = {},
  ) {
    super();
    checkMinLength('LstmClassifier', opts.minLength);
    this.lstm = this.registerModule('lstm', new nn.LSTM(28, hidden, { batchFirst: true }));
    this.head = this.registerModule(
      'head',
      new nn.Sequential(norm(hidden), new nn.Linear(hidden, 10)),
    );
  }

  override describe(): string {
    return `LstmClassifier(${this.lstm.hiddenSize})`;
  }

  /** Logits [N, 10]; `lengths` gives each image's real rows (default: random crops or all). */
  forward(x: Tensor, lengths?: readonly number[]): Tensor {
    const N = x.shape[0];
    const lens = lengthsFor(this.describe(), N, lengths, this.opts.minLength, this.training);
    // The state after each sequence's last real row.
    const { hN } = this.lstm.run(rows(x), { lengths: lens });
    return this.head.call(reshape(hN, [N, this.lstm.hiddenSize]));
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
    readonly opts: SequenceOptions = {},
  ) {
    super();
    checkMinLength('TransformerClassifier', opts.minLength);
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

  /** Logits [N, 10]; `lengths` gives each image's real rows (default: random crops or all). */
  forward(x: Tensor, lengths?: readonly number[]): Tensor {
    const N = x.shape[0];
    const lens = lengthsFor(this.describe(), N, lengths, this.opts.minLength, this.training);
    const emb = add(this.embed.call(rows(x)), this.pe);
    if (lens === undefined) return this.head.call(mean(this.encoder.call(emb), 1)); // [N, 28, d]
    // Padding gets no attention and is left out of the mean.
    const pad = lens.map((len) => Array.from({ length: STEPS }, (_, t) => (t >= len ? 1 : 0)));
    const h = this.encoder.call(emb, { keyPaddingMask: pad });
    const real = tensor(
      pad.flat().map((p) => 1 - p),
      [N, STEPS, 1],
    );
    const pooled = div(sum(mul(h, real), 1), tensor(lens, [N, 1]));
    return this.head.call(pooled);
  }
}
