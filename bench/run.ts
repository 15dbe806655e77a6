// npm run bench: normkit's kernels side by side with PyTorch on the same machine, in the
// same run. Prints a table and writes bench/results.json. Not a test: nothing asserts a time.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import Table from 'cli-table3';
import { tableStyle } from '../src/cli/progress.js';
import { cases } from './cases.js';
import { copyRunner } from './copy.js';
import { relaxedSimdFlagSet, setNumThreads, wasmBuild } from '../src/index.js';

// Closures must not return tensors from tidy(): a kept result would leak and fresh pages would be timed.
const REPS = Number(process.env.BENCH_REPS ?? 10);
// BENCH_ONLY=layernorm,bn2d times only the cases whose names contain one of the words.
const only = process.env.BENCH_ONLY?.split(',').filter((w) => w !== '');
const selected = only ? cases.filter((c) => only.some((w) => c.name.includes(w))) : cases;
const PYTHON = '/usr/bin/python3';
const root = new URL('../../', import.meta.url);

function median(fn: () => void, reps: number, warmup = 2): number {
  // Warm up for at least a second too: kernel threads compile their WASM lazily (V8 tiers up
  // from its baseline compiler), and timing them cold would measure the compiler.
  const start = performance.now();
  for (let i = 0; i < warmup || performance.now() - start < 1000; i++) fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)];
}

/** median() for an asynchronous call (onnxruntime's run). */
async function medianAsync(fn: () => Promise<unknown>, reps: number): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < 2 || performance.now() - start < 1000; i++) await fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)];
}

/**
 * glibc's allocator tuned for the PyTorch process only, so that it keeps freed memory instead
 * of handing it back and faulting it in again on the next call: PyTorch at its best on this
 * kind of machine (its default medians are bimodal). Ratios are taken against this run.
 */
const TUNED_MALLOC = {
  MALLOC_MMAP_THRESHOLD_: '33554432',
  MALLOC_TRIM_THRESHOLD_: '68719476736',
  MALLOC_TOP_PAD_: '268435456',
};

/**
 * A PyTorch process that times one case a request (bench/torch_bench.py --serve), so that
 * each case runs there right after it runs here: this VM's speed drifts by 10–15 % within an
 * hour, and two sides timed minutes apart drift apart.
 */
class TorchServer {
  private constructor(
    private readonly proc: ChildProcessWithoutNullStreams,
    private readonly replies: AsyncIterator<string>,
    private readonly stderr: string[],
  ) {}

  /** Starts one (glibc's allocator tuned or not); a string says why there is none. */
  static async start(tuned: boolean): Promise<TorchServer | string> {
    if (!existsSync(PYTHON)) return `${PYTHON} not found`;
    const proc = spawn(PYTHON, [new URL('bench/torch_bench.py', root).pathname, '--serve'], {
      env: tuned ? { ...process.env, ...TUNED_MALLOC } : process.env,
    });
    const stderr: string[] = [];
    proc.stderr.setEncoding('utf8').on('data', (d: string) => stderr.push(d));
    const server = new TorchServer(
      proc,
      createInterface({ input: proc.stdout })[Symbol.asyncIterator](),
      stderr,
    );
    const ping = await server.ask('ping 1 1');
    if (typeof ping !== 'string') return server;
    server.close();
    return ping;
  }

  /** PyTorch's median and fastest call of a case, in ms (undefined: no such case there). */
  async time(name: string, threads: number, reps: number) {
    const r = await this.ask(`${name} ${threads} ${reps}`);
    if (typeof r === 'string') throw new Error(`PyTorch side: ${r}`);
    return r.error === undefined ? { ms: r.ms as number, best: r.best as number } : undefined;
  }

  close(): void {
    this.proc.stdin.end();
  }

  private async ask(line: string): Promise<Record<string, unknown> | string> {
    this.proc.stdin.write(line + '\n');
    const next = await this.replies.next();
    if (!next.done) return JSON.parse(next.value);
    const msg = this.stderr.join('');
    return msg.includes('No module named')
      ? 'PyTorch is not installed (apt-get install -y python3-torch libopenblas0-openmp)'
      : msg.split('\n').slice(-3).join(' ');
  }
}

