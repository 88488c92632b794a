// The dashboard's browser test: Debian's chromium, driven by playwright-core, against a real
// Rill cluster started by tests/dashboard_browser.rs. Two phases (argv[2]):
//
//   local   URL            a `rill local` cluster: overview, page weight, submit from the form,
//                          RUNNING, the graph (every vertex, figures that change), a vertex's
//                          subtasks, checkpoints, the actor view, TaskManagers, JobManager, a
//                          savepoint from the page, cancel → CANCELED.
//   cluster URL JOB PID    a JobManager with two TaskManager processes running job JOB: the
//                          actor view shows both TaskManagers; TaskManager process PID is
//                          SIGKILLed; the exceptions view and the actor view show the failure
//                          and the restart; cancel → CANCELED.
//
// Screenshots of each view go to $RILL_SCREENSHOTS (default target/dashboard-screenshots).
// Every check asserts on rendered content; the first failed check ends the run with exit 1.
// The browser comes from ./chromium.mjs.

import { mkdirSync } from 'node:fs';
import path from 'node:path';

import { launch } from './chromium.mjs';

const [phase, base, jobArg, pidArg] = process.argv.slice(2);
const shots = process.env.RILL_SCREENSHOTS || 'target/dashboard-screenshots';
mkdirSync(shots, { recursive: true });
const origin = new URL(base).origin;
const T = 20_000;

let page;
let browser;
const outside = [];
const pageErrors = [];

function log(msg) { console.log(`[dashboard ${phase}] ${msg}`); }
function check(cond, msg) { if (!cond) throw new Error(`check failed: ${msg}`); }
async function shot(name) { await page.screenshot({ path: path.join(shots, `${phase}-${name}.png`), fullPage: true }); }
async function text(sel) {
  const el = page.locator(sel).first();
  await el.waitFor({ timeout: T });
  // innerText for HTML (rendered line breaks), textContent for SVG text.
  return (await el.evaluate((e) => (e instanceof HTMLElement ? e.innerText : e.textContent))).trim();
}
async function api(p, init) {
  const r = await fetch(base + p, init);
  const body = await r.text();
  if (!r.ok) throw new Error(`${init?.method || 'GET'} ${p}: ${r.status} ${body}`);
  return body ? JSON.parse(body) : null;
}
/** Waits until `fn()` returns a truthy value (polling), or fails with `what`. */
async function until(what, fn, limit = T) {
  const end = Date.now() + limit;
  let last;
  while (Date.now() < end) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e.message; }
    await page.waitForTimeout(250);
  }
  throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}
async function go(hash) { await page.goto(`${base}/${hash}`); }
async function confirmDialog() {
  const dlg = page.locator('dialog[open]');
  await dlg.waitFor({ timeout: T });
  await dlg.locator('button.primary, button.danger').last().click();
}

