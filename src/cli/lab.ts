// `normkit lab list | run | report`: the experiments with progress bars, a table at the end,
// and the files in --out (NAME.json, NAME.svg, index.html).
import cliProgress from 'cli-progress';
import Table from 'cli-table3';
import { num } from '../lab/experiment.js';
import { EXPERIMENTS } from '../lab/registry.js';
import { reportMarkdown, writeReport } from '../lab/report.js';
import { type LabResult, runLab } from '../lab/runner.js';
import { tableStyle } from './progress.js';

export function labList(): string {
  const t = new Table({
    head: ['experiment', 'claim', 'quick (s)'],
    style: tableStyle(),
    // The name column fits the longest name, so a name is never wrapped (it is what you type).
    colWidths: [Math.max(...EXPERIMENTS.map((e) => e.name.length)) + 2, 72, 11],
    wordWrap: true,
  });
  for (const e of EXPERIMENTS) t.push([e.name, e.claim, String(e.quickSeconds)]);
  return t.toString();
}

export function resultsTable(results: LabResult[]): string {
  const t = new Table({
    head: ['experiment', 'verdict', 'first measured value', 'time (s)'],
    style: tableStyle(),
  });
  for (const r of results) {
    const s = r.summary[0];
    const first = s
      ? `${s.what}: ${num(s.mean)}${s.values.length > 1 ? ` ± ${num(s.sd)}` : ''}`
      : '';
    t.push([r.name, r.verdict, first, r.wallSeconds.toFixed(1)]);
  }
  return t.toString();
}

export interface LabRunCliOptions {
  all?: boolean;
  full?: boolean;
  seeds?: number;
  out: string;
  data?: string;
}

export async function labRun(names: string[], o: LabRunCliOptions): Promise<LabResult[]> {
  if (o.all && names.length > 0)
    throw new Error('lab run: give experiment names or --all, not both');
  const chosen = o.all ? EXPERIMENTS.map((e) => e.name) : names;
  let bar: cliProgress.SingleBar | null = null;
  // Off a terminal the bar stays silent: a line per seed says where the run is instead.
  const tty = process.stdout.isTTY === true;
  let lastSeed = -1;
  const results = await runLab({
    names: chosen,
    mode: o.full ? 'full' : 'quick',
    seeds: o.seeds,
    out: o.out,
    data: o.data,
    onEvent: (e) => {
      if (e.type === 'start') {
        lastSeed = -1;
        if (!tty) console.log(`lab: ${e.name} (${e.index + 1}/${e.count}), ${e.seeds} seed(s)`);
        bar = new cliProgress.SingleBar(
          {
            format: `{name} [${e.index + 1}/${e.count}] |{bar}| seed {seed}/${e.seeds} | eta {eta_formatted}`,
            barsize: 24,
            hideCursor: true,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(1000 * e.seeds, 0, { name: e.name, seed: 1 });
      } else if (e.type === 'progress') {
        if (!tty && e.seed !== lastSeed) console.log(`lab: ${e.name}, seed ${e.seed + 1}`);
        lastSeed = e.seed;
        bar?.update(Math.round(1000 * (e.seed + e.fraction)), { seed: e.seed + 1 });
      } else {
        bar?.stop();
        console.log(`${e.result.name}: ${e.result.verdict}. ${e.result.because}`);
      }
    },
  });
  console.log(resultsTable(results));
  console.log(`results and report in ${o.out}/ (index.html)`);
  return results;
}

export function labReport(out: string, markdown = false): void {
  const results = writeReport(out);
  if (results.length === 0)
    throw new Error(`lab report: no results in ${out}; run 'normkit lab run' first`);
  if (markdown) {
    process.stdout.write(reportMarkdown(results, out));
    return;
  }
  console.log(resultsTable(results));
  console.log(`report written to ${out}/index.html`);
}
