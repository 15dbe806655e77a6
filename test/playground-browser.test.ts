// The playground in a real browser: Debian's chromium driven through playwright-core (skipped,
// and saying so, when it is not installed). The page loads without console errors, both
// workers start on the WASM kernels, curves, histograms and the image grid fill in, changing
// a run's norm resets that run alone, pause and step work from the keyboard and the mouse, the
// page fits a phone's width, and served without cross-origin isolation it trains on one
// thread (Chromium still gives WASM its shared memory; other browsers fall back to the JS
// kernels) and says so. Measured and reported, not asserted: a step in the page's worker
// against the same step in Node at the same thread count, and the main thread's long tasks
// (asserted: none over 100 ms while training).
// The last screenshot is kept in artifacts/ (CI keeps it) and must not be blank.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { PNG } from 'pngjs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { servePlayground } from '../src/cli/playground.js';
import { PlaygroundRun } from '../src/playground/index.js';
import { BUNDLED_DIR, loadSplit } from '../src/data/node.js';
import { getNumThreads, setNumThreads, wasmBuild } from '../src/index.js';

const CHROMIUM = process.env.NORMKIT_CHROMIUM ?? '/usr/bin/chromium';
const have = existsSync(CHROMIUM);
const ARTIFACTS = new URL('../../artifacts/', import.meta.url);

interface RunView {
  steps: number;
  evals: number;
  lastAccuracy: number | null;
  probe: boolean;
  state: string;
  error: string | null;
  backend?: string;
  threads?: number;
  norm?: string;
  ms: number | null;
}

async function runs(page: Page): Promise<Record<'A' | 'B', RunView>> {
  return page.evaluate(() => {
    const all = (globalThis as any).__playground.runs;
    const view = (r: any) => ({
      steps: r.steps.length,
      evals: r.evals.length,
      lastAccuracy: r.evals.at(-1)?.accuracy ?? null,
      probe: r.probe !== null,
      state: r.state,
      error: r.error,
      backend: r.ready?.backend,
      threads: r.ready?.threads,
      norm: r.config?.norm,
      ms: r.medianMs(),
    });
    return { A: view(all.A), B: view(all.B) };
  });
}

async function until(
  page: Page,
  what: string,
  ok: (r: Record<'A' | 'B', RunView>) => boolean,
  ms = 60000,
) {
  const end = Date.now() + ms;
  let last: Record<'A' | 'B', RunView> | null = null;
  while (Date.now() < end) {
    last = await runs(page);
    if (ok(last)) return last;
    await page.waitForTimeout(200);
  }
  throw new Error(`playground: timed out waiting for ${what}; runs: ${JSON.stringify(last)}`);
}

/** Share of pixels that differ from the most common colour, and the luminance sd. */
function pixelStats(png: Buffer): { notBackground: number; sd: number } {
  const img = PNG.sync.read(png);
  const counts = new Map<number, number>();
  let sum = 0,
    ss = 0;
  const n = img.width * img.height;
  for (let i = 0; i < n; i++) {
    const [r, g, b] = img.data.subarray(4 * i, 4 * i + 3);
    const key = (r << 16) | (g << 8) | b;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    const y = 0.299 * r + 0.587 * g + 0.114 * b;
    sum += y;
    ss += y * y;
  }
  const top = Math.max(...counts.values());
  return { notBackground: 1 - top / n, sd: Math.sqrt(ss / n - (sum / n) ** 2) };
}