async function localPhase() {
  // 1. The overview, with the page weight of the first load.
  let loaded = 0;
  const sizes = [];
  page.on('response', async (r) => {
    try { const b = await r.body(); sizes.push([r.url(), b.length]); } catch { /* streams */ }
  });
  await go('#/');
  await page.waitForSelector('#overview-cards .card', { timeout: T });
  await page.waitForLoadState('networkidle');
  loaded = sizes.reduce((s, [, n]) => s + n, 0);
  log(`first load: ${sizes.length} responses, ${loaded} bytes`);
  check(loaded > 10_000 && loaded < 1_000_000, `first load weighs ${loaded} bytes (must be < 1 MB)`);
  const cards = await text('#overview-cards');
  check(/TaskManagers\s*2/i.test(cards), `overview shows 2 TaskManagers: ${cards}`);
  check(/Slots total\s*4/i.test(cards), `overview shows 4 slots: ${cards}`);
  await shot('overview');

  // 2. Submit clickstream from the form.
  await page.selectOption('#submit-job', 'clickstream');
  check((await text('#submit-about')).includes('clickstream'), 'the form describes the job');
  await page.fill('#submit-args', '--rate 2000');
  await page.fill('#submit-parallelism', '2');
  await page.fill('#submit-checkpoint-interval', '500');
  await page.click('#submit-button');
  await page.waitForSelector('#submit-job-link', { timeout: T });
  const job = (await text('#submit-job-link'));
  check(/^[0-9a-f]{32}$/.test(job), `a job id is shown: ${job}`);
  await shot('submitted');
  await page.click('#submit-job-link');

  // 3. The job page: RUNNING, the graph with every vertex, figures that change.
  await until('the job RUNNING', async () => (await text('#job-status')) === 'RUNNING');
  const details = await api(`/jobs/${job}`);
  const vertices = details.vertices.map((v) => v.id);
  await page.waitForSelector('#job-graph g.vertex', { timeout: T });
  const drawn = await page.locator('#job-graph g.vertex').evaluateAll((gs) => gs.map((g) => g.dataset.vertexId));
  check(vertices.length >= 3 && vertices.every((v) => drawn.includes(v)), `every vertex drawn: ${drawn} vs ${vertices}`);
  const source = vertices[0];
  const outSel = `#job-graph g.vertex[data-vertex-id="${source}"] .vertex-records-out`;
  const first = await text(outSel);
  await until('the source figures to change', async () => (await text(outSel)) !== first, 15_000);
  log(`source records out: ${first} → ${await text(outSel)}`);
  await shot('graph');

  // 4. A vertex's subtasks.
  await page.locator(`#job-graph g.vertex[data-vertex-id="${source}"]`).click();
  await page.waitForSelector('#subtasks tr[data-key="1"]', { timeout: T });
  const rows = await page.locator('#subtasks tbody tr').count();
  check(rows === 2, `the source's 2 subtasks are listed (${rows})`);
  check((await text('#subtasks')).includes('RUNNING'), 'the subtasks are RUNNING');
  await shot('subtasks');

  // 5. Checkpoints.
  await page.click('#tab-checkpoints');
  await until('a completed checkpoint', async () => {
    const t = await text('#checkpoint-counts');
    const m = /Completed\s*(\d+)/i.exec(t);
    return m && Number(m[1]) > 0;
  });
  await page.waitForSelector('#checkpoint-history tr[data-key]', { timeout: T });
  await page.waitForSelector('#checkpoint-timeline .gantt-bar', { timeout: T });
  await shot('checkpoints');
  await page.click('#tab-exceptions');
  await page.waitForSelector('#exceptions-restarts', { timeout: T });
  check((await text('#exceptions-restarts')) === '0', 'no restarts yet');
  await shot('exceptions');

  // 6. The actor view.
  await go('#/actors');
  await page.waitForSelector('#actors [data-actor-kind="Subtask"]', { timeout: T });
  for (const kind of ['Dispatcher', 'ResourceManager', 'JobMaster', 'TaskManager', 'Slot', 'Subtask']) {
    check(await page.locator(`#actors [data-actor-kind="${kind}"]`).count() > 0, `the actor view shows a ${kind}`);
  }
  const mailbox = await text('#actors [data-actor-kind="Dispatcher"] .mailbox');
  check(/^\d+\s*\/\s*\d+$/.test(mailbox), `a mailbox figure is shown: ${mailbox}`);
  await shot('actors');

  // 7. TaskManagers and the JobManager.
  await go('#/taskmanagers');
  await page.waitForSelector('#taskmanagers tr[data-key]', { timeout: T });
  check(await page.locator('#taskmanagers tr[data-key]').count() === 2, 'two TaskManagers listed');
  await shot('taskmanagers');
  await page.locator('#taskmanagers tr[data-key] a').first().click();
  await page.waitForSelector('#taskmanager-slots', { timeout: T });
  await shot('taskmanager');
  await go('#/jobmanager');
  await page.waitForSelector('#jobmanager-config', { timeout: T });
  check((await text('#jobmanager-config')).length > 20, 'the JobManager configuration is shown');
  await shot('jobmanager');

  // 8. A savepoint from the page, then cancel.
  await go(`#/jobs/${job}`);
  await until('the job RUNNING', async () => (await text('#job-status')) === 'RUNNING');
  await page.click('#job-savepoint');
  await confirmDialog();
  await until('the savepoint to complete', async () => /COMPLETED/.test(await text('#job-action-outcome')), 30_000);
  const outcome = await text('#job-action-outcome');
  check(/savepoint-/.test(outcome), `the savepoint's path is shown: ${outcome}`);
  await shot('savepoint');
  await page.click('#job-cancel');
  await confirmDialog();
  await until('the job CANCELED', async () => (await text('#job-status')) === 'CANCELED');
  await shot('canceled');
}

