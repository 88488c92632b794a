// A job's Exceptions tab (mounted by the job page): its status, restarts and restart strategy,
// the root cause, and the failure history, newest first; a failure expands to its message
// ("stack trace") and the failures reported while it was handled (concurrent exceptions).
// Data: GET /jobs/<id>/exceptions (with Rill's `restart-strategy`: the strategy, its restarts
// and what it would still grant) and GET /jobs/<id>, polled.

import { get } from '../lib/api.js';
import { h, fill, card, badge, num, duration, time, notice, syncRows } from '../lib/dom.js';

const POLL_MS = 3000;
const PAGE = 50;
const COLS = 9;

export async function exceptionsTab(el, ctx, jobId) {
  const state = { expanded: new Set(), allConcurrent: new Set(), shown: PAGE };
  const errorBox = h('div#exceptions-error');
  const cards = h('div.cards#exceptions-cards');
  const root = h('div#exceptions-root');
  const body = h('tbody');
  const more = h('div.pager');
  const history = h('div#exceptions-history', h('table.grid.exc-history',
    h('thead', h('tr', h('th.toggle', ''), h('th', 'Time'), h('th', 'Exception'), h('th', 'Task'),
      h('th', 'TaskManager'), h('th', 'Outcome'), h('th.num', 'Restart delay'), h('th.num', 'Restarted subtasks'),
      h('th.num', 'Concurrent'))),
    body), more);
  const truncated = h('div');
  fill(el, h('div.exc', errorBox, cards, h('h3', 'Root cause'), root, h('h3', 'History'), truncated, history));

  const view = { state, body, more, jobId };
  view.rerender = () => renderHistory(view);
  ctx.scope.poll(POLL_MS, async () => {
    let ex; let job;
    try {
      [ex, job] = await Promise.all([get(`/jobs/${jobId}/exceptions`), get(`/jobs/${jobId}`)]);
      fill(errorBox);
    } catch (e) {
      fill(errorBox, notice('bad', `The job's exceptions cannot be read: ${e.message}`));
      return;
    }
    view.entries = keyed((ex.exceptionHistory && ex.exceptionHistory.entries) || []);
    renderCards(cards, job, ex, state);
    renderRoot(root, ex, view.entries[0]);
    fill(truncated, ex.truncated || (ex.exceptionHistory && ex.exceptionHistory.truncated)
      ? notice('info', 'Older failures were dropped: the JobManager keeps the newest ones only.') : null);
    renderHistory(view);
  });
}

/** Gives each entry a key that stays the same as newer failures arrive: its timestamp (+ n). */
function keyed(entries) {
  const seen = new Map();
  const out = [];
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i];
    const base = String(e.timestamp);
    const n = (seen.get(base) || 0) + 1;
    seen.set(base, n);
    out.unshift({ ...e, key: n === 1 ? base : `${base}-${n}` });
  }
  return out;
}

function renderCards(el, job, ex, state) {
  const restarts = h('span#exceptions-restarts', String(job['num-restarts'] || 0));
  const failures = (ex.exceptionHistory && ex.exceptionHistory.entries) || [];
  fill(el,
    card('Job status', badge(job.state || 'UNKNOWN')),
    card('Restarts', restarts),
    card('Failures kept', num(failures.length)),
    card('Last failure', h('span.small-value', ex.timestamp ? time(ex.timestamp) : 'none')),
    card('Restarts left', h('span#exceptions-remaining', remaining(ex['restart-strategy']))),
    card('Restart strategy', h('span.small-value#exceptions-strategy',
      ex['restart-strategy'] ? ex['restart-strategy'].description : '–')));
  for (const v of el.querySelectorAll('.small-value')) v.parentElement.classList.add('small-value');
}

/** What the restart strategy would still grant: a number, "unlimited", or "–" if unknown. */
function remaining(rs) {
  if (!rs) return '–';
  const left = rs['remaining-restarts'];
  return left === null || left === undefined ? 'unlimited' : num(left);
}

function meta(e) {
  return [
    e.exceptionName ? h('b', e.exceptionName) : null,
    e.timestamp ? ` at ${time(e.timestamp)}` : null,
    e.taskName ? [' in ', h('span.mono', e.taskName)] : null,
    e.taskManagerId ? [' on ', tmLink(e.taskManagerId)] : null,
  ];
}

