// The library in a real browser (Debian's chromium through playwright-core; skipped, and saying
// so, when it is not installed): test/browser/smoke.html trains a small BatchNorm CNN in the
// page on the WASM kernels and on the JS kernels, checks that the page's main thread refuses
// kernel threads, and runs test/browser/worker.js, which trains the CLI's CNN in a Web Worker
// at 1 and then 2 kernel threads. The repository is served cross-origin isolated.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { serveStatic } from '../src/cli/static-server.js';

const CHROMIUM = process.env.NORMKIT_CHROMIUM ?? '/usr/bin/chromium';
const have = existsSync(CHROMIUM);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('normkit in Chromium', () => {
  if (!have)
    console.log(
      'skipped: chromium not installed (apt-get install -y chromium); the browser kernel suite did not run',
    );
  it(
    have
      ? 'trains on the WASM and JS kernels, and on kernel threads in a Web Worker'
      : 'skipped: chromium not installed',
    { skip: !have && 'chromium not installed' },
    async (t) => {
      const { server, url } = await serveStatic(ROOT);
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--no-sandbox', '--disable-gpu'],
      });
      try {
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(e.message));
        await page.goto(`${url}test/browser/smoke.html`);
        await page.waitForFunction(() => document.title === 'done', null, { timeout: 120000 });
        const out = JSON.parse((await page.textContent('body')) ?? '{}');
        assert.deepEqual(errors, []);
        assert.equal(out.crossOriginIsolated, true);
        assert.equal(out.error, undefined);
        assert.equal(out.wasm.backend, 'wasm', 'WASM kernels in use');
        assert.equal(out.wasm.build, 'relaxed-simd', 'Chromium runs the relaxed-SIMD build');
        assert.ok(
          out.wasm.last < 0.5 * out.wasm.first,
          `loss falls on WASM: ${out.wasm.first} -> ${out.wasm.last}`,
        );
        assert.ok(
          Math.abs(out.js.last - out.wasm.last) < 1e-3 * Math.max(1, out.wasm.last),
          `the JS kernels end at the same loss: ${out.js.last} vs ${out.wasm.last}`,
        );
        assert.match(out.mainThreadInit, /initThreads: .*run normkit in a Web Worker/);
        const w = out.worker;
        assert.equal(w.error, undefined);
        assert.deepEqual([w.one.threads, w.two.threads], [1, 2]);
        assert.equal(w.one.losses.length, 12);
        w.one.losses.forEach((v: number, i: number) =>
          assert.ok(
            Object.is(v, w.two.losses[i]),
            `step ${i}: ${v} at 1 thread, ${w.two.losses[i]} at 2`,
          ),
        );
        assert.ok(w.two.losses[11] < 0.5 * w.two.losses[0], 'loss falls in the Web Worker');
        assert.equal(w.afterLowering, 1, 'setNumThreads(1) lowers the count in a browser');
        t.diagnostic(
          `CNN step, batch 64, in a Web Worker: ${w.one.msPerStep.toFixed(1)} ms at 1 thread, ${w.two.msPerStep.toFixed(1)} ms at 2`,
        );
      } finally {
        await browser.close();
        server.close();
      }
    },
  );
});
