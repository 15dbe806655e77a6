// The safety net for tensors dropped without dispose() (a PyTorch user's habit): once the
// garbage collector finds a tensor unreachable, a FinalizationRegistry releases its storage.
// V8 runs those callbacks only when the event loop turns, so a loop that awaits I/O (or a
// timer) between steps stays bounded, and a synchronous loop does not (growth.ts warns).
// Tensor bytes live outside the JS heap, where V8 cannot see them, so in Node the collector
// is asked to run whenever the tensors made since its last run and not disposed reach
// COLLECT_BYTES (a loop that disposes or uses tidy() never gets there).
import { isNode } from '../platform.js';

interface Releasable {
  release(): void;
}

const COLLECT_BYTES = 128 * 2 ** 20;
const registry = new FinalizationRegistry<Releasable>((storage) => storage.release());
let pendingBytes = 0;
let epoch = 0;

type Collector = () => void;
let collector: Collector | null | undefined;
const nodeModules = isNode
  ? await Promise.all([import('node:v8'), import('node:vm')]).catch(() => null)
  : null;

/** Node's collector, exposed on first use (no flag needed at start-up); null elsewhere. */
function getCollector(): Collector | null {
  if (collector === undefined) {
    collector = null;
    if (nodeModules !== null) {
      try {
        const [v8, vm] = nodeModules;
        v8.setFlagsFromString('--expose-gc');
        collector = vm.runInNewContext('gc') as Collector;
      } catch {
        collector = null;
      }
    }
  }
  return collector;
}

/** Registers a new tensor; returns the collection epoch its bytes were counted in. */
export function watch(tensor: object, storage: Releasable, bytes: number): number {
  registry.register(tensor, storage, tensor);
  pendingBytes += bytes;
  return epoch;
}

/** A tensor disposed by hand: its storage must not be released a second time. */
export function unwatch(tensor: object, bytes: number, countedIn: number): void {
  registry.unregister(tensor);
  if (countedIn === epoch) pendingBytes -= bytes;
}

/** Runs the collector when enough undisposed tensor bytes were made since it last ran. */
export function collectDropped(): void {
  if (pendingBytes < COLLECT_BYTES) return;
  const gc = getCollector();
  if (gc === null) return;
  gc();
  epoch++;
  pendingBytes = 0;
}
