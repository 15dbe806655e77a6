// `normkit doctor --checkpoint X`: the BatchNorm doctor on a trained run, with its optimizer
// and batch size as the run used them.
import Table from 'cli-table3';
import { type Finding, doctor } from '../tools/doctor.js';
import { buildModel } from '../train/models.js';
import { readRun, restoreRun } from '../train/session.js';
import { makeOptimizer } from './optimizer.js';
import { tableStyle } from './progress.js';

export function findingsTable(findings: Finding[]): string {
  const t = new Table({
    head: ['severity', 'check', 'layer', 'reason', 'fix'],
    style: tableStyle(),
    colWidths: [10, 22, 10, 50, 36],
    wordWrap: true,
  });
  for (const f of findings) t.push([f.severity, f.check, f.path || '(model)', f.reason, f.fix]);
  return t.toString();
}

/** Prints the findings; returns them (the CLI exits 1 when one is an error). */
export function runDoctor(o: { checkpoint: string }): Finding[] {
  const run = readRun(o.checkpoint);
  const c = run.meta.config;
  const model = buildModel(c);
  const opt = makeOptimizer(c.optimizer as never, model, c.lr as number, c.weightDecay as number);
  restoreRun(run, model, opt);
  const findings = doctor(model, { optimizer: opt, batchSize: c.batchSize as number });
  console.log(
    `${o.checkpoint}: ${c.model}/${c.norm}, ${c.optimizer}, batch ${c.batchSize}: ` +
      (findings.length === 0 ? 'no findings' : `${findings.length} finding(s)`),
  );
  if (findings.length > 0) console.log(findingsTable(findings));
  return findings;
}
