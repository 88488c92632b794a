// The TaskManagers: the list (#/taskmanagers: id, slots, free slots, registration, heartbeat
// age; live) and one TaskManager (#/taskmanagers/<id>: its slots and the jobs in them, heartbeat,
// its metrics with a short trend, and its recent log lines).
// Data: GET /taskmanagers, /taskmanagers/<id>, /taskmanagers/<id>/metrics[?get=…],
// /jobs/<jid> and /jobs/<jid>/vertices/<vid> (the subtasks placed here, by `taskmanager-id`),
// /taskmanagers/<id>/logs and /taskmanagers/<id>/logs/<name> (text), /jobs/overview (job names),
// /jobmanager/config (heartbeat interval and timeout, to colour the heartbeat age).
// The metrics and log panels are shared with the JobManager view.

import { get, getText } from '../lib/api.js';
import { h, fill, card, badge, num, bytes, duration, time, notice, syncRows } from '../lib/dom.js';

const POLL_MS = 2000;

/** The heartbeat settings (ms), read once per view; defaults as the JobManager's. */
async function heartbeatSettings() {
  const out = { interval: 2000, timeout: 10000 };
  try {
    const c = await get('/jobmanager/config');
    for (const { key, value } of Array.isArray(c) ? c : []) {
      if (key === 'heartbeat_interval_ms') out.interval = Number(value) || out.interval;
      if (key === 'heartbeat_timeout_ms') out.timeout = Number(value) || out.timeout;
    }
  } catch (e) {
    console.warn('jobmanager config', e);
  }
  return out;
}

/** The age of the last heartbeat, coloured: late after two intervals, lost near the timeout. */
function heartbeat(ms, hb) {
  if (ms === null || ms === undefined || ms < 0) return h('span.muted', '–');
  const cls = ms >= hb.timeout * 0.8 ? '.hb-bad' : ms >= hb.interval * 2 ? '.hb-warn' : '.hb-ok';
  return h('span.hb' + cls, { title: `heartbeat every ${duration(hb.interval)}, timeout ${duration(hb.timeout)}` }, `${duration(ms)} ago`);
}

function slotBar(total, free) {
  const used = Math.max(0, (total || 0) - (free || 0));
  const p = total ? used / total : 0;
  return h('span.slot-use', h('span.bar' + (p >= 1 ? '.full' : ''), h('span', { style: { width: `${Math.round(p * 100)}%` } })),
    ` ${num(used)} of ${num(total)} used`);
}

// ---------------------------------------------------------------- list

export async function taskManagerListPage(el, ctx) {
  const errorBox = h('div');
  const cards = h('div.cards#taskmanagers-cards');
  const body = h('tbody');
  const tableEl = h('table.grid.tm-list',
    h('thead', h('tr', h('th', 'ID'), h('th.num', 'Data port'), h('th', 'Registered'), h('th', 'Last heartbeat'),
      h('th.num', 'Slots'), h('th.num', 'Free slots'), h('th', 'Usage'))),
    body);
  fill(el, h('h1', 'TaskManagers'), errorBox, cards, h('div#taskmanagers', tableEl));
  const hb = await heartbeatSettings();
  ctx.scope.poll(POLL_MS, async () => {
    let list;
    try {
      list = (await get('/taskmanagers')).taskmanagers || [];
      fill(errorBox);
    } catch (e) {
      fill(errorBox, notice('bad', `The TaskManagers cannot be listed: ${e.message}`));
      return;
    }
    const total = list.reduce((a, t) => a + (t.slotsNumber || 0), 0);
    const free = list.reduce((a, t) => a + (t.freeSlots || 0), 0);
    fill(cards, card('TaskManagers', num(list.length)), card('Slots total', num(total)), card('Slots free', num(free)),
      card('Slots used', num(total - free)));
    if (!list.length) {
      body.replaceChildren(h('tr', h('td.muted', { colSpan: 7 }, 'No TaskManager is registered.')));
      return;
    }
    const rows = list.map((t) => ({
      key: t.id,
      sig: JSON.stringify([t.slotsNumber, t.freeSlots, t.registrationTime, t.dataPort, Math.round((t.timeSinceLastHeartbeat || 0) / 500)]),
      render: () => h('tr.clickable', { onclick: () => ctx.navigate(`#/taskmanagers/${encodeURIComponent(t.id)}`) },
        h('td', h('a.mono', { href: `#/taskmanagers/${encodeURIComponent(t.id)}`, onclick: (e) => e.stopPropagation() }, t.id)),
        h('td.num', t.dataPort > 0 ? String(t.dataPort) : '–'),
        h('td', time(t.registrationTime)),
        h('td', heartbeat(t.timeSinceLastHeartbeat, hb)),
        h('td.num', num(t.slotsNumber)),
        h('td.num', num(t.freeSlots)),
        h('td', slotBar(t.slotsNumber, t.freeSlots))),
    }));
    syncRows(body, rows);
  });
}

