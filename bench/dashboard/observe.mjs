// Keeps the dashboard open on one view in headless chromium until killed (SIGTERM): the
// "browser attached" side of bench/dashboard/run.sh. Usage: node observe.mjs URL HASH.
import { launch } from '../../tests/browser/chromium.mjs';

const [base, hash] = process.argv.slice(2);
const { browser, page } = await launch();
await page.goto(`${base}/${hash}`);
console.log('observing');
const stop = async () => { await browser.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setInterval(() => {}, 1 << 30);
