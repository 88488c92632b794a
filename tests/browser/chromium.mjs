// Debian's chromium, headless, through playwright-core: the one launch the browser test
// (dashboard.mjs) and the dashboard benchmarks (bench/dashboard/*.mjs) share.
// `PLAYWRIGHT_CORE` names the playwright-core package directory (scripts/deps.sh --tests
// installs it in ~/.cache/rill-npm), `CHROMIUM` another browser binary.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT_CORE || 'playwright-core');

/** A headless browser with no network activity of its own, and a 1400×900 page in it. */
export async function launch() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  return { browser, page };
}
