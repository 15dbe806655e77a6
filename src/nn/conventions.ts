// Framework conventions for batch normalization. Defaults differ between PyTorch, Keras and
// ONNX, and getting them wrong is the most common porting bug; a preset sets all of them.
//
// | | PyTorch | Keras 3 | ONNX BatchNormalization-15 |
// |---|---|---|---|
// | eps | 1e-5 | 1e-3 | 1e-5 |
// | momentum | 0.1, weight of the new batch | 0.99, weight of the old value | 0.9, weight of the old value |
// | running variance stores | unbiased, n/(n−1) | biased | biased |
// | batch of one value per channel | error | no check | unspecified (no check) |
// | channel axis | 1 (NCHW) | −1 (NHWC) | 1 |

export type Convention = 'pytorch' | 'keras' | 'onnx';

export interface ConventionDefaults {
  eps: number;
  momentum: number;
  /** 'new': r = (1 − m)·r + m·batch (PyTorch); 'old': r = m·r + (1 − m)·batch (Keras, ONNX). */
  momentumWeighs: 'new' | 'old';
  /** What the running variance stores. Normalization always uses the biased batch variance. */
  runningVariance: 'unbiased' | 'biased';
  /** 1: channels first (NCHW); -1: channels last (NHWC). */
  channelAxis: 1 | -1;
  /** Refuse a training batch with one value per channel (PyTorch's check). */
  checkBatchOfOne: boolean;
}

export const CONVENTIONS: Readonly<Record<Convention, Readonly<ConventionDefaults>>> = {
  pytorch: {
    eps: 1e-5,
    momentum: 0.1,
    momentumWeighs: 'new',
    runningVariance: 'unbiased',
    channelAxis: 1,
    checkBatchOfOne: true,
  },
  keras: {
    eps: 1e-3,
    momentum: 0.99,
    momentumWeighs: 'old',
    runningVariance: 'biased',
    channelAxis: -1,
    checkBatchOfOne: false,
  },
  onnx: {
    eps: 1e-5,
    momentum: 0.9,
    momentumWeighs: 'old',
    runningVariance: 'biased',
    channelAxis: 1,
    checkBatchOfOne: false,
  },
};

export function conventionDefaults(
  name: string,
  convention: Convention = 'pytorch',
): ConventionDefaults {
  const c = CONVENTIONS[convention];
  if (c === undefined)
    throw new Error(
      `${name}: expected convention 'pytorch', 'keras' or 'onnx', got ${String(convention)}`,
    );
  return { ...c };
}
