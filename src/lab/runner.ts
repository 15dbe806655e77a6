// Runs experiments seed by seed and writes, for each, NAME.json (set-up, rule, every number
// per seed, verdict) and NAME.svg atomically, then the report (index.html) over every result
// in the folder, so an interrupted run keeps the experiments that finished.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/checkpoint.js';
import * as nk from '../index.js';
import type { Experiment, Judgement, Mode } from './experiment.js';
import { loadLabData } from './kit.js';
import { renderSvg } from './plot.js';
import { findExperiments } from './registry.js';
import { writeReport } from './report.js';

export interface LabOptions {
  names: string[];
  mode: Mode;
  /** Seeds 0 … seeds − 1 (default: 3 in full mode, 1 otherwise). */
  seeds?: number;
  out: string;
  /** A directory of Fashion-MNIST IDX files (full mode reads all of it). */
  data?: string;
  onEvent?: (e: LabEvent) => void;
}

export type LabEvent =
  | { type: 'start'; name: string; index: number; count: number; seeds: number }
  | { type: 'progress'; name: string; seed: number; fraction: number }
  | { type: 'done'; result: LabResult };

export interface LabResult extends Judgement {
  name: string;
  claim: string;
  source: string;
  setup: string;
  rule: string;
  mode: Mode;
  seeds: number[];
  runs: unknown[];
  figure: string;
  wallSeconds: number;
  data: string;
  commit: string;
  date: string;
}

/** Fails before any training when the output folder or the data folder will not do. */
export function checkLabPaths(out: string, data?: string): void {
  if (data !== undefined && !(existsSync(data) && statSync(data).isDirectory())) {
    throw new Error(`lab: --data ${data} is not a directory`);
  }
  if (existsSync(out) && !statSync(out).isDirectory()) {
    throw new Error(`lab: --out ${out} is a file, not a directory`);
  }
  try {
    mkdirSync(out, { recursive: true });
    accessSync(out, constants.W_OK);
  } catch (e) {
    throw new Error(`lab: cannot write results in --out ${out} (${(e as Error).message})`);
  }
}

function commit(): string {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], {
    cwd: new URL('../../..', import.meta.url),
    encoding: 'utf8',
  });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

export async function runExperiment(
  exp: Experiment,
  o: LabOptions,
  data: ReturnType<typeof loadLabData>,
  at = commit(),
): Promise<LabResult> {
  const seeds = Array.from({ length: o.seeds ?? (o.mode === 'full' ? 3 : 1) }, (_, i) => i);
  const t0 = performance.now();
  const runs: unknown[] = [];
  for (const seed of seeds) {
    runs.push(
      nk.tidy(() =>
        exp.measure({
          mode: o.mode,
          seed,
          data,
          progress: (fraction) => o.onEvent?.({ type: 'progress', name: exp.name, seed, fraction }),
        }),
      ),
    );
  }
  const judgement = exp.judge(runs);
  const svg = await renderSvg(exp.figures(runs));
  const result: LabResult = {
    name: exp.name,
    claim: exp.claim,
    source: exp.source,
    setup: exp.setup(o.mode),
    rule: exp.rule,
    mode: o.mode,
    seeds,
    ...judgement,
    runs,
    figure: `${exp.name}.svg`,
    wallSeconds: (performance.now() - t0) / 1000,
    data: data.source,
    commit: at,
    date: new Date().toISOString(),
  };
  writeFileAtomic(join(o.out, `${exp.name}.svg`), Buffer.from(svg));
  writeFileAtomic(join(o.out, `${exp.name}.json`), Buffer.from(resultJson(result)));
  return result;
}

/**
 * JSON indented by one space, with arrays of numbers (and arrays of those) on one line: a
 * figure's samples would otherwise take a line per number (90,000 lines for one experiment).
 */
export function resultJson(value: unknown): string {
  // Only arrays that start a line or follow a key, never brackets inside a string.
  const flat = /(?<=^ *|": )\[(?:\s*(?:-?[\d.eE+-]+|null|\[[^\[\]"]*\])\s*,?)*\s*\]/gm;
  let text = JSON.stringify(value, null, 1);
  for (let pass = 0; pass < 3; pass++) text = text.replace(flat, (m) => m.replace(/\s+/g, ''));
  return text;
}

/** Runs the named experiments in order; returns their results. */
export async function runLab(o: LabOptions): Promise<LabResult[]> {
  const exps = findExperiments(o.names);
  if (exps.length === 0) throw new Error('lab run: name at least one experiment, or --all');
  if (o.seeds !== undefined && !(Number.isInteger(o.seeds) && o.seeds >= 1)) {
    throw new Error(`lab: expected --seeds to be a positive integer, got ${o.seeds}`);
  }
  checkLabPaths(o.out, o.data);
  const data = loadLabData(o.mode, o.data);
  const at = commit(); // the code that runs is the code at the start, whatever HEAD does later
  const results: LabResult[] = [];
  for (const [index, exp] of exps.entries()) {
    o.onEvent?.({
      type: 'start',
      name: exp.name,
      index,
      count: exps.length,
      seeds: o.seeds ?? (o.mode === 'full' ? 3 : 1),
    });
    const result = await runExperiment(exp, o, data, at);
    results.push(result);
    writeReport(o.out);
    o.onEvent?.({ type: 'done', result });
  }
  return results;
}
