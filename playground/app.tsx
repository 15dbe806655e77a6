// The playground page: two runs, A and B, each trained in its own Web Worker, with a shared
// chart of their curves, presets that set both at once, and each run's controls and views.
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import './style.css';
// config.js only: the library itself runs in the workers, not in the page.
import {
  DEFAULT_CONFIG,
  PRESETS,
  runConfig,
  type Preset,
  type RunConfig,
} from '../src/playground/config.js';
import { Curves } from './components/curves.js';
import { RunPanel } from './components/run-panel.js';
import { RunClient } from './run-client.js';

// Main-thread tasks over 50 ms, kept for the browser test (the page must stay responsive).
const longTasks: { start: number; duration: number }[] = [];
try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) longTasks.push({ start: e.startTime, duration: e.duration });
  }).observe({ type: 'longtask', buffered: true });
} catch {
  // No Long Tasks API in this browser: nothing to record.
}

const runs = { A: new RunClient('A'), B: new RunClient('B') };
(globalThis as Record<string, unknown>).__playground = { runs, longTasks };

type Name = keyof typeof runs;
interface View {
  forgotEval: boolean;
  watch: number;
}

function useRedraw(): void {
  const [, setTick] = useState(0);
  useEffect(() => {
    let frame = 0;
    const redraw = () => {
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        setTick((t) => t + 1);
      });
    };
    const off = [runs.A.subscribe(redraw), runs.B.subscribe(redraw)];
    return () => off.forEach((f) => f());
  }, []);
}

function App() {
  useRedraw();
  const [configs, setConfigs] = useState<Record<Name, RunConfig>>({
    A: runConfig({ norm: 'batch' }),
    B: runConfig({ norm: 'none' }),
  });
  const [views, setViews] = useState<Record<Name, View>>({
    A: { forgotEval: false, watch: 0 },
    B: { forgotEval: false, watch: 0 },
  });
  const [sameSeed, setSameSeed] = useState(true);
  const [preset, setPreset] = useState<Preset | null>(PRESETS[0]);

  // Every config change reaches its worker, which rebuilds the run (and starts it after a preset).
  const startAfter = useRef({ A: false, B: false });
  const configure = (name: Name) => {
    runs[name].send({ type: 'configure', config: configs[name] });
    if (startAfter.current[name]) runs[name].send({ type: 'start' });
    startAfter.current[name] = false;
  };
  useEffect(() => configure('A'), [configs.A]);
  useEffect(() => configure('B'), [configs.B]);
  useEffect(() => runs.A.send({ type: 'view', ...views.A }), [views.A]);
  useEffect(() => runs.B.send({ type: 'view', ...views.B }), [views.B]);

  const change = (name: Name, patch: Partial<RunConfig>) => {
    setPreset(null);
    setConfigs((c) => {
      const next = { ...c, [name]: runConfig({ ...c[name], ...patch }) };
      if (sameSeed && patch.seed !== undefined) {
        const other: Name = name === 'A' ? 'B' : 'A';
        next[other] = runConfig({ ...c[other], seed: patch.seed });
      }
      return next;
    });
  };
  const reset = (name: Name) => setConfigs((c) => ({ ...c, [name]: { ...c[name] } }));
  const applyPreset = (p: Preset) => {
    setPreset(p);
    setConfigs((c) => ({
      A: runConfig({ ...DEFAULT_CONFIG, ...p.a, seed: c.A.seed }),
      B: runConfig({ ...DEFAULT_CONFIG, ...p.b, seed: sameSeed ? c.A.seed : c.B.seed }),
    }));
    setViews((v) => ({
      A: { ...v.A, forgotEval: false },
      B: { ...v.B, forgotEval: p.bForgetsEval ?? false },
    }));
    startAfter.current = { A: true, B: true };
  };
  const both = (type: 'start' | 'pause') => {
    runs.A.send({ type });
    runs.B.send({ type });
  };

  const ready = runs.A.ready ?? runs.B.ready;
  const fallback = ready !== null && !ready.isolated;
  return (
    <>
      <header>
        <h1>normkit playground</h1>
        <p>
          Two networks trained side by side on 10,000 Fashion-MNIST images, in your browser, each in
          its own Web Worker. Change one thing and watch what normalization does inside them.
        </p>
        {fallback && (
          <p class="notice" role="alert" data-testid="fallback">
            This page is not cross-origin isolated, so kernel threads cannot start: each run trains
            on one thread, on the {ready.backend === 'wasm' ? 'WebAssembly' : 'JavaScript'} kernels
            {ready.backend === 'js'
              ? ' (this browser gives no shared WebAssembly memory without isolation)'
              : ''}
            . Serve the page with <code>Cross-Origin-Opener-Policy: same-origin</code> and{' '}
            <code>Cross-Origin-Embedder-Policy: require-corp</code> (<code>npm run playground</code>{' '}
            does) for threads.
          </p>
        )}
        <div class="buttons top">
          <button type="button" onClick={() => both('start')}>
            Start both
          </button>
          <button type="button" onClick={() => both('pause')}>
            Pause both
          </button>
          <label class="check" for="same-seed">
            <input
              id="same-seed"
              type="checkbox"
              checked={sameSeed}
              onChange={(e) => setSameSeed(e.currentTarget.checked)}
            />
            <span>same seed for A and B</span>
          </label>
        </div>
        <nav class="presets" aria-label="Presets">
          {PRESETS.map((p) => (
            <button
              type="button"
              aria-pressed={preset === p}
              title={p.watch}
              onClick={() => applyPreset(p)}
            >
              {p.name}
            </button>
          ))}
        </nav>
        {preset && (
          <p class="preset-note">
            <strong>{preset.name}:</strong> {preset.watch} (lab experiment <code>{preset.lab}</code>
            ).
          </p>
        )}
      </header>
      <main>
        <Curves a={runs.A} b={runs.B} />
        <div class="runs">
          {(['A', 'B'] as const).map((name) => (
            <RunPanel
              run={runs[name]}
              name={name}
              config={configs[name]}
              forgotEval={views[name].forgotEval}
              watch={views[name].watch}
              onConfig={(p) => change(name, p)}
              onView={(v) => setViews((all) => ({ ...all, [name]: { ...all[name], ...v } }))}
              onReset={() => reset(name)}
            />
          ))}
        </div>
      </main>
    </>
  );
}

const root = document.getElementById('app')!;
root.textContent = ''; // the loading message
render(<App />, root);