async function clusterPhase() {
  const job = jobArg;
  const pid = Number(pidArg);
  await go('#/actors');
  await page.waitForSelector('#actors [data-actor-kind="Subtask"]', { timeout: T });
  await until('both TaskManagers in the actor view',
    async () => (await page.locator('#actors [data-actor-kind="TaskManager"]').count()) === 2);
  const nodes = await page.locator('#actors [data-node]').count();
  check(nodes >= 3, `the JobManager's node and both TaskManagers' nodes are shown (${nodes})`);
  await shot('actors-before');

  log(`SIGKILL TaskManager process ${pid}`);
  process.kill(pid, 'SIGKILL');
  const events = async () => (await page.locator('#actor-events .actor-event').allInnerTexts()).join('\n');
  await until('the actor view to show the lost TaskManager', async () => {
    const lost = await page.locator('#actors [data-node-status="unreachable"], #actors [data-node-status="timed_out"]').count();
    return lost > 0 || /TaskManager node .* gone|unreachable|timed out/i.test(await events());
  }, 40_000);
  await shot('actors-lost');
  await until('the actor view to show the subtasks redeployed', async () => /redeployed/i.test(await events()), 40_000);
  log(`actor events:\n${await events()}`);
  await shot('actors-restarted');

  await go(`#/jobs/${job}/exceptions`);
  await until('a restart in the exceptions view', async () => Number(await text('#exceptions-restarts')) >= 1, 40_000);
  await page.waitForSelector('#exceptions-history tr[data-key]', { timeout: T });
  const history = await text('#exceptions-history');
  check(/TaskManager|lost|RESTARTING/i.test(history), `the history names the failure: ${history.slice(0, 300)}`);
  const left = await text('#exceptions-remaining');
  check(/^[0-4]$/.test(left), `the restart budget (fixed-delay, 5 attempts) shrank: ${left} left`);
  check(/fixed-delay/.test(await text('#exceptions-strategy')), 'the restart strategy is named');
  await shot('exceptions-restart');

  await go(`#/jobs/${job}`);
  await until('the job RUNNING again', async () => (await text('#job-status')) === 'RUNNING', 40_000);

  await go(`#/jobs/${job}`);
  await page.click('#job-cancel');
  await confirmDialog();
  await until('the job CANCELED', async () => (await text('#job-status')) === 'CANCELED');
  await shot('canceled');
}

const deadline = setTimeout(() => { console.error('dashboard test: over its time limit'); process.exit(3); }, 150_000);
try {
  ({ browser, page } = await launch());
  page.on('request', (r) => { if (new URL(r.url()).origin !== origin && !r.url().startsWith('data:')) outside.push(r.url()); });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
  if (phase === 'local') await localPhase();
  else if (phase === 'cluster') await clusterPhase();
  else throw new Error(`unknown phase ${phase}`);
  check(outside.length === 0, `requests left the JobManager: ${outside.join(', ')}`);
  const real = pageErrors.filter((e) => !/Failed to load resource|EventSource|net::ERR/.test(e));
  check(real.length === 0, `the page reported errors: ${real.join(' | ')}`);
  log('all checks passed');
  await browser.close();
  clearTimeout(deadline);
} catch (e) {
  console.error(`[dashboard ${phase}] ${e.stack || e}`);
  try { await shot('failure'); } catch { /* no page */ }
  try { await browser?.close(); } catch { /* gone */ }
  process.exit(1);
}
