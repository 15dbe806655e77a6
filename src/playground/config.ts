// What one playground run trains: the controls of a run panel, their defaults and limits, and
// the presets that set runs A and B to reproduce a lab experiment in one click. Runtime-neutral:
// the page, its worker and the Node tests share it.

export const MODELS = ['mlp', 'cnn', 'resnet'] as const;
export const NORMS = ['none', 'batch', 'group', 'layer', 'instance', 'renorm'] as const;
export const OPTIMIZERS = ['sgd', 'momentum', 'adam'] as const;
export const BATCH_SIZES = [2, 4, 8, 16, 32, 64, 128, 256] as const;
export const NORM_POSITIONS = ['before-relu', 'after-relu'] as const;
export const DROPOUT_POSITIONS = ['after-relu', 'before-norm'] as const;

export type PlaygroundModel = (typeof MODELS)[number];
export type PlaygroundNorm = (typeof NORMS)[number];
export type OptimizerKind = (typeof OPTIMIZERS)[number];

export interface RunConfig {
  model: PlaygroundModel;
  norm: PlaygroundNorm;
  batchSize: number;
  lr: number;
  optimizer: OptimizerKind;
  /** L2 weight decay of the weights; norm parameters get it only when `decayNorm` is set. */
  weightDecay: number;
  decayNorm: boolean;
  /** Factor on He initialization (1: std √(2 / fan-in)). */
  initGain: number;
  /** Hidden layers (MLP), convolutions (CNN) or residual blocks (ResNet). */
  depth: number;
  dropout: number;
  dropoutPosition: (typeof DROPOUT_POSITIONS)[number];
  normPosition: (typeof NORM_POSITIONS)[number];
  seed: number;
}

export const DEPTH_LIMITS: Record<PlaygroundModel, [number, number]> = {
  mlp: [1, 16],
  cnn: [2, 8],
  resnet: [1, 6],
};
export const LR_LIMITS: [number, number] = [1e-4, 2];
export const GAIN_LIMITS: [number, number] = [0.05, 8];

export const DEFAULT_CONFIG: RunConfig = {
  model: 'cnn',
  norm: 'batch',
  batchSize: 64,
  lr: 0.1,
  optimizer: 'momentum',
  weightDecay: 0,
  decayNorm: false,
  initGain: 1,
  depth: 2,
  dropout: 0,
  dropoutPosition: 'after-relu',
  normPosition: 'before-relu',
  seed: 1,
};

/** Every field that changes what trains (all of them): a change resets the run. */
export function sameRun(a: RunConfig, b: RunConfig): boolean {
  return (Object.keys(DEFAULT_CONFIG) as (keyof RunConfig)[]).every((k) => a[k] === b[k]);
}

function oneOf<T>(field: string, value: T, allowed: readonly T[]): void {
  if (!allowed.includes(value))
    throw new Error(`RunConfig.${field}: expected one of ${allowed.join(' | ')}, got ${value}`);
}

function within(field: string, value: number, [lo, hi]: [number, number], integer = false): void {
  if (typeof value !== 'number' || !(value >= lo && value <= hi) || (integer && value % 1 !== 0))
    throw new Error(
      `RunConfig.${field}: expected ${integer ? 'an integer' : 'a number'} from ${lo} to ${hi}, got ${value}`,
    );
}

/** A complete, checked config from a partial one (missing fields take the defaults). */
export function runConfig(partial: Partial<RunConfig> = {}): RunConfig {
  const c = { ...DEFAULT_CONFIG, ...partial };
  for (const k of Object.keys(c)) {
    if (!(k in DEFAULT_CONFIG))
      throw new Error(
        `RunConfig: unknown field ${k}; expected ${Object.keys(DEFAULT_CONFIG).join(', ')}`,
      );
  }
  oneOf('model', c.model, MODELS);
  oneOf('norm', c.norm, NORMS);
  oneOf('optimizer', c.optimizer, OPTIMIZERS);
  oneOf('batchSize', c.batchSize, BATCH_SIZES);
  oneOf('normPosition', c.normPosition, NORM_POSITIONS);
  oneOf('dropoutPosition', c.dropoutPosition, DROPOUT_POSITIONS);
  within('lr', c.lr, LR_LIMITS);
  within('weightDecay', c.weightDecay, [0, 0.1]);
  within('initGain', c.initGain, GAIN_LIMITS);
  within('depth', c.depth, DEPTH_LIMITS[c.model], true);
  within('dropout', c.dropout, [0, 0.9]);
  within('seed', c.seed, [0, 2 ** 31 - 1], true);
  if (typeof c.decayNorm !== 'boolean')
    throw new Error(`RunConfig.decayNorm: expected true or false, got ${c.decayNorm}`);
  return c;
}

export interface Preset {
  name: string;
  /** What to watch for, one sentence, shown beside the button. */
  watch: string;
  /** The lab experiment it reproduces (docs/lab/README.md). */
  lab: string;
  a: Partial<RunConfig>;
  b: Partial<RunConfig>;
  /** Run B evaluates in training mode ("forgot eval()"). */
  bForgetsEval?: boolean;
}

// Each preset was run in Node for 300 steps before its text was written (run A, then B):
// the text says what to compare, not a result the page is bound to show.
export const PRESETS: Preset[] = [
  {
    name: 'BN vs no BN',
    watch:
      'the same CNN at lr 0.1 with momentum, with and without BatchNorm: compare the loss curves',
    lab: 'convergence',
    a: { norm: 'batch' },
    b: { norm: 'none' },
  },
  {
    name: 'High learning rate',
    watch: 'plain SGD at lr 0.5: does each network recover from the first steps?',
    lab: 'lr-range',
    a: { norm: 'batch', lr: 0.5, optimizer: 'sgd' },
    b: { norm: 'none', lr: 0.5, optimizer: 'sgd' },
  },
  {
    name: 'Batch size 2',
    watch:
      'BatchNorm sees 2 images per step, GroupNorm does not depend on the batch: compare the noise of the loss and the test accuracy',
    lab: 'small-batch',
    a: { norm: 'batch', batchSize: 2, lr: 0.01 },
    b: { norm: 'group', batchSize: 2, lr: 0.01 },
  },
  {
    name: 'No BN, deep',
    watch:
      'a 12-layer MLP with and without BatchNorm: compare the gradient norms of the first layers',
    lab: 'depth',
    a: { model: 'mlp', depth: 12, norm: 'batch', lr: 0.05, initGain: 0.5 },
    b: { model: 'mlp', depth: 12, norm: 'none', lr: 0.05, initGain: 0.5 },
  },
  {
    name: 'Forgot eval()',
    watch:
      'one network twice; B is evaluated in training mode on batches of 4 (batch statistics): compare test accuracy',
    lab: 'eval-mode',
    a: { model: 'mlp', norm: 'batch', batchSize: 4, lr: 0.01 },
    b: { model: 'mlp', norm: 'batch', batchSize: 4, lr: 0.01 },
    bForgetsEval: true,
  },
  {
    name: 'BN before or after ReLU',
    watch: 'both orders train: the histograms show what each one hands the next layer',
    lab: 'placement',
    a: { norm: 'batch', normPosition: 'before-relu' },
    b: { norm: 'batch', normPosition: 'after-relu' },
  },
];