// ---------------------------------------------------------------- one TaskManager

export async function taskManagerPage(el, ctx) {
  const id = ctx.params[0];
  const base = `/taskmanagers/${encodeURIComponent(id)}`;
  const errorBox = h('div');
  const cards = h('div.cards#taskmanager-cards');
  const slots = h('div#taskmanager-slots', h('p.muted', 'Loading…'));
  const metrics = h('div#taskmanager-metrics');
  const log = h('div.log-panel');
  const subtasks = h('div#taskmanager-subtasks', h('p.muted', 'Loading…'));
  fill(el,
    h('div.crumbs', h('a', { href: '#/taskmanagers' }, 'TaskManagers'), ' / '),
    h('h1', 'TaskManager ', h('span.mono', id)),
    errorBox, cards,
    h('div.tm-cols',
      h('div', h('h2', 'Slots'), slots),
      h('div', h('h2', 'Metrics'), metrics)),
    h('h2', 'Subtasks on this TaskManager'), subtasks,
    h('h2', 'Log'), log);
  const hb = await heartbeatSettings();
  const jobs = { names: new Map(), at: 0 };
  // Once the TaskManager is gone (404), only the list is read, to see whether it comes back.
  const live = { gone: false, seen: false };
  const jobsHere = { ids: null, all: false }; // the jobs in its slots, for the subtasks table
  metricsPanel(metrics, `${base}/metrics`, ctx, 'taskmanager-metrics-table', () => !live.gone);
  logPanel(log, `${base}/logs`, 'taskmanager-log', ctx);
  ctx.scope.poll(POLL_MS, async () => {
    let tm;
    try {
      if (live.gone) {
        const list = (await get('/taskmanagers')).taskmanagers || [];
        if (!list.some((t) => t.id === id)) return;
        live.gone = false;
      }
      tm = await get(base);
      live.seen = true;
      fill(errorBox);
    } catch (e) {
      live.gone = e.status === 404;
      fill(errorBox, notice('bad', live.gone
        ? `TaskManager ${id} is not registered: stopped, or lost (no heartbeat).${live.seen ? ' The figures below are the last ones read.' : ''}`
        : `The TaskManager cannot be read: ${e.message}`));
      if (!live.seen) fill(slots, h('p.muted', 'Unknown.'));
      return;
    }
    await jobNames(jobs, tm.allocatedSlots || []);
    fill(cards,
      card('Slots', num(tm.slotsNumber)),
      card('Free slots', num(tm.freeSlots)),
      card('Last heartbeat', heartbeat(tm.timeSinceLastHeartbeat, hb)),
      card('Registered', h('span.small-value', time(tm.registrationTime))),
      card('Data port', tm.dataPort > 0 ? String(tm.dataPort) : '–'));
    renderSlots(slots, tm, jobs);
    const first = jobsHere.ids === null;
    jobsHere.ids = [...new Set((tm.allocatedSlots || []).map((x) => x.jobId))];
    if (first) {
      ctx.scope.poll(SUBTASKS_POLL_MS, async () => {
        if (!live.gone) await renderSubtasks(subtasks, id, jobsHere);
      });
    }
  });
}

const SUBTASKS_POLL_MS = 5000;
const SUBTASKS_SHOWN = 50;

/**
 * The subtasks this TaskManager runs: every vertex of every job in its slots
 * (GET /jobs/<jid> and /jobs/<jid>/vertices/<vid>), those whose `taskmanager-id` is this one.
 * Which slot runs which subtask is not reported.
 */
