// The controls of one run: every field of its RunConfig, each a labelled native control
// (keyboard operable as is). A change of any of them resets the run.
import {
  BATCH_SIZES,
  DEPTH_LIMITS,
  DROPOUT_POSITIONS,
  GAIN_LIMITS,
  LR_LIMITS,
  MODELS,
  NORM_POSITIONS,
  NORMS,
  OPTIMIZERS,
  type RunConfig,
} from '../../src/playground/config.js';

const NORM_NAMES: Record<string, string> = {
  none: 'none',
  batch: 'BatchNorm',
  group: 'GroupNorm',
  layer: 'LayerNorm',
  instance: 'InstanceNorm',
  renorm: 'Batch Renorm',
};
const OPTIMIZER_NAMES: Record<string, string> = {
  sgd: 'SGD',
  momentum: 'SGD, momentum 0.9',
  adam: 'Adam',
};
const WEIGHT_DECAYS = [0, 1e-4, 5e-4, 1e-3, 5e-3];

interface Props {
  id: string;
  config: RunConfig;
  onChange: (patch: Partial<RunConfig>) => void;
}

function Select<T extends string | number>(p: {
  id: string;
  label: string;
  value: T;
  options: readonly T[];
  names?: Record<string, string>;
  onChange: (v: T) => void;
}) {
  return (
    <label for={p.id}>
      <span>{p.label}</span>
      <select
        id={p.id}
        value={String(p.value)}
        onChange={(e) => {
          const raw = (e.currentTarget as HTMLSelectElement).value;
          p.onChange((typeof p.value === 'number' ? Number(raw) : raw) as T);
        }}
      >
        {p.options.map((o) => (
          <option value={String(o)}>{p.names?.[String(o)] ?? String(o)}</option>
        ))}
      </select>
    </label>
  );
}

/** A slider over log10 of the value; it applies on release, and shows the value as it moves. */
function LogSlider(p: {
  id: string;
  label: string;
  value: number;
  limits: [number, number];
  onChange: (v: number) => void;
}) {
  const [lo, hi] = p.limits.map(Math.log10);
  const show = (e: Event & { currentTarget: HTMLInputElement }) => {
    const out = e.currentTarget.parentElement!.querySelector('output')!;
    out.value = (10 ** Number(e.currentTarget.value)).toPrecision(2);
  };
  return (
    <label for={p.id}>
      <span>{p.label}</span>
      <input
        id={p.id}
        type="range"
        min={lo}
        max={hi}
        step={0.05}
        value={Math.log10(p.value)}
        aria-valuetext={p.value.toPrecision(2)}
        onInput={show}
        onChange={(e) => p.onChange(Number((10 ** Number(e.currentTarget.value)).toPrecision(2)))}
      />
      <output for={p.id}>{p.value.toPrecision(2)}</output>
    </label>
  );
}

export function Controls({ id, config: c, onChange }: Props) {
  const [dLo, dHi] = DEPTH_LIMITS[c.model];
  const resnet = c.model === 'resnet';
  return (
    <fieldset class="controls">
      <legend>Network and training</legend>
      <Select
        id={`${id}-model`}
        label="model"
        value={c.model}
        options={MODELS}
        names={{ mlp: 'MLP', cnn: 'CNN', resnet: 'ResNet' }}
        onChange={(model) => {
          const [lo, hi] = DEPTH_LIMITS[model];
          onChange({ model, depth: Math.min(hi, Math.max(lo, c.depth)) });
        }}
      />
      <Select
        id={`${id}-norm`}
        label="normalization"
        value={c.norm}
        options={NORMS}
        names={NORM_NAMES}
        onChange={(norm) => onChange({ norm })}
      />
      <Select
        id={`${id}-batch`}
        label="batch size"
        value={c.batchSize}
        options={BATCH_SIZES}
        onChange={(batchSize) => onChange({ batchSize })}
      />
      <LogSlider
        id={`${id}-lr`}
        label="learning rate"
        value={c.lr}
        limits={LR_LIMITS}
        onChange={(lr) => onChange({ lr })}
      />
      <Select
        id={`${id}-opt`}
        label="optimizer"
        value={c.optimizer}
        options={OPTIMIZERS}
        names={OPTIMIZER_NAMES}
        onChange={(optimizer) => onChange({ optimizer })}
      />
      <Select
        id={`${id}-wd`}
        label="weight decay"
        value={c.weightDecay}
        options={WEIGHT_DECAYS}
        onChange={(weightDecay) => onChange({ weightDecay })}
      />
      <label for={`${id}-decay-norm`} class="check">
        <input
          id={`${id}-decay-norm`}
          type="checkbox"
          checked={c.decayNorm}
          onChange={(e) => onChange({ decayNorm: e.currentTarget.checked })}
        />
        <span>decay norm parameters and biases too</span>
      </label>
      <LogSlider
        id={`${id}-gain`}
        label="init gain (× He)"
        value={c.initGain}
        limits={GAIN_LIMITS}
        onChange={(initGain) => onChange({ initGain })}
      />
      <label for={`${id}-depth`}>
        <span>depth</span>
        <input
          id={`${id}-depth`}
          type="number"
          min={dLo}
          max={dHi}
          value={c.depth}
          onChange={(e) => {
            const v = Math.round(Number(e.currentTarget.value));
            if (v >= dLo && v <= dHi) onChange({ depth: v });
            else e.currentTarget.value = String(c.depth);
          }}
        />
      </label>
      <label for={`${id}-dropout`}>
        <span>dropout</span>
        <input
          id={`${id}-dropout`}
          type="range"
          min={0}
          max={0.8}
          step={0.1}
          value={c.dropout}
          disabled={resnet}
          onChange={(e) => onChange({ dropout: Number(e.currentTarget.value) })}
        />
        <output for={`${id}-dropout`}>{c.dropout.toFixed(1)}</output>
      </label>
      <Select
        id={`${id}-drop-pos`}
        label="dropout sits"
        value={c.dropoutPosition}
        options={DROPOUT_POSITIONS}
        names={{ 'after-relu': 'after the ReLU', 'before-norm': 'before the norm' }}
        onChange={(dropoutPosition) => onChange({ dropoutPosition })}
      />
      <Select
        id={`${id}-norm-pos`}
        label="norm sits"
        value={c.normPosition}
        options={NORM_POSITIONS}
        names={{ 'before-relu': 'before the ReLU', 'after-relu': 'after the ReLU' }}
        onChange={(normPosition) => onChange({ normPosition })}
      />
      <label for={`${id}-seed`}>
        <span>seed</span>
        <input
          id={`${id}-seed`}
          type="number"
          min={0}
          value={c.seed}
          onChange={(e) => {
            const v = Math.round(Number(e.currentTarget.value));
            if (v >= 0 && v < 2 ** 31) onChange({ seed: v });
            else e.currentTarget.value = String(c.seed);
          }}
        />
      </label>
      {resnet && (
        <p class="hint">
          ResNet: the norm position applies to the stem; the blocks keep theirs (conv, norm, ReLU)
          and have no dropout.
        </p>
      )}
    </fieldset>
  );
}
