// Browser smoke test (not part of npm test: it needs a Chromium, which CI does not install).
// Serves the repository on 127.0.0.1 with cross-origin isolation, opens test/browser/smoke.html
// in headless Chromium (Debian's package: apt-get install -y chromium) through playwright-core,
// and checks that the WASM kernels load and a BatchNorm CNN trains on them and on the JS kernels,
// and that kernel threads run in a Web Worker (test/browser/worker.js) with the same results.
// Usage: npm run build && node scripts/browser-smoke.mjs [/usr/bin/chromium]
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { chromium } from 'playwright-core';

const root = new URL('..', import.meta.url).pathname;
const types = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
};
const server = createServer(async (req, res) => {
  const path = normalize(join(root, decodeURIComponent(new URL(req.url, 'http://x').pathname)));
  if (!path.startsWith(root)) return res.writeHead(403).end();
  try {
    const body = await readFile(path);
    res.writeHead(200, {
      'Content-Type': types[extname(path)] ?? 'application/octet-stream',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
    });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const url = `http://127.0.0.1:${server.address().port}/test/browser/smoke.html`;
const browser = await chromium.launch({
  executablePath: process.argv[2] ?? '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
});
let failed = false;
try {
  const page = await browser.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(url);
  await page.waitForFunction(() => document.title === 'done', null, { timeout: 60000 });
  const out = JSON.parse(await page.textContent('body'));
  console.log(JSON.stringify(out, null, 2));
  const checks = [
    ['page is cross-origin isolated', out.crossOriginIsolated === true],
    ['no error', out.error === undefined],
    ['WASM kernels in use', out.wasm?.backend === 'wasm'],
    ['loss falls on WASM', out.wasm?.last < 0.5 * out.wasm?.first],
    [
      'JS kernels give the same final loss',
      Math.abs(out.js?.last - out.wasm?.last) < 1e-3 * Math.max(1, out.wasm?.last),
    ],
    [
      "the page's main thread refuses kernel threads and says why",
      /initThreads: .*run normkit in a Web Worker/.test(out.mainThreadInit),
    ],
    ['no error in the Web Worker', out.worker?.error === undefined],
    [
      'the Web Worker runs 1, then 2 kernel threads',
      out.worker?.one?.threads === 1 && out.worker?.two?.threads === 2,
    ],
    [
      'the same losses at 1 and 2 threads, bit for bit',
      out.worker?.one?.losses.length === 12 &&
        out.worker.one.losses.every((v, i) => Object.is(v, out.worker.two.losses[i])),
    ],
    [
      'loss falls in the Web Worker',
      out.worker?.two?.losses[11] < 0.5 * out.worker?.two?.losses[0],
    ],
    ['setNumThreads(1) lowers the count in a browser', out.worker?.afterLowering === 1],
  ];
  if (out.worker?.one && out.worker?.two)
    console.log(
      `CNN step, batch 64, in a Web Worker: ${out.worker.one.msPerStep.toFixed(1)} ms at 1 thread, ` +
        `${out.worker.two.msPerStep.toFixed(1)} ms at 2 threads`,
    );
  for (const [what, ok] of checks) {
    console.log(`${ok ? 'ok    ' : 'FAILED'} ${what}`);
    failed ||= !ok;
  }
} finally {
  await browser.close();
  server.close();
}
process.exit(failed ? 1 : 0);
