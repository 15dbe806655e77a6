// One run's column: its status and buttons, its controls, and the views of its insides.
import type { RunConfig } from '../../src/playground/index.js';
import type { RunClient } from '../run-client.js';
import { HistogramChart, LayerBars } from './bars.js';
import { BnWatchView } from './bn-watch.js';
import { Controls } from './controls.js';
import { COLORS } from './curves.js';
import { ImageGrid } from './image-grid.js';

interface Props {
  run: RunClient;
  name: 'A' | 'B';
  config: RunConfig;
  forgotEval: boolean;
  watch: number;
  onConfig: (patch: Partial<RunConfig>) => void;
  onView: (view: { forgotEval?: boolean; watch?: number }) => void;
  onReset: () => void;
}

/** Step, speed and kernels after the state: ' · step 120 · 4.1 ms/step · WASM SIMD, 1 thread'. */
function counters(run: RunClient): string {
  const ready = run.ready!;
  const ms = run.medianMs();
  const build = ready.build === 'relaxed-simd' ? 'relaxed SIMD' : 'SIMD';
  const threads = `${ready.threads} thread${ready.threads > 1 ? 's' : ''}`;
  const kernels = ready.backend === 'wasm' ? `WASM ${build}, ${threads}` : 'JS kernels';
  const diverged =
    run.state === 'diverged' ? ' · diverged (loss not finite): reset to try again' : '';
  return ` · step ${run.steps.length} · ${ms === null ? '–' : ms.toFixed(1)} ms/step · ${kernels}${diverged}`;
}

export function RunPanel({
  run,
  name,
  config,
  forgotEval,
  watch,
  onConfig,
  onView,
  onReset,
}: Props) {
  const id = `run-${name.toLowerCase()}`;
  const color = COLORS[name];
  const snap = run.probe?.snapshot;
  const lastEval = run.evals.at(-1);
  const running = run.state === 'running';
  const usable = run.ready !== null && run.state !== 'loading';
  return (
    <section class="panel run" aria-labelledby={`${id}-title`} style={{ borderTopColor: color }}>
      <h2 id={`${id}-title`}>
        Run {name}{' '}
        <small>
          {config.model.toUpperCase()}, {config.norm === 'none' ? 'no norm' : config.norm}
        </small>
      </h2>
      {/* The counters change ten times a second: only the state is announced. */}
      <p class="status" data-testid={`${id}-status`}>
        <span role="status" aria-live="polite">
          {run.error ? `error: ${run.error}` : run.ready ? run.state : 'loading kernels and data…'}
        </span>
        {run.ready && !run.error && <span aria-hidden="true">{counters(run)}</span>}
      </p>
      <div class="buttons">
        <button
          type="button"
          disabled={!usable || running || run.state === 'diverged'}
          onClick={() => run.send({ type: 'start' })}
        >
          Start
        </button>
        <button type="button" disabled={!running} onClick={() => run.send({ type: 'pause' })}>
          Pause
        </button>
        <button
          type="button"
          disabled={!usable || running || run.state === 'diverged'}
          onClick={() => run.send({ type: 'step' })}
        >
          Step
        </button>
        <button type="button" disabled={!usable} onClick={onReset}>
          Reset
        </button>
      </div>
      <Controls id={id} config={config} onChange={onConfig} />
      <label for={`${id}-forgot`} class="check">
        <input
          id={`${id}-forgot`}
          type="checkbox"
          checked={forgotEval}
          onChange={(e) => onView({ forgotEval: e.currentTarget.checked })}
        />
        <span>
          forgot eval(): evaluate in training mode (batch statistics; the running statistics move)
        </span>
      </label>
      <p class="accuracy" data-testid={`${id}-accuracy`}>
        test accuracy (first 1,000 test images{lastEval?.trainMode ? ', training mode' : ''}):{' '}
        <strong>{lastEval ? `${(100 * lastEval.accuracy).toFixed(1)} %` : '–'}</strong>
        {lastEval && ` at step ${lastEval.step}`}
      </p>
      {run.ready && (
        <ImageGrid
          images={run.ready.grid.images}
          labels={run.ready.grid.labels}
          predictions={lastEval?.predictions ?? null}
        />
      )}
      {snap ? (
        <div class="insides">
          <h3>Activations entering and leaving each norm (step {run.probe!.step})</h3>
          <div class="hist-grid" data-testid={`${id}-histograms`}>
            {snap.norms.map((p) => (
              <div class="hist-row">
                <p class="layer">{p.name}</p>
                <HistogramChart h={p.before} color="#888888" label={`${p.name}, input`} />
                <HistogramChart h={p.after} color={color} label={`${p.name}, output`} />
              </div>
            ))}
          </div>
          <h3>Fraction of active ReLU outputs, by layer</h3>
          <LayerBars
            values={snap.relu}
            color={color}
            label="Fraction of ReLU outputs above zero"
            range={[0, 1]}
          />
          <h3>Gradient norm of each weight layer (log scale)</h3>
          <LayerBars
            values={snap.gradNorms}
            color={color}
            label="Gradient norm of each weight"
            log
          />
          <ol class="layer-names">
            {snap.gradNorms.map((g) => (
              <li>{g.name}</li>
            ))}
          </ol>
          <h3>BatchNorm statistics: running vs this batch</h3>
          {snap.bn ? (
            <>
              <label for={`${id}-watch`}>
                <span>layer</span>
                <select
                  id={`${id}-watch`}
                  value={String(watch)}
                  onChange={(e) => onView({ watch: Number(e.currentTarget.value) })}
                >
                  {snap.bnLayers.map((n, i) => (
                    <option value={String(i)}>{n}</option>
                  ))}
                </select>
              </label>
              <BnWatchView bn={snap.bn} />
            </>
          ) : (
            <p class="hint">This network has no BatchNorm layer.</p>
          )}
        </div>
      ) : (
        <p class="hint">The views of the network's insides appear with its first step.</p>
      )}
    </section>
  );
}
