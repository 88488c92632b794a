// How the dashboard keeps up with a large job: against a running job (URL, JOB), times how
// long each view takes to show its content, and how much main-thread time chromium spends per
// second while the job graph and the actor view update live (Chrome's TaskDuration over 10 s).
// Usage: node scale.mjs URL JOB (bench/dashboard/scale.sh starts the cluster and the job).
import { launch } from '../../tests/browser/chromium.mjs';

const [base, job] = process.argv.slice(2);
const { browser, page } = await launch();
const cdp = await page.context().newCDPSession(page);
await cdp.send('Performance.enable');
const taskSeconds = async () => (await cdp.send('Performance.getMetrics')).metrics
  .find((m) => m.name === 'TaskDuration').value;

async function timed(what, hash, ready) {
  const t0 = Date.now();
  await page.goto(`${base}/${hash}`);
  await page.waitForFunction(ready, null, { timeout: 60_000, polling: 100 });
  console.log(`${what.padEnd(34)} shown in ${Date.now() - t0} ms`);
}
async function steady(what, seconds = 10) {
  const t0 = await taskSeconds();
  await page.waitForTimeout(seconds * 1000);
  const busy = ((await taskSeconds()) - t0) * 1000 / seconds;
  console.log(`${what.padEnd(34)} main thread ${busy.toFixed(0)} ms/s while live`);
}

const details = await (await fetch(`${base}/jobs/${job}`)).json();
const source = details.vertices[0];
await timed('overview', '#/', () => document.querySelectorAll('#overview-cards .card').length > 0);
await timed('job graph', `#/jobs/${job}`, () => document.querySelectorAll('#job-graph g.vertex').length > 0);
await steady('job graph');
await timed(`subtasks of the source (${source.parallelism})`, `#/jobs/${job}?vertex=${source.id}`,
  (n) => document.querySelectorAll('#subtasks tbody tr').length > 0);
await timed('checkpoints', `#/jobs/${job}/checkpoints`, () => document.querySelectorAll('#checkpoint-timeline .gantt-bar').length > 0);
await timed('actors', '#/actors', () => document.querySelectorAll('#actors [data-actor-kind="Slot"]').length > 0);
const actors = await page.locator('#actors [data-actor-path]').count();
console.log(`actors view rows                   ${actors}`);
await steady('actors');
await browser.close();
