// Writes docs/playground.png, the README's picture of the playground: serves the built page,
// presses "Start both" (BatchNorm CNN against the same CNN without it), waits, and takes the
// 1280x720 viewport. Usage: npm run build && node scripts/playground-screenshot.mjs [seconds]
import { chromium } from 'playwright-core';
import { servePlayground } from '../dist/src/cli/playground.js';

const seconds = Number(process.argv[2] ?? 25);
const { server, url } = await servePlayground();
const browser = await chromium.launch({
  executablePath: process.env.NORMKIT_CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  await page.goto(url);
  await page.waitForFunction(
    () => ['A', 'B'].every((n) => globalThis.__playground.runs[n].state === 'idle'),
    null,
    { timeout: 60000 },
  );
  await page.click('text=Start both');
  await page.waitForTimeout(seconds * 1000);
  await page.click('text=Pause both');
  await page.waitForTimeout(500);
  await page.screenshot({ path: new URL('../docs/playground.png', import.meta.url).pathname });
  console.log('wrote docs/playground.png');
} finally {
  await browser.close();
  server.close();
}