describe('playground in Chromium', () => {
  let browser: Browser;
  let server: Server;
  let url: string;

  before(async () => {
    if (!have) {
      console.log(
        'skipped: chromium not installed (apt-get install -y chromium); the playground suite did not run',
      );
      return;
    }
    ({ server, url } = await servePlayground());
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    });
  });
  after(async () => {
    await browser?.close();
    server?.close();
  });

  it(
    have
      ? 'trains A and B side by side, with live views and working controls'
      : 'skipped: chromium not installed',
    { skip: !have && 'chromium not installed' },
    async (t) => {
      const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
      page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()}`));
      await page.goto(url);

      const ready = await until(
        page,
        'both workers to load',
        (r) => r.A.state === 'idle' && r.B.state === 'idle',
      );
      assert.equal(ready.A.backend, 'wasm', 'run A uses the WASM kernels');
      const build = await page.evaluate(() => (globalThis as any).__playground.runs.A.ready.build);
      assert.equal(
        build,
        'relaxed-simd',
        'Chromium validates the relaxed-SIMD build, and it loads',
      );
      assert.equal(ready.B.backend, 'wasm', 'run B uses the WASM kernels');
      assert.deepEqual([ready.A.norm, ready.B.norm], ['batch', 'none']);
      const readyAt: number = await page.evaluate(() => performance.now());

      // Keyboard: Tab to the first button (Start both) and press Enter.
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Start both');
      await page.keyboard.press('Enter');
      const started = await until(
        page,
        'curves, evaluations and probes of both runs',
        (r) =>
          r.A.steps >= 30 &&
          r.B.steps >= 30 &&
          r.A.evals >= 2 &&
          r.B.evals >= 2 &&
          r.A.probe &&
          r.B.probe,
      );
      assert.ok(started.A.state === 'running' && started.B.state === 'running');
      // The views drew: histogram canvases in each run, a prediction caption under each grid.
      for (const id of ['run-a', 'run-b']) {
        const canvases = await page.locator(`[data-testid=${id}-histograms] canvas`).count();
        assert.ok(
          canvases >= 4,
          `${id}: ${canvases} histogram canvases, expected two per norm layer`,
        );
      }
      assert.match(
        (await page.locator('figcaption').first().textContent()) ?? '',
        /\d+ \/ 24 right/,
      );

      // Changing run A's norm resets A (and only A).
      const beforeB = (await runs(page)).B.steps;
      await page.selectOption('#run-a-norm', 'group');
      const reset = await until(
        page,
        'run A to reset with GroupNorm',
        (r) => r.A.norm === 'group' && r.A.state === 'idle',
      );
      assert.ok(reset.A.steps === 0, `run A restarted from step 0, has ${reset.A.steps}`);
      assert.ok(reset.B.steps >= beforeB, 'run B went on');
      assert.equal(reset.B.state, 'running');

      // Pause B; it stays put; Step moves it by exactly one.
      await page.click('#run-b-title ~ .buttons >> text=Pause');
      const paused = await until(page, 'run B to pause', (r) => r.B.state === 'paused');
      await page.waitForTimeout(700);
      assert.equal((await runs(page)).B.steps, paused.B.steps, 'a paused run takes no steps');
      await page.click('#run-b-title ~ .buttons >> text=Step');
      await until(
        page,
        'one step of run B',
        (r) => r.B.steps === paused.B.steps + 1 && r.B.state === 'paused',
      );

      // Speed: run B alone for a while (A paused), against the same steps in Node.
      await page.click('#run-b-title ~ .buttons >> text=Start');
      await page.waitForTimeout(4000);
      const page_ = await runs(page);
      const threads = page_.B.threads!;
      const data = {
        train: loadSplit(BUNDLED_DIR, 'train'),
        test: loadSplit(BUNDLED_DIR, 't10k', 1000),
      };
      const was = getNumThreads();
      setNumThreads(threads);
      const run = new PlaygroundRun({ norm: 'none' }, data);
      const ms: number[] = [];
      for (let i = 0; i < 60; i++) ms.push(run.step().record.ms);
      run.dispose();
      setNumThreads(was);
      const node = ms.slice(10).sort((a, b) => a - b)[25];
      const longTasks: { start: number; duration: number }[] = await page.evaluate(
        () => (globalThis as any).__playground.longTasks,
      );
      t.diagnostic(
        `CNN step, batch 64, ${threads} kernel thread(s): ${page_.B.ms!.toFixed(1)} ms in the page's worker (${build} kernels) ` +
          `(run A idle), ${node.toFixed(1)} ms in Node (${wasmBuild()} kernels): ratio ${(page_.B.ms! / node).toFixed(2)}`,
      );
      t.diagnostic(
        `main-thread long tasks (over 50 ms): ${longTasks.length}, ${JSON.stringify(longTasks.map((l) => [Math.round(l.start), Math.round(l.duration)]))} ([start, duration] in ms)`,
      );

      // Responsive while training: no main-thread task over 100 ms once the workers are up
      // (the page's own start-up, module evaluation and first render, comes before).
      const slow = longTasks.filter((l) => l.start > readyAt && l.duration > 100);
      assert.deepEqual(slow, [], 'main-thread tasks over 100 ms while training');

      // A phone's width: nothing wider than the viewport.
      await page.setViewportSize({ width: 390, height: 844 });
      await page.waitForTimeout(300);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(overflow <= 390, `the page is ${overflow} px wide at a 390 px viewport`);
      await page.setViewportSize({ width: 1280, height: 720 });
      await page.waitForTimeout(300);

      const shot = await page.screenshot({ fullPage: true });
      mkdirSync(ARTIFACTS, { recursive: true });
      writeFileSync(new URL('playground.png', ARTIFACTS), shot);
      const stats = pixelStats(shot);
      assert.ok(
        stats.notBackground > 0.05 && stats.sd > 10,
        `the screenshot looks blank: ${JSON.stringify(stats)}`,
      );
      assert.deepEqual(errors, [], 'no console errors');
      await page.close();
    },
  );

  it(
    have
      ? 'without cross-origin isolation: trains on one thread and says so'
      : 'skipped: chromium not installed',
    { skip: !have && 'chromium not installed' },
    async (t) => {
      const plain = await servePlayground({ isolation: false });
      try {
        const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(e.message));
        await page.goto(plain.url);
        const ready = await until(
          page,
          'both workers to load',
          (r) => r.A.state === 'idle' && r.B.state === 'idle',
        );
        assert.equal(ready.A.threads, 1);
        const isolated = await page.evaluate(
          () => (globalThis as any).__playground.runs.A.ready.isolated,
        );
        assert.equal(isolated, false);
        const notice = (await page.locator('[data-testid=fallback]').textContent()) ?? '';
        assert.match(notice, /not cross-origin isolated, so kernel threads cannot start/);
        t.diagnostic(
          `not isolated: ${ready.A.backend} kernels, 1 thread; the page says: ${notice}`,
        );
        await page.selectOption('#run-b-model', 'mlp');
        await until(page, 'run B as an MLP', (r) => r.B.state === 'idle' && r.B.steps === 0);
        await page.click('#run-b-title ~ .buttons >> text=Step');
        const stepped = await until(
          page,
          'one step on one thread',
          (r) => r.B.steps === 1 && r.B.evals >= 2,
        );
        assert.ok(stepped.B.lastAccuracy! >= 0 && stepped.B.error === null);
        assert.deepEqual(errors, []);
        await page.close();
      } finally {
        plain.server.close();
      }
    },
  );
});
