// What a lab experiment is: a claim (with its paper), a set-up, a rule for "reproduced"
// stated before anything runs, a measurement per seed, and a verdict computed from the rule.
// Experiments use normkit's public API only, so they double as examples of it.
import type { Split } from '../data/fashion-mnist.js';

export type Verdict = 'reproduced' | 'not reproduced' | 'mixed';

/** tiny: the test suite's budget; quick: the default (bundled data, ≤ 60 s each); full: --full. */
export type Mode = 'tiny' | 'quick' | 'full';

export interface LabData {
  train: Split;
  test: Split;
  /** Where the images came from (the bundled subset, or a --data directory). */
  source: string;
}

export interface LabContext {
  mode: Mode;
  seed: number;
  data: LabData;
  /** Reports progress within this seed's run, as a fraction in [0, 1]. */
  progress(fraction: number): void;
}

/** One row of the summary table: a measured quantity, its mean, sd and the values per seed. */
export interface SummaryRow {
  what: string;
  mean: number;
  sd: number;
  values: number[];
  unit?: string;
}

export interface Judgement {
  verdict: Verdict;
  /** Why, in one or two sentences with the numbers (and whether the seeds' spread overlaps). */
  because: string;
  summary: SummaryRow[];
}

/** A Vega-Lite specification (rendered to SVG in Node; reusable as it is in a browser). */
export type VegaLiteSpec = Record<string, unknown>;

export interface Experiment<M = any> {
  name: string;
  /** The claim in one sentence, in our words. */
  claim: string;
  /** The paper (or papers) it comes from. */
  source: string;
  /** What is trained and measured, for a mode. */
  setup(mode: Mode): string;
  /** The numeric rule for "reproduced", fixed before the experiment runs. */
  rule: string;
  /** Seconds one seed takes in quick mode on 2 cores (what `lab list` shows). */
  quickSeconds: number;
  /** One seed's measurements: plain JSON-serializable numbers, arrays and strings. */
  measure(ctx: LabContext): M;
  judge(runs: M[]): Judgement;
  /** The figure(s); several are stacked into one SVG. */
  figures(runs: M[]): VegaLiteSpec[];
}

export function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
}

/** Sample standard deviation (0 for one value, and for values equal up to rounding). */
export function sd(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  const s = Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
  return s <= 1e-12 * Math.abs(m) ? 0 : s;
}

/** Mean and sd of the seeds' values, for a figure's line and band. */
export function band(values: readonly number[]): { y: number; sd: number } {
  return { y: mean(values), sd: sd(values) };
}

export function row(what: string, values: number[], unit?: string): SummaryRow {
  return { what, mean: mean(values), sd: sd(values), values, unit };
}

/** True when mean ± sd of two sets of values overlap (the verdict then says so). */
export function overlaps(a: readonly number[], b: readonly number[]): boolean {
  return Math.abs(mean(a) - mean(b)) <= sd(a) + sd(b);
}

/** ' (the seeds overlap)' when mean ± sd of the two overlap with more than one seed, else ''. */
export function overlapNote(a: readonly number[], b: readonly number[]): string {
  return a.length > 1 && overlaps(a, b) ? ' (the seeds overlap)' : '';
}

/** A number for a sentence: 3 significant digits, exponent form for tiny or huge values. */
export function num(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? x.toExponential(2) : String(+x.toPrecision(3));
}

export function pm(values: readonly number[]): string {
  return values.length > 1 ? `${num(mean(values))} ± ${num(sd(values))}` : num(mean(values));
}
