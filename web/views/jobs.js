// The jobs list (#/jobs): the running jobs and the completed ones (finished, canceled, failed),
// each a row linking to the job's page (#/jobs/<id>) with its status, start, end, duration and
// task counts by state. Data: GET /jobs/overview, polled every 2 s; long lists are paged
// (the page is kept in the hash query as `running` / `completed`, so it survives reloads).

import { get } from '../lib/api.js';
import { h, fill, table, badge, duration, time, notice } from '../lib/dom.js';

const PAGE_SIZE = 20;

/** Job states after which a job does nothing more. */
export const TERMINAL = new Set(['FINISHED', 'CANCELED', 'FAILED', 'SUSPENDED']);

/** The task states shown as counts, in order, with their short labels. */
const TASK_STATES = [
  ['running', 'running'], ['finished', 'finished'], ['created', 'created'],
  ['scheduled', 'scheduled'], ['deploying', 'deploying'], ['initializing', 'initializing'],
  ['canceling', 'canceling'], ['canceled', 'canceled'], ['failed', 'failed'],
];

export async function jobListPage(el, ctx) {
  const error = h('div#jobs-error');
  const running = listSection('running', 'Running jobs', 'No job is running.', ctx);
  const completed = listSection('completed', 'Completed jobs', 'No job has completed yet.', ctx);
  fill(el, h('h1', 'Jobs'), error, running.el, completed.el);
  ctx.scope.poll(2000, async () => {
    let list;
    try {
      list = await get('/jobs/overview');
    } catch (e) {
      fill(error, notice('bad', `The jobs cannot be listed: ${e.message}`));
      return;
    }
    fill(error);
    const jobs = list.jobs || [];
    const newest = (field) => (a, b) => (b[field] || 0) - (a[field] || 0) || (a.jid < b.jid ? -1 : 1);
    const live = jobs.filter((j) => !TERMINAL.has(j.state)).sort(newest('start-time'));
    const done = jobs.filter((j) => TERMINAL.has(j.state)).sort(newest('end-time'));
    running.show(live);
    completed.show(done);
  });
}

/** A titled, paged job table; `show(rows)` redraws it keeping the current page. */
function listSection(key, title, empty, ctx) {
  const count = h('span.muted.jobs-count');
  const body = h('div', { id: `jobs-${key}` });
  const pager = h('div.pager');
  let page = Math.max(0, Number(ctx.query.get(key) || 1) - 1);
  let rows = [];
  const draw = () => {
    const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
    page = Math.min(page, pages - 1);
    const shown = rows.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
    fill(count, rows.length ? ` (${rows.length})` : '');
    fill(body, jobTable(shown, empty, ctx));
    if (pages <= 1) { fill(pager); return; }
    const go = (p) => { page = p; ctx.setQuery({ [key]: p ? p + 1 : null }); draw(); };
    fill(pager,
      h('button', { type: 'button', disabled: page === 0, onclick: () => go(page - 1) }, '‹ Previous'),
      h('span.muted', `Page ${page + 1} of ${pages}`),
      h('button', { type: 'button', disabled: page >= pages - 1, onclick: () => go(page + 1) }, 'Next ›'));
  };
  return {
    el: h('section.jobs-section', h('h2', title, count), body, pager),
    show(r) { rows = r; draw(); },
  };
}

function jobTable(rows, empty, ctx) {
  return table([
    { title: 'Name', cell: (j) => h('a.job-link', { href: `#/jobs/${j.jid}` }, j.name || j.jid) },
    { title: 'Job ID', cell: (j) => h('span.mono.muted', j.jid) },
    { title: 'Status', cell: (j) => badge(j.state) },
    { title: 'Started', cell: (j) => time(j['start-time']) },
    { title: 'Ended', cell: (j) => time(j['end-time']) },
    { title: 'Duration', num: true, cell: (j) => duration(j.duration) },
    { title: 'Tasks', cell: (j) => taskCounts(j.tasks) },
  ], rows, { key: (j) => j.jid, empty, onRow: (j) => ctx.navigate(`#/jobs/${j.jid}`) });
}

/** Task counts by state as small coloured chips (zero counts left out), then the total. */
export function taskCounts(tasks) {
  if (!tasks) return '–';
  const chips = TASK_STATES.filter(([k]) => tasks[k] > 0)
    .map(([k, label]) => h('span.task-chip.' + k, { title: `${tasks[k]} ${label}` }, String(tasks[k])));
  return h('span.task-counts', chips, h('span.muted', ` of ${tasks.total ?? '–'}`));
}
