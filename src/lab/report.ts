// The lab's report: index.html with a section per experiment (claim, set-up, rule, figure,
// table, verdict, wall time, commit, date), built from the NAME.json files in a folder.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/checkpoint.js';
import { num } from './experiment.js';
import { EXPERIMENTS } from './registry.js';
import type { LabResult } from './runner.js';

/** mean ± sd as shown; an sd that is only rounding noise (≤ 1e-12 of the mean) shows as 0. */
const spread = (mean: number, sd: number) => num(sd <= 1e-12 * Math.abs(mean) ? 0 : sd);

const esc = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** The results in a folder, in the registry's order (files that are not results are skipped). */
export function readResults(out: string): LabResult[] {
  if (!existsSync(out)) throw new Error(`lab report: --out ${out} does not exist`);
  const results: LabResult[] = [];
  for (const f of readdirSync(out)) {
    if (!f.endsWith('.json')) continue;
    try {
      const r = JSON.parse(readFileSync(join(out, f), 'utf8')) as LabResult;
      if (typeof r.name === 'string' && typeof r.verdict === 'string' && Array.isArray(r.summary))
        results.push(r);
    } catch {
      // not a lab result
    }
  }
  const order = (r: LabResult) => {
    const i = EXPERIMENTS.findIndex((e) => e.name === r.name);
    return i < 0 ? EXPERIMENTS.length : i;
  };
  return results.sort((a, b) => order(a) - order(b));
}

function section(r: LabResult): string {
  const rows = r.summary
    .map(
      (s) =>
        `<tr><td>${esc(s.what)}</td><td>${num(s.mean)}${s.values.length > 1 ? ` ± ${spread(s.mean, s.sd)}` : ''}</td>` +
        `<td>${s.values.map(num).join(', ')}</td></tr>`,
    )
    .join('\n');
  return `<section id="${esc(r.name)}">
<h2>${esc(r.name)} <span class="verdict ${r.verdict.replace(' ', '-')}">${esc(r.verdict)}</span></h2>
<p class="claim">${esc(r.claim)} <em>(${esc(r.source)})</em></p>
<p><strong>Set-up.</strong> ${esc(r.setup)}</p>
<p><strong>Rule, stated before the run.</strong> ${esc(r.rule)}</p>
<p><strong>Result.</strong> ${esc(r.because)}</p>
<img src="${esc(r.figure)}" alt="figure for ${esc(r.name)}">
<table><tr><th>measured</th><th>mean${r.seeds.length > 1 ? ' ± sd' : ''}</th><th>per seed (${r.seeds.join(', ')})</th></tr>
${rows}</table>
<p class="meta">${esc(r.mode)} mode, ${r.seeds.length} seed${r.seeds.length > 1 ? 's' : ''}, ${r.wallSeconds.toFixed(1)} s, data ${esc(r.data)}, normkit ${esc(r.commit)}, ${esc(r.date)}</p>
</section>`;
}

export function reportHtml(results: LabResult[]): string {
  const list = results
    .map((r) => `<li><a href="#${esc(r.name)}">${esc(r.name)}</a>: ${esc(r.verdict)}</li>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>normkit lab report</title>
<style>
body { font: 15px/1.5 system-ui, sans-serif; max-width: 980px; margin: 2em auto; padding: 0 1em; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 2px 8px; }
.verdict { font-size: 0.7em; padding: 2px 8px; border-radius: 4px; color: white; }
.reproduced { background: #2a7d2a; } .not-reproduced { background: #b03030; } .mixed { background: #b07d10; }
.meta { color: #666; font-size: 0.85em; } img { max-width: 100%; }
</style></head><body>
<h1>normkit lab</h1>
<p>Each experiment states its claim and a numeric rule for "reproduced" before it runs; the
verdict is computed from that rule, and a claim that does not hold on this data is reported
with its numbers.</p>
<ul>${list}</ul>
${results.map(section).join('\n')}
</body></html>
`;
}

/** The results as Markdown: a verdict table, then a section per experiment with its figure. */
export function reportMarkdown(results: LabResult[], figureDir = '.'): string {
  const md = (t: string) => t.replace(/\|/g, '\\|');
  const lines = [
    '| experiment | verdict | seeds | wall time (s) |',
    '|---|---|---|---|',
    ...results.map(
      (r) =>
        `| [${r.name}](#${r.name}) | ${r.verdict} | ${r.seeds.length} | ${r.wallSeconds.toFixed(0)} |`,
    ),
  ];
  for (const r of results) {
    lines.push(
      '',
      `### ${r.name}`,
      '',
      `**Claim.** ${r.claim} (${r.source})`,
      '',
      `**Set-up.** ${r.setup}`,
      '',
      `**Rule, stated before the run.** ${r.rule}`,
      '',
      `**Verdict: ${r.verdict}.** ${r.because}`,
      '',
      `![${r.name}](${figureDir}/${r.figure})`,
      '',
      '| measured | mean ± sd | per seed |',
      '|---|---|---|',
      ...r.summary.map(
        (x) =>
          `| ${md(x.what)} | ${num(x.mean)} ± ${spread(x.mean, x.sd)} | ${x.values.map(num).join(', ')} |`,
      ),
    );
  }
  return lines.join('\n') + '\n';
}

/** Writes index.html for every result in the folder; returns the results. */
export function writeReport(out: string): LabResult[] {
  const results = readResults(out);
  writeFileAtomic(join(out, 'index.html'), Buffer.from(reportHtml(results)));
  return results;
}
