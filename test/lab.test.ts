// The lab's machinery on the tiny budget: every experiment runs and writes valid JSON, SVG and
// its report section; the exact claims are asserted; bad input fails before any training.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { lab } from '../src/node.js';

const main = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const tmp = () => mkdtempSync(join(tmpdir(), 'normkit-lab-'));

describe('lab', () => {
  const out = tmp();
  let results: lab.LabResult[] = [];

  it('runs every experiment on a tiny budget and writes JSON, SVG and the report', async () => {
    const started: string[] = [];
    results = await lab.runLab({
      names: lab.EXPERIMENTS.map((e) => e.name),
      mode: 'tiny',
      out,
      onEvent: (e) => void (e.type === 'start' && started.push(e.name)),
    });
    assert.deepEqual(
      started,
      lab.EXPERIMENTS.map((e) => e.name),
    );
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    for (const r of results) {
      const json = JSON.parse(readFileSync(join(out, `${r.name}.json`), 'utf8'));
      assert.equal(json.name, r.name);
      assert.ok(['reproduced', 'not reproduced', 'mixed'].includes(json.verdict), json.verdict);
      for (const k of ['claim', 'source', 'setup', 'rule', 'because', 'commit', 'date'])
        assert.equal(typeof json[k], 'string', `${r.name}.${k}`);
      assert.equal(json.runs.length, 1);
      assert.ok(
        json.summary.length > 0 &&
          json.summary.every((s: any) => Number.isFinite(s.mean) || s.mean === null),
      );
      const svg = readFileSync(join(out, `${r.name}.svg`), 'utf8');
      assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      assert.match(svg, /<\/svg>$/);
      assert.match(html, new RegExp(`<section id="${r.name}">`));
      assert.match(html, new RegExp(`<img src="${r.name}.svg"`));
    }
    const md = lab.reportMarkdown(lab.readResults(out), 'figures');
    assert.match(md, /^\| experiment \| verdict \| seeds \| wall time \(s\) \|/);
    for (const r of results) {
      assert.match(md, new RegExp(`### ${r.name}\n`));
      assert.match(md, new RegExp(`!\\[${r.name}\\]\\(figures/${r.name}.svg\\)`));
    }
  });

  it('asserts the exact claims: bias before BN, scale invariance, the batch-of-one error, IN contrast invariance', () => {
    const get = (name: string) => results.find((r) => r.name === name)!;
    const bias = get('bias-redundancy');
    assert.equal(bias.verdict, 'reproduced');
    const b = bias.runs[0] as any;
    for (const d of b.outputDiff) assert.ok(d <= 1e-4, `output change ${d}`);
    b.biasGrad.forEach((g: number, i: number) => assert.ok(g <= 1e-4 * b.weightGrad[i]));
    assert.equal(b.savedParameters, 32 + 64 + 128);
    const s = get('scale-invariance').runs[0] as any;
    for (const d of s.epsExplained) assert.ok(d <= 1e-4, `y(αW, eps) vs y(W, eps/α²): ${d}`);
    s.alphas.forEach((a: number, i: number) => {
      if (a >= 1) {
        assert.ok(s.outputDiff[i] <= 2e-3, `α ${a}: ${s.outputDiff[i]}`);
        assert.ok(Math.abs(s.gradRatio[i] - 1) <= 0.01, `α ${a}: ${s.gradRatio[i]}`);
      }
    });
    assert.ok(s.outputDiff[0] > 1e-2, 'at α = 0.01 eps is not negligible');
    const e = get('eval-mode').runs[0] as any;
    assert.match(
      e.batchOfOneError,
      /BatchNorm1d\(128\): Expected more than 1 value per channel when training, got input size \[1, 128\]/,
    );
    assert.equal(e.agreementEvalMode, 1);
    // Issue 18's exact claim (9): InstanceNorm ignores a per-image a·x + b, BatchNorm does not.
    const c = get('instance-norm-contrast').runs[0] as any;
    assert.ok(c.identity <= 1e-5, `IN(a·x + b, ε) vs IN(x, ε/a²): ${c.identity}`);
    assert.ok(c.inDiff <= 1e-3, `InstanceNorm moved by ${c.inDiff}`);
    assert.ok(c.netInDiff <= 1e-2, `the IN-first network's logits moved by ${c.netInDiff}`);
    assert.ok(c.bnDiff >= 0.1, `BatchNorm moved by only ${c.bnDiff}`);
    assert.equal(c.accIn[0], c.accIn[1], 'IN-first accuracy under a contrast change');
  });

  it('writes result JSON with arrays of numbers on one line, leaving strings alone', () => {
    const value = { s: 'x in [0, 1]', a: [1, [2, -3e-7], null], b: [{ c: [1, 2] }] };
    const text = lab.resultJson(value);
    assert.deepEqual(JSON.parse(text), value);
    assert.match(text, /"s": "x in \[0, 1\]"/);
    assert.match(text, /"a": \[1,\[2,-3e-7\],null\]/);
    assert.match(text, /"c": \[1,2\]/);
  });

  it('bad input fails before any training, naming what is valid', async () => {
    await assert.rejects(
      lab.runLab({ names: ['lr-range', 'nope'], mode: 'tiny', out: tmp() }),
      new RegExp(
        `lab: unknown experiment nope; valid names: ${lab.EXPERIMENTS.map((e) => e.name).join(', ')}$`,
      ),
    );
    const file = join(tmp(), 'a-file');
    writeFileSync(file, 'x');
    await assert.rejects(
      lab.runLab({ names: ['bias-redundancy'], mode: 'tiny', out: file }),
      /lab: --out .*a-file is a file, not a directory/,
    );
    await assert.rejects(
      lab.runLab({ names: ['bias-redundancy'], mode: 'tiny', out: tmp(), data: '/nonexistent' }),
      /lab: --data \/nonexistent is not a directory/,
    );
    await assert.rejects(
      lab.runLab({ names: ['bias-redundancy'], mode: 'tiny', out: tmp(), seeds: 0 }),
      /expected --seeds to be a positive integer, got 0/,
    );
  });

  it('an interrupted run keeps the finished experiments and their report', async () => {
    const dir = tmp();
    const failing: lab.Experiment = {
      ...lab.EXPERIMENTS[1],
      name: 'fails-midway',
      measure() {
        throw new Error('interrupted');
      },
    };
    lab.EXPERIMENTS.push(failing);
    try {
      await assert.rejects(
        lab.runLab({ names: ['bias-redundancy', 'fails-midway'], mode: 'tiny', out: dir }),
        /interrupted/,
      );
    } finally {
      lab.EXPERIMENTS.pop();
    }
    assert.ok(existsSync(join(dir, 'bias-redundancy.json')));
    assert.ok(existsSync(join(dir, 'bias-redundancy.svg')));
    assert.ok(!existsSync(join(dir, 'fails-midway.json')));
    assert.match(readFileSync(join(dir, 'index.html'), 'utf8'), /id="bias-redundancy"/);
  });

  it('the CLI lists, runs and reports', () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, [main, 'lab', ...args], { encoding: 'utf8' });
    const l = run('list');
    assert.equal(l.status, 0, l.stderr);
    for (const e of lab.EXPERIMENTS) assert.match(l.stdout, new RegExp(e.name));
    const bad = run('run', 'nope');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /unknown experiment nope; valid names: lr-range/);
    const dir = tmp();
    const r = run('run', 'bias-redundancy', '--out', dir);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /bias-redundancy: reproduced\./);
    assert.match(r.stdout, /results and report in/);
    const rep = run('report', '--out', dir);
    assert.equal(rep.status, 0, rep.stderr);
    assert.match(rep.stdout, /bias-redundancy .*reproduced/);
    const none = run('report', '--out', tmp());
    assert.notEqual(none.status, 0);
    assert.match(none.stderr, /no results in/);
  });
});