async function renderSubtasks(el, tmId, here) {
  const found = [];
  try {
    for (const jid of here.ids) {
      const job = await get(`/jobs/${jid}`);
      const details = await Promise.all((job.vertices || []).map((v) => get(`/jobs/${jid}/vertices/${v.id}`)));
      for (const d of details) {
        for (const st of d.subtasks || []) {
          if (st['taskmanager-id'] === tmId) found.push({ jid, job: job.name, vid: d.id, name: d.name, p: d.parallelism, st });
        }
      }
    }
  } catch (e) {
    fill(el, notice('bad', `The subtasks cannot be read: ${e.message}`));
    return;
  }
  if (!el.querySelector('tbody')) {
    fill(el, h('table.grid.tm-subtasks',
      h('thead', h('tr', h('th', 'Job'), h('th', 'Operator'), h('th.num', 'Subtask'), h('th', 'Status'),
        h('th.num', 'Attempt'), h('th.num', 'Records in'), h('th.num', 'Records out'))),
      h('tbody')), h('div.pager'));
  }
  const shown = here.all ? found : found.slice(0, SUBTASKS_SHOWN);
  syncRows(el.querySelector('tbody'), shown.length ? shown.map((r) => {
    const m = r.st.metrics || {};
    return {
      key: `${r.jid}/${r.vid}/${r.st.subtask}`,
      sig: JSON.stringify([r.st.status, r.st.attempt, m['read-records'], m['write-records']]),
      render: () => h('tr',
        h('td', h('a', { href: `#/jobs/${r.jid}`, title: r.jid }, r.job)),
        h('td', h('a', { href: `#/jobs/${r.jid}?vertex=${r.vid}` }, r.name)),
        h('td.num.mono', `${r.st.subtask + 1}/${r.p}`),
        h('td', badge(r.st.status)),
        h('td.num', num(r.st.attempt)),
        h('td.num', num(m['read-records'])),
        h('td.num', num(m['write-records']))),
    };
  }) : [{ key: '', sig: 'none', render: () => h('tr', h('td.muted', { colSpan: 7 }, 'No subtask runs here.')) }], 'subtask');
  fill(el.querySelector('.pager'), found.length > shown.length
    ? [h('span.muted', `${shown.length} of ${found.length} shown`),
      h('button', { type: 'button', onclick: () => { here.all = true; renderSubtasks(el, tmId, here); } }, 'Show all')]
    : null);
}

/** Job names and states for the jobs in the slots (from /jobs/overview, re-read when unknown). */
async function jobNames(jobs, allocated) {
  const unknown = allocated.some((s) => !jobs.names.has(s.jobId));
  if (!unknown && Date.now() - jobs.at < 10000) return;
  try {
    const o = await get('/jobs/overview');
    jobs.names = new Map((o.jobs || []).map((j) => [j.jid, j]));
    jobs.at = Date.now();
  } catch (e) {
    console.warn('jobs overview', e);
  }
}

function renderSlots(el, tm, jobs) {
  const byIndex = new Map((tm.allocatedSlots || []).map((s) => [s.slotIndex, s]));
  const total = Math.max(tm.slotsNumber || 0, ...[...byIndex.keys()].map((i) => i + 1));
  const rows = [];
  for (let i = 0; i < total; i++) {
    const s = byIndex.get(i);
    const j = s ? jobs.names.get(s.jobId) : null;
    rows.push({
      key: String(i),
      sig: JSON.stringify([s && s.jobId, j && j.name, j && j.state]),
      render: () => h('tr' + (s ? '' : '.free'),
        h('td.num.mono', String(i)),
        h('td', s ? badge('allocated') : h('span.muted', 'free')),
        h('td', s ? h('a', { href: `#/jobs/${s.jobId}`, title: s.jobId }, j ? j.name : s.jobId) : '–'),
        h('td', j ? badge(j.state) : '–')),
    });
  }
  if (!el.querySelector('tbody')) {
    fill(el, h('table.grid.tm-slots', h('thead', h('tr', h('th.num', 'Slot'), h('th', 'State'), h('th', 'Job'), h('th', 'Job status'))), h('tbody')));
  }
  syncRows(el.querySelector('tbody'), rows);
}

// ---------------------------------------------------------------- metrics (shared)

const TREND = 60;

/** Formats a metric by its name: sizes in bytes, the rest as numbers. */
function metricValue(name, v) {
  const n = Number(v);
  if (v === null || v === undefined || v === '' || Number.isNaN(n)) return v === undefined ? '–' : String(v);
  if (/memory|bytes|heap|rss/i.test(name)) return bytes(n);
  return Number.isInteger(n) ? num(n) : n.toFixed(2);
}

/** A tiny line of the last values (SVG), scaled to their own range. */
function sparkline(values) {
  const w = 120; const hgt = 22;
  if (values.length < 2) return h('span.spark');
  const min = Math.min(...values); const max = Math.max(...values);
  const span = max - min || 1;
  const y = (v) => (max === min ? hgt / 2 : hgt - 2 - ((v - min) / span) * (hgt - 4));
  const pts = values.map((v, i) => `${((i / (values.length - 1)) * w).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${hgt}`);
  svg.setAttribute('width', w);
  svg.setAttribute('height', hgt);
  svg.classList.add('spark');
  svg.append(document.createElementNS('http://www.w3.org/2000/svg', 'title'));
  svg.firstChild.textContent = `last ${values.length} readings: ${min} – ${max}`;
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
  line.setAttribute('points', pts);
  svg.append(line);
  return svg;
}

