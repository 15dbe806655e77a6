// Messages between the playground page and a run's Web Worker. The worker owns the network;
// the page sends commands and draws the summaries it gets back.
import type { RunConfig } from './config.js';
import type { ProbeSnapshot } from './probes.js';
import type { EvalRecord, StepRecord } from './session.js';

export type ToWorker =
  | { type: 'configure'; config: RunConfig }
  | { type: 'start' }
  | { type: 'pause' }
  | { type: 'step' }
  | { type: 'view'; forgotEval: boolean; watch: number };

export type RunState = 'loading' | 'idle' | 'running' | 'paused' | 'diverged';

export type FromWorker =
  | {
      type: 'ready';
      /** 'wasm' with kernel threads, or 'js' when the page is not cross-origin isolated. */
      backend: 'wasm' | 'js';
      /** Which WASM build runs (relaxed SIMD where the browser has it). */
      build: string | null;
      threads: number;
      isolated: boolean;
      /** Why the fast kernels are not in use, when they are not. */
      note?: string;
      /** The first test images (normalized [n, 1, 28, 28]) and labels, for the grid. */
      grid: { images: Float32Array; labels: number[] };
    }
  | { type: 'reset'; config: RunConfig }
  | { type: 'steps'; records: StepRecord[]; state: RunState }
  | { type: 'probe'; step: number; snapshot: ProbeSnapshot }
  | { type: 'eval'; record: EvalRecord }
  | { type: 'state'; state: RunState }
  | { type: 'error'; message: string };