const cores = availableParallelism();
console.log(
  `normkit benchmark: ${new Date().toISOString().slice(0, 10)}, ${cores} cores, Node ${process.version}, kernels ${wasmBuild() ?? 'JS (no WASM)'}${relaxedSimdFlagSet() ? ' (V8 flag turned on by normkit)' : ''}, median of ${REPS}`,
);
const threadCounts = cores >= 2 ? [1, 2] : [1];
const bw = new Map<number, number>();
for (const t of threadCounts) {
  const runner = copyRunner(t);
  bw.set(t, runner.bytes / (median(runner.copy, 5, 1) / 1000) / 1e9);
  await runner.close();
}
console.log(
  `measured copy bandwidth: ${threadCounts.map((t) => `${bw.get(t)!.toFixed(1)} GB/s at ${t} thread${t > 1 ? 's' : ''}`).join(', ')} (read + write, 256 MiB Float32Array.set, a slice per thread)`,
);
const torch = await TorchServer.start(true);
const torchDefault = typeof torch === 'string' ? torch : await TorchServer.start(false);
const skipped = typeof torch === 'string' ? torch : undefined;
if (skipped !== undefined) console.log(`PyTorch side skipped: ${skipped}`);

const table = new Table({
  style: tableStyle(),
  head: [
    'case',
    'threads',
    'normkit ms',
    'PyTorch default ms',
    'PyTorch tuned ms (best)',
    'PyTorch tuned / normkit',
    'onnxruntime ms',
    'GB/s',
    '% of copy bw',
    '% by DESIGN.md count',
    'GFLOP/s',
  ],
});
const results: Record<string, unknown>[] = [];
/** PyTorch's times for a case, right after normkit's (none when the side was skipped). */
const torchTime = async (s: TorchServer | string, name: string, threads: number, reps: number) =>
  (typeof s === 'string' ? undefined : await s.time(name, threads, reps)) ?? {
    ms: undefined,
    best: undefined,
  };
for (const c of selected) {
  for (const threads of threadCounts) {
    setNumThreads(threads);
    const run = c.setup();
    const ms = median(run, c.reps ?? REPS, c.reps ? 1 : 2);
    const { ms: pt, best: pb } = await torchTime(torch, c.name, threads, c.reps ?? REPS);
    const { ms: pd } = await torchTime(torchDefault, c.name, threads, c.reps ?? REPS);
    const ortMs = c.onnxruntime ? await medianAsync(await c.onnxruntime(threads), REPS) : undefined;
    const perSecond = (units?: number) => (units ? units / (ms / 1000) / 1e9 : undefined);
    const ofCopy = (gb?: number) =>
      gb === undefined ? '-' : `${((100 * gb) / bw.get(threads)!).toFixed(0)}%`;
    const gbs = perSecond(c.bytes);
    const designGbs = perSecond(c.bytes && (c.designBytes ?? c.bytes));
    const gflops = perSecond(c.flops);
    results.push({
      case: c.name,
      what: c.what,
      threads,
      normkitMs: ms,
      torchDefaultMs: pd,
      torchMs: pt,
      torchBestMs: pb,
      onnxruntimeMs: ortMs,
      gbPerS: gbs,
      designGbPerS: designGbs,
      gflops,
    });
    table.push([
      c.what,
      threads,
      ms.toFixed(2),
      pd === undefined ? '-' : pd.toFixed(2),
      pt === undefined || pb === undefined ? '-' : `${pt.toFixed(2)} (${pb.toFixed(2)})`,
      pt === undefined ? '-' : `${(pt / ms).toFixed(2)}x`,
      ortMs === undefined ? '-' : ortMs.toFixed(2),
      gbs === undefined ? '-' : gbs.toFixed(1),
      ofCopy(gbs),
      ofCopy(designGbs),
      gflops === undefined ? '-' : gflops.toFixed(1),
    ]);
  }
}
for (const s of [torch, torchDefault]) if (typeof s !== 'string') s.close();
console.log(table.toString());
console.log(
  'PyTorch tuned / normkit > 1 means normkit is faster (medians; in brackets the fastest call). ' +
    "'tuned': PyTorch's process with glibc's allocator set to keep memory " +
    `(${Object.entries(TUNED_MALLOC)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}); 'default': without.`,
);
writeFileSync(
  new URL('bench/results.json', root),
  JSON.stringify(
    {
      date: new Date().toISOString(),
      cores,
      copyGBps: Object.fromEntries(bw),
      torch: skipped ?? 'ok',
      results,
    },
    null,
    2,
  ) + '\n',
);