/**
 * A live table of every metric at `path` (its names from `path` without `get`, then their
 * values every 2 s), each with the trend since the view opened. Used by both cluster views.
 */
export async function metricsPanel(el, path, ctx, tableId, active = () => true) {
  const body = h('tbody');
  const errorBox = h('div');
  fill(el, errorBox, h('table.grid.metrics#' + tableId, h('thead', h('tr', h('th', 'Metric'), h('th.num', 'Value'), h('th', 'Trend'))), body));
  let names = null;
  const trend = new Map();
  ctx.scope.poll(POLL_MS, async () => {
    if (!active()) return;
    try {
      if (!names) names = ((await get(path)) || []).map((m) => m.id);
      const values = names.length ? await get(`${path}?get=${names.map(encodeURIComponent).join(',')}`) : [];
      fill(errorBox);
      const byName = new Map(values.map((m) => [m.id, m.value]));
      for (const n of names) {
        const t = trend.get(n) || [];
        const x = Number(byName.get(n));
        if (!Number.isNaN(x)) t.push(x);
        if (t.length > TREND) t.shift();
        trend.set(n, t);
      }
      syncRows(body, names.length ? names.map((n) => ({
        key: n,
        sig: JSON.stringify([byName.get(n), trend.get(n).length]),
        render: () => h('tr', h('td.mono', n), h('td.num', metricValue(n, byName.get(n))), h('td', sparkline(trend.get(n)))),
      })) : [{ key: '', sig: 'none', render: () => h('tr', h('td.muted', { colSpan: 3 }, 'No metric is reported.')) }], 'metric');
    } catch (e) {
      fill(errorBox, notice('bad', `The metrics cannot be read: ${e.message}`));
      if (e.status === 404) names = null;
    }
  });
}

// ---------------------------------------------------------------- logs (shared)

const TAIL_LINES = 1000;

/**
 * The recent lines of a process's log in a `pre.log#<logId>` (the newest at the bottom, the last
 * TAIL_LINES shown): the logs listed at `listPath` (`{logs: [{name, size}]}`), each read as text
 * from `listPath/<name>`; a Refresh button re-reads it, and with `ctx` a Follow box re-reads it
 * every 5 s. Stays scrolled to the bottom unless the user scrolled up.
 */
export async function logPanel(el, listPath, logId, ctx) {
  const select = h('select.log-pick', { title: 'log' });
  const info = h('span.muted.small');
  const pre = h('pre.log#' + logId, 'Loading…');
  const button = h('button#' + logId + '-refresh', { type: 'button' }, 'Refresh');
  const errorBox = h('div');
  const follow = h('input#' + logId + '-follow', { type: 'checkbox' });
  fill(el, h('div.toolbar', select, button, ctx ? h('label.check', follow, ' follow (every 5 s)') : null, info), errorBox, pre);
  const load = async () => {
    button.disabled = true;
    try {
      if (!select.options.length) {
        const list = ((await get(listPath)) || {}).logs || [];
        fill(select, list.map((l) => h('option', { value: l.name }, `${l.name}${l.size ? ` (${bytes(l.size)})` : ''}`)));
        if (!list.length) { fill(pre, 'No log is kept.'); return; }
      }
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 20 || pre.textContent === 'Loading…';
      const text = await getText(`${listPath}/${encodeURIComponent(select.value)}`);
      const lines = text.replace(/\n$/, '').split('\n');
      const shown = lines.slice(-TAIL_LINES);
      pre.textContent = shown.join('\n') || '(empty)';
      fill(info, `${num(shown.length)}${lines.length > shown.length ? ` of ${num(lines.length)}` : ''} lines, read ${time(Date.now())}`);
      fill(errorBox);
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    } catch (e) {
      fill(errorBox, notice('bad', `The log cannot be read: ${e.message}`));
      if (pre.textContent === 'Loading…') pre.textContent = '(not available)';
    } finally {
      button.disabled = false;
    }
  };
  button.addEventListener('click', load);
  select.addEventListener('change', () => { pre.textContent = 'Loading…'; load(); });
  await load();
  if (ctx) ctx.scope.poll(FOLLOW_MS, async () => { if (follow.checked) await load(); });
}

const FOLLOW_MS = 5000;