function renderRoot(el, ex, newest) {
  if (!ex['root-exception']) {
    fill(el, h('div.panel', h('p.muted', 'No failure: the job has not failed nor restarted.')));
    return;
  }
  const same = newest && newest.stacktrace === ex['root-exception'];
  const text = ex['root-exception'];
  if (el.__text === text && el.__at === ex.timestamp) return; // keep the user's selection
  el.__text = text;
  el.__at = ex.timestamp;
  fill(el, h('div.panel.root',
    h('div.meta', same ? meta(newest) : ['Reported ', time(ex.timestamp)]),
    h('pre.trace', text)));
}

function tmLink(id) {
  return h('a.mono', { href: `#/taskmanagers/${encodeURIComponent(id)}`, onclick: (e) => e.stopPropagation() }, id);
}

function renderHistory(v) {
  const { state, body, more } = v;
  const all = v.entries || [];
  const list = all.slice(0, state.shown);
  const rows = [];
  if (!all.length) rows.push({ key: 'empty', sig: 'empty', render: () => h('tr', h('td.muted', { colSpan: COLS }, 'No failure so far.')) });
  for (const e of list) {
    const open = state.expanded.has(e.key);
    rows.push({
      key: e.key,
      sig: JSON.stringify([open, e.jobStatus, (e.concurrentExceptions || []).length]),
      render: () => entryRow(v, e, open),
    });
    if (open) {
      const all = state.allConcurrent.has(e.key);
      rows.push({ key: `${e.key}:detail`, sig: JSON.stringify([e, all]), render: () => entryDetail(v, e, all) });
    }
  }
  syncRows(body, rows, 'row');
  for (const tr of body.children) {
    if (!tr.dataset.row.includes(':') && tr.dataset.row !== 'empty') tr.dataset.key = tr.dataset.row;
  }
  fill(more, all.length > list.length
    ? [h('span.muted', `${list.length} of ${all.length} shown`),
      h('button', { type: 'button', onclick: () => { state.shown += PAGE; v.rerender(); } }, `Show ${Math.min(PAGE, all.length - list.length)} more`)]
    : null);
}

function entryRow(v, e, open) {
  const toggle = () => {
    if (v.state.expanded.has(e.key)) v.state.expanded.delete(e.key); else v.state.expanded.add(e.key);
    v.rerender();
  };
  const n = (e.concurrentExceptions || []).length;
  return h('tr.clickable' + (open ? '.open' : ''), { onclick: toggle, title: e.stacktrace || '' },
    h('td.toggle', open ? '▾' : '▸'),
    h('td', time(e.timestamp)),
    h('td', e.exceptionName || '–'),
    h('td', e.taskName ? h('span.mono', e.taskName) : h('span.muted', 'the job')),
    h('td', e.taskManagerId ? tmLink(e.taskManagerId) : '–'),
    h('td', e.jobStatus ? badge(e.jobStatus) : '–'),
    h('td.num', e.restartDelayMs !== undefined && e.restartDelayMs !== null ? duration(e.restartDelayMs) : '–'),
    h('td.num', e.restartedSubtasks !== undefined && e.restartedSubtasks !== null ? num(e.restartedSubtasks) : '–'),
    h('td.num', n ? num(n) : '–'));
}

const CONCURRENT_SHOWN = 50;

function entryDetail(v, e, all) {
  const every = e.concurrentExceptions || [];
  const conc = all ? every : every.slice(0, CONCURRENT_SHOWN);
  return h('tr.detail', h('td', { colSpan: COLS },
    h('div.small.muted', meta(e)),
    h('pre.trace', e.stacktrace || '(no message)'),
    conc.length ? [
      h('h3', `Concurrent failures (${every.length})`),
      h('table.grid.nested',
        h('thead', h('tr', h('th', 'Time'), h('th', 'Exception'), h('th', 'Task'), h('th', 'TaskManager'), h('th', 'Message'))),
        h('tbody', conc.map((c) => h('tr',
          h('td', time(c.timestamp)),
          h('td', c.exceptionName || '–'),
          h('td', c.taskName ? h('span.mono', c.taskName) : '–'),
          h('td', c.taskManagerId ? tmLink(c.taskManagerId) : '–'),
          h('td', h('pre.trace', c.stacktrace || '')))))),
      every.length > conc.length ? h('div.pager', h('span.muted', `${conc.length} of ${every.length} shown`),
        h('button', { type: 'button', onclick: () => { v.state.allConcurrent.add(e.key); v.rerender(); } }, 'Show all')) : null] : null));
}
