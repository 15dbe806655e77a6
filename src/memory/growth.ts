// Catches the loop that drops tensors without dispose() and never lets the event loop turn
// (so the finalization safety net cannot run): tensor memory growing at every backward()
// over GROWTH_STEPS steps, by GROWTH_BYTES or more in all, gets one warning that says how
// much per step and the fix. The out-of-memory error repeats it.
import { isNode } from '../platform.js';

const GROWTH_STEPS = 20;
const GROWTH_BYTES = 16 * 2 ** 20;

let enabled = true;
let warned = false;
let samples: number[] = [];
let turnScheduled = false;
let turned = false;

/** Turns the memory-growth warning on or off (on by default). */
export function setMemoryWarnings(on: boolean): void {
  enabled = on;
}

function perStep(): { bytes: number; steps: number } | null {
  if (samples.length < 2) return null;
  const steps = samples.length - 1;
  for (let i = 1; i < samples.length; i++) if (samples[i] <= samples[i - 1]) return null;
  return { bytes: (samples[samples.length - 1] - samples[0]) / steps, steps };
}

function fmtBytes(b: number): string {
  return `${(b / 2 ** 20).toFixed(1)} MiB`;
}

const FIX =
  'Run each step inside tidy(() => { ... }), which frees everything the step made but what ' +
  'it returns, or dispose() tensors you no longer need (README: "Coming from PyTorch")';

/** Called after every backward() with the bytes in use. */
export function noteStep(bytesInUse: number): void {
  if (turned) samples = []; // the event loop turned: dropped tensors can be finalized
  turned = false;
  if (!turnScheduled) {
    turnScheduled = true;
    setTimeout(() => {
      turnScheduled = false;
      turned = true;
    }, 0);
  }
  samples.push(bytesInUse);
  if (samples.length > GROWTH_STEPS + 1) samples.shift();
  const g = perStep();
  if (!enabled || warned || g === null || g.steps < GROWTH_STEPS) return;
  if (g.bytes * g.steps < GROWTH_BYTES) return;
  warned = true;
  const msg =
    `normkit: tensor memory grew by ${fmtBytes(g.bytes)} per step over the last ${g.steps} ` +
    `backward() calls (${fmtBytes(bytesInUse)} in use) in a loop that never lets the event ` +
    `loop turn, so tensors dropped without dispose() are not freed. ${FIX}. ` +
    `Silence this with setMemoryWarnings(false).`;
  if (isNode) process.emitWarning(msg, { code: 'NORMKIT_MEMORY_GROWTH' });
  else console.warn(msg);
}

/** What the out-of-memory error adds: the fix, and the growth per step when it was seen. */
export function outOfMemoryHint(): string {
  const g = perStep();
  const seen =
    g !== null && g.steps >= 2
      ? `Memory grew by ${fmtBytes(g.bytes)} at each of the last ${g.steps} backward() calls. `
      : '';
  return `${seen}${FIX}.`;
}
