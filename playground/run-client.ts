// The page's side of one run: starts its worker, sends commands, and keeps what the worker
// reports (loss per step, evaluations, the latest probe) for the views to draw.
import type {
  EvalRecord,
  FromWorker,
  ProbeSnapshot,
  RunConfig,
  RunState,
  ToWorker,
} from '../src/playground/index.js';

/** What a worker reports once its kernels and data are loaded. */
export type Ready = Omit<Extract<FromWorker, { type: 'ready' }>, 'type'>;

/** Exponential smoothing of the per-step loss for the curve (the raw values are kept too). */
const SMOOTHING = 0.95;

export class RunClient {
  readonly worker: Worker;
  ready: Ready | null = null;
  state: RunState = 'loading';
  error: string | null = null;
  config: RunConfig | null = null;
  steps: number[] = [];
  loss: number[] = [];
  smoothLoss: number[] = [];
  msPerStep: number[] = [];
  evals: EvalRecord[] = [];
  probe: { step: number; snapshot: ProbeSnapshot } | null = null;
  /** Bumped on every report: views compare it to know they must redraw. */
  version = 0;
  private listeners = new Set<() => void>();

  constructor(readonly name: string) {
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name });
    this.worker.onmessage = (e: MessageEvent<FromWorker>) => this.receive(e.data);
    this.worker.onerror = (e) => {
      this.error = e.message || 'the worker failed to start';
      this.changed();
    };
  }

  send(m: ToWorker): void {
    this.worker.postMessage(m);
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The median time of the last 50 steps, in ms. */
  medianMs(): number | null {
    const last = this.msPerStep.slice(-50).sort((a, b) => a - b);
    return last.length ? last[last.length >> 1] : null;
  }

  private changed(): void {
    this.version++;
    for (const fn of this.listeners) fn();
  }

  private receive(m: FromWorker): void {
    switch (m.type) {
      case 'ready':
        this.ready = m;
        break;
      case 'reset':
        this.config = m.config;
        this.steps = [];
        this.loss = [];
        this.smoothLoss = [];
        this.msPerStep = [];
        this.evals = [];
        this.probe = null;
        this.error = null;
        break;
      case 'steps':
        for (const r of m.records) {
          const prev = this.smoothLoss[this.smoothLoss.length - 1];
          const finite = Number.isFinite(r.loss);
          this.steps.push(r.step);
          this.loss.push(r.loss);
          this.smoothLoss.push(
            prev === undefined || !finite ? r.loss : SMOOTHING * prev + (1 - SMOOTHING) * r.loss,
          );
          this.msPerStep.push(r.ms);
        }
        this.state = m.state;
        break;
      case 'probe':
        this.probe = { step: m.step, snapshot: m.snapshot };
        break;
      case 'eval':
        this.evals.push(m.record);
        break;
      case 'state':
        this.state = m.state;
        break;
      case 'error':
        this.error = m.message;
        break;
    }
    this.changed();
  }
}
