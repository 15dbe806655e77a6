// One run of the playground, in its own module Web Worker: it loads the kernels (WASM, with
// kernel threads when the page is cross-origin isolated) and the bundled Fashion-MNIST
// subset, and trains between the page's commands, posting summaries: every step's loss
// (batched, at most every POST_MS), a probe of the network's insides every PROBE_MS and a
// test evaluation every EVAL_MS. It yields to its event loop between bursts of steps, so
// pause and step take effect at once.
import * as nk from '../src/index.js';
import {
  PlaygroundRun,
  type FromWorker,
  type RunConfig,
  type RunState,
  type StepRecord,
  type ToWorker,
} from '../src/playground/index.js';

const POST_MS = 100;
const PROBE_MS = 600;
const EVAL_MS = 2000;
const GRID = 24;

interface WorkerScope {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
}
const scope = self as unknown as WorkerScope;
const post = (m: FromWorker, transfer?: Transferable[]): void => scope.postMessage(m, transfer);

/** An IDX file of the bundled subset, inflated by the browser's gzip stream. */
async function idx(name: string, dims: (number | null)[]): Promise<nk.data.IdxArray> {
  const res = await fetch(new URL(`./data/${name}.gz`, import.meta.url));
  if (!res.ok || res.body === null) throw new Error(`playground: ${name}.gz: HTTP ${res.status}`);
  const raw = await new Response(
    res.body.pipeThrough(new DecompressionStream('gzip')),
  ).arrayBuffer();
  return nk.data.parseIdx(new Uint8Array(raw), name, undefined, { dims });
}

async function loadData(): Promise<{ train: nk.data.Split; test: nk.data.Split }> {
  const [ti, tl, vi, vl] = await Promise.all([
    idx('train-images-idx3-ubyte', [null, 28, 28]),
    idx('train-labels-idx1-ubyte', [null]),
    idx('t10k-images-idx3-ubyte', [null, 28, 28]),
    idx('t10k-labels-idx1-ubyte', [null]),
  ]);
  return { train: nk.data.toSplit(ti, tl), test: nk.data.toSplit(vi, vl, 1000) };
}

/** Kernel threads per run: the page trains two runs, so each gets half the cores. */
function threadsWanted(): number {
  return Math.max(1, Math.floor((navigator.hardwareConcurrency || 2) / 2));
}

/**
 * WASM kernels where the browser gives shared WebAssembly memory (Chromium does even without
 * cross-origin isolation), else the JS kernels; kernel threads only when isolated (a worker
 * can receive the shared memory only then).
 */
async function kernels(): Promise<{ backend: 'wasm' | 'js'; threads: number; note?: string }> {
  try {
    await nk.initWasm();
  } catch (e) {
    nk.setBackend('js');
    return { backend: 'js', threads: 1, note: (e as Error).message };
  }
  if (!self.crossOriginIsolated)
    return { backend: 'wasm', threads: 1, note: 'not cross-origin isolated: no kernel threads' };
  try {
    await nk.initThreads(threadsWanted());
    return { backend: 'wasm', threads: nk.getNumThreads() };
  } catch (e) {
    return { backend: 'wasm', threads: nk.getNumThreads(), note: (e as Error).message };
  }
}

let data: { train: nk.data.Split; test: nk.data.Split } | null = null;
let run: PlaygroundRun | null = null;
let state: RunState = 'loading';
let forgotEval = false;
let watch = 0;
let lastProbe = -Infinity;
let lastEval = -Infinity;
let ticking = false;

function setState(s: RunState): void {
  state = s;
  post({ type: 'state', state });
}

function evaluate(): void {
  if (!run) return;
  post({ type: 'eval', record: run.evaluate(forgotEval, GRID) });
  lastEval = performance.now();
}

/** One step, probed when the last probe is older than PROBE_MS; the record goes in `out`. */
function stepOnce(out: StepRecord[], forceProbe = false): void {
  if (!run) return;
  const probe = forceProbe || performance.now() - lastProbe > PROBE_MS;
  const { record, snapshot } = run.step(probe ? { watch } : undefined);
  out.push(record);
  if (snapshot) {
    post({ type: 'probe', step: record.step, snapshot });
    lastProbe = performance.now();
  }
}

const diverged = (): boolean => run?.divergedAt != null;

/** Steps for up to POST_MS, posts them, evaluates when due, and comes back after a yield. */
function tick(): void {
  ticking = false;
  if (state !== 'running' || !run) return;
  const records: StepRecord[] = [];
  const t0 = performance.now();
  try {
    while (!diverged() && performance.now() - t0 < POST_MS) stepOnce(records);
  } catch (e) {
    fail(e);
    return;
  }
  if (diverged()) state = 'diverged';
  post({ type: 'steps', records, state });
  if (diverged()) return evaluate();
  if (performance.now() - lastEval > EVAL_MS) evaluate();
  schedule();
}

function schedule(): void {
  if (ticking) return;
  ticking = true;
  setTimeout(tick, 0);
}

function configure(config: RunConfig): void {
  run?.dispose();
  run = null;
  run = new PlaygroundRun(config, data!);
  lastProbe = lastEval = -Infinity;
  post({ type: 'reset', config: run.config });
  evaluate();
  setState('idle');
}

function fail(e: unknown): void {
  state = 'paused';
  post({ type: 'error', message: (e as Error).message ?? String(e) });
  post({ type: 'state', state });
}

const pending: ToWorker[] = [];

function handle(m: ToWorker): void {
  try {
    if (m.type === 'configure') configure(m.config);
    else if (m.type === 'view') {
      const changed = m.forgotEval !== forgotEval || m.watch !== watch;
      forgotEval = m.forgotEval;
      watch = m.watch;
      if (changed && run && state !== 'running') evaluate();
    } else if (!run || diverged()) return;
    else if (m.type === 'start') {
      setState('running');
      schedule();
    } else if (m.type === 'pause') setState('paused');
    else if (m.type === 'step') {
      if (state === 'running') return;
      const records: StepRecord[] = [];
      stepOnce(records, true);
      state = diverged() ? 'diverged' : 'paused';
      post({ type: 'steps', records, state });
      evaluate();
    }
  } catch (e) {
    fail(e);
  }
}

scope.onmessage = (e) => (data ? handle(e.data) : pending.push(e.data));

try {
  const k = await kernels();
  data = await loadData();
  const grid = {
    images: data.test.images.slice(0, GRID * 784),
    labels: Array.from(data.test.labels.subarray(0, GRID)),
  };
  post({ type: 'ready', ...k, build: nk.wasmBuild(), isolated: self.crossOriginIsolated, grid }, [
    grid.images.buffer,
  ]);
  for (const m of pending.splice(0)) handle(m);
} catch (e) {
  post({ type: 'error', message: (e as Error).message ?? String(e) });
}
