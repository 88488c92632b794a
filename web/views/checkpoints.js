// A job's Checkpoints tab (mounted by the job page): the counts, the latest completed / savepoint
// / failed / restored checkpoint, the history (a checkpoint expands to its vertices, a vertex to
// its subtasks), a timeline of one checkpoint's subtasks (start delay, alignment, sync, async),
// the summary of completed checkpoints and the checkpointing configuration.
// Data: GET /jobs/<id>/checkpoints (polled), /jobs/<id>/checkpoints/config (once),
// /jobs/<id>/checkpoints/details/<cid> and …/details/<cid>/subtasks/<vid> (for what is expanded
// or in the timeline; kept once the checkpoint is no longer in progress), /jobs/<id> (names).

import { get } from '../lib/api.js';
import { h, fill, card, badge, num, bytes, duration, time, notice, syncRows } from '../lib/dom.js';

const POLL_MS = 2000;

/**
 * A cached GET of checkpoint details: `load(path, reuse)` answers from the cache when `reuse`
 * (the checkpoint no longer changes); `load.keep(ids)` forgets checkpoints out of the history.
 */
function fetcher() {
  const cache = new Map();
  const load = async (path, reuse = true) => {
    if (reuse && cache.has(path)) return cache.get(path);
    const v = await get(path);
    cache.set(path, v);
    return v;
  };
  load.keep = (ids) => {
    for (const path of cache.keys()) {
      const m = /\/details\/(\d+)/.exec(path);
      if (m && !ids.has(Number(m[1]))) cache.delete(path);
    }
  };
  return load;
}

const inProgress = (c) => c && (c.status === 'IN_PROGRESS' || c.status === 'in_progress');

export async function checkpointsTab(el, ctx, jobId) {
  const base = `/jobs/${jobId}/checkpoints`;
  const state = {
    expanded: new Set(), // checkpoint ids
    vexpanded: new Set(), // "cid/vid"
    pick: ctx.query && ctx.query.get('checkpoint') ? Number(ctx.query.get('checkpoint')) : null,
    names: new Map(), // vertex id → name
    parallelism: new Map(),
    stats: null,
  };
  const load = fetcher();
  const errorBox = h('div#checkpoint-error');
  const disabled = h('div');
  const counts = h('div.cards#checkpoint-counts');
  const latest = h('div#checkpoint-latest');
  const historyBody = h('tbody');
  const history = h('div#checkpoint-history', historyTable(historyBody));
  const timeline = h('div.panel#checkpoint-timeline', h('p.muted', 'No completed checkpoint yet.'));
  const summary = h('div#checkpoint-summary');
  const config = h('div#checkpoint-config', h('p.muted', 'Loading…'));
  fill(el, h('div.ckpt',
    errorBox, disabled, counts,
    h('h3', 'Latest'), latest,
    h('h3', 'History'), history,
    h('h3', 'Timeline'), timeline,
    h('div.ckpt-cols',
      h('div', h('h3', 'Summary of completed checkpoints'), summary),
      h('div', h('h3', 'Configuration'), config))));

  const ctxt = { jobId, base, state, load, historyBody, timeline, ctx, rerender: null };
  loadNames(ctxt);
  loadConfig(config, base, disabled);
  let timelineBusy = false;
  const refresh = async () => {
    let stats;
    try {
      stats = await get(base);
      fill(errorBox);
    } catch (e) {
      fill(errorBox, notice('bad', `Checkpoint statistics cannot be read: ${e.message}`));
      return;
    }
    state.stats = stats;
    load.keep(new Set((stats.history || []).map((x) => x.id)));
    changed(counts, stats.counts, () => renderCounts(counts, stats.counts || {}));
    changed(latest, stats.latest, () => renderLatest(latest, stats.latest || {}));
    changed(summary, [stats.summary, stats.counts], () => renderSummary(summary, stats.summary || {}, (stats.counts || {}).completed));
    await renderHistory(ctxt);
    if (!timelineBusy) {
      timelineBusy = true;
      renderTimeline(ctxt).finally(() => { timelineBusy = false; });
    }
  };
  ctxt.rerender = () => renderHistory(ctxt);
  ctxt.retimeline = () => renderTimeline(ctxt);
  ctx.scope.poll(POLL_MS, refresh);
}

/** Runs `render` only when `data` differs from what `el` shows (keeps a text selection). */
function changed(el, data, render) {
  const sig = JSON.stringify(data);
  if (el.__sig === sig) return;
  el.__sig = sig;
  render();
}

async function loadNames(c) {
  try {
    const job = await get(`/jobs/${c.jobId}`);
    for (const v of job.vertices || []) {
      c.state.names.set(v.id, v.name);
      c.state.parallelism.set(v.id, v.parallelism);
    }
    c.order = (job.vertices || []).map((v) => v.id);
  } catch (e) {
    console.warn('job vertices', e);
  }
}

const vertexName = (c, vid) => c.state.names.get(vid) || vid;

function vertexOrder(c, tasks) {
  const ids = Object.keys(tasks || {});
  const order = c.order || [];
  return ids.sort((a, b) => {
    const ia = order.indexOf(a); const ib = order.indexOf(b);
    return (ia < 0 ? 1e9 : ia) - (ib < 0 ? 1e9 : ib) || a.localeCompare(b);
  });
}

// ---------------------------------------------------------------- counts, latest, summary

function renderCounts(el, k) {
  const item = (key, label, v) => {
    const c = card(label, num(v));
    c.dataset.count = key;
    return c;
  };
  fill(el,
    item('triggered', 'Triggered', k.total),
    item('in_progress', 'In progress', k.in_progress),
    item('completed', 'Completed', k.completed),
    item('failed', 'Failed', k.failed),
    item('restored', 'Restored', k.restored));
  if (k.failed > 0) el.querySelector('[data-count=failed]').classList.add('bad');
}

function renderLatest(el, l) {
  const row = (kind, c, extra) => h('tr', { dataset: { latest: kind } },
    h('th', kind),
    c ? [
      h('td.num', h('span.mono', '#' + c.id)),
      h('td', time(c.trigger_timestamp)),
      h('td.num', duration(c.end_to_end_duration)),
      h('td.num', bytes(c.checkpointed_size)),
      h('td.path', extra || h('span.mono', c.external_path || '–')),
    ] : h('td.muted', { colSpan: 5 }, 'None'));
  const f = l.failed;
  const failure = f ? h('span.error', f.failure_message || 'failed',
    f.failure_timestamp ? h('span.muted', ` at ${time(f.failure_timestamp)}`) : null) : null;
  const r = l.restored;
  fill(el, h('table.grid.ckpt-latest',
    h('thead', h('tr', h('th', ''), h('th.num', 'ID'), h('th', 'Triggered'), h('th.num', 'End to end'),
      h('th.num', 'Checkpointed size'), h('th', 'Path / cause'))),
    h('tbody',
      row('Completed', l.completed),
      row('Savepoint', l.savepoint),
      row('Failed', f, failure),
      h('tr', { dataset: { latest: 'Restored' } }, h('th', 'Restored'),
        r ? [h('td.num', h('span.mono', '#' + r.id)), h('td.muted', { colSpan: 3 }, r.restore_timestamp ? time(r.restore_timestamp) : ''),
          h('td.path', h('span.mono', r.external_path || '–'))]
          : h('td.muted', { colSpan: 5 }, 'Not restored')))));
}

function renderSummary(el, s, completed) {
  const line = (label, st, fmt) => h('tr',
    h('th', label),
    ['min', 'avg', 'max', 'p50', 'p90', 'p99'].map((k) => h('td.num', st && st[k] !== undefined ? fmt(st[k]) : '–')));
  if (!s.end_to_end_duration || !completed) { fill(el, h('p.muted', 'No completed checkpoint yet.')); return; }
  fill(el, h('table.grid',
    h('thead', h('tr', h('th', ''), ['Minimum', 'Average', 'Maximum', 'p50', 'p90', 'p99'].map((t) => h('th.num', t)))),
    h('tbody',
      line('End to end duration', s.end_to_end_duration, duration),
      line('Checkpointed data size', s.checkpointed_size, bytes),
      line('Full checkpoint data size', s.state_size, bytes),
      s.processed_data ? line('Processed in-flight data', s.processed_data, bytes) : null,
      s.persisted_data ? line('Persisted in-flight data', s.persisted_data, bytes) : null)));
}

const CONFIG_LABELS = [
  ['mode', 'Checkpointing mode', (v) => String(v).replace(/_/g, ' ').replace(/^./, (x) => x.toUpperCase())],
  ['interval', 'Interval', (v) => (v > 0 && v < 9e15 ? duration(v) : 'Periodic checkpoints disabled')],
  ['timeout', 'Timeout', duration],
  ['min_pause', 'Minimum pause between checkpoints', duration],
  ['max_concurrent', 'Maximum concurrent checkpoints', num],
  ['unaligned_checkpoints', 'Unaligned checkpoints', (v) => (v ? 'Enabled' : 'Disabled')],
  ['aligned_checkpoint_timeout', 'Aligned checkpoint timeout', (v) => (v ? duration(v) : '–')],
  ['tolerable_failed_checkpoints', 'Tolerable failed checkpoints', num],
  ['state_backend', 'State backend', String],
  ['checkpoint_storage', 'Checkpoint storage', String],
];

async function loadConfig(el, base, disabled) {
  let c;
  try {
    c = await get(`${base}/config`);
  } catch (e) {
    if (e.status === 404) fill(disabled, notice('info', 'Checkpointing is not enabled for this job: it was submitted without a checkpoint interval.'));
    fill(el, e.status === 404 ? h('p.muted', 'Checkpointing is not enabled for this job.')
      : notice('bad', `The configuration cannot be read: ${e.message}`));
    return;
  }
  const rows = [];
  const seen = new Set(['externalization']);
  for (const [k, label, fmt] of CONFIG_LABELS) {
    if (!(k in c)) continue;
    seen.add(k);
    rows.push([label, c[k] === null ? '–' : fmt(c[k])]);
  }
  const x = c.externalization;
  if (x) {
    rows.push(['Persist checkpoints externally', x.enabled
      ? (x.delete_on_cancellation ? 'Enabled (deleted on cancellation)' : 'Enabled (retained on cancellation)')
      : 'Disabled']);
  }
  for (const [k, v] of Object.entries(c)) {
    if (!seen.has(k)) rows.push([k, typeof v === 'object' ? JSON.stringify(v) : String(v)]);
  }
  fill(el, h('table.grid.kv-table', h('tbody', rows.map(([k, v]) => h('tr', { dataset: { key: k } }, h('th', k), h('td', v))))));
}

// ---------------------------------------------------------------- history

function historyTable(body) {
  return h('table.grid.ckpt-history',
    h('thead', h('tr',
      h('th.toggle', ''), h('th.num', 'ID'), h('th', 'Status'), h('th', 'Type'),
      h('th', 'Triggered'), h('th', 'Latest acknowledgement'), h('th.num', 'End to end'),
      h('th.num', 'Checkpointed size'), h('th.num', 'Full size'), h('th', 'Acknowledged'))),
    body);
}

function ackCell(n, of) {
  const p = of ? Math.min(1, n / of) : 0;
  return h('span.ack', h('span.bar', h('span', { style: { width: `${Math.round(p * 100)}%` } })),
    ` ${num(n)}/${num(of)}`, of ? h('span.muted', ` (${Math.round(p * 100)}%)`) : null);
}

function typeOf(c) {
  if (c.is_savepoint) return c.savepointFormat ? `Savepoint (${c.savepointFormat})` : 'Savepoint';
  return String(c.checkpoint_type || 'CHECKPOINT').replace(/_/g, ' ').toLowerCase().replace(/^./, (x) => x.toUpperCase());
}

async function renderHistory(c) {
  const list = (c.state.stats && c.state.stats.history) || [];
  const live = new Set(list.map((x) => String(x.id)));
  for (const id of c.state.expanded) if (!live.has(String(id))) c.state.expanded.delete(id);
  // Fetch what the expanded rows show before touching the DOM, so it changes in one go.
  const details = new Map();
  await Promise.all(list.filter((x) => c.state.expanded.has(x.id)).map(async (x) => {
    try {
      const d = await c.load(`${c.base}/details/${x.id}`, !inProgress(x));
      const subs = new Map();
      await Promise.all(Object.keys(d.tasks || {}).filter((vid) => c.state.vexpanded.has(`${x.id}/${vid}`))
        .map(async (vid) => {
          try { subs.set(vid, await c.load(`${c.base}/details/${x.id}/subtasks/${vid}`, !inProgress(x))); } catch (e) { subs.set(vid, { error: e.message }); }
        }));
      details.set(x.id, { d, subs });
    } catch (e) {
      details.set(x.id, { error: e.message });
    }
  }));
  const rows = [];
  if (!list.length) {
    rows.push({ key: 'empty', sig: 'empty', render: () => h('tr', h('td.muted', { colSpan: 10 }, 'No checkpoint yet.')) });
  }
  for (const x of list) {
    const open = c.state.expanded.has(x.id);
    rows.push({
      key: String(x.id),
      sig: JSON.stringify([x.status, x.latest_ack_timestamp, x.num_acknowledged_subtasks, x.checkpointed_size, x.end_to_end_duration, open, x.failure_message, x.discarded]),
      render: () => checkpointRow(c, x, open),
    });
    if (open) {
      const det = details.get(x.id);
      rows.push({
        key: `${x.id}:detail`,
        sig: JSON.stringify([det, [...c.state.vexpanded].filter((k) => k.startsWith(`${x.id}/`)), c.state.names.size]),
        render: () => h('tr.detail', h('td', { colSpan: 10 }, vertexTable(c, x, det))),
      });
    }
  }
  syncRows(c.historyBody, rows, 'row');
  // Tests and links address the checkpoint rows by data-key; the details rows carry none.
  for (const tr of c.historyBody.children) {
    if (!tr.dataset.row.includes(':') && tr.dataset.row !== 'empty') tr.dataset.key = tr.dataset.row;
  }
}

function checkpointRow(c, x, open) {
  const toggle = () => {
    if (c.state.expanded.has(x.id)) c.state.expanded.delete(x.id); else c.state.expanded.add(x.id);
    c.rerender();
  };
  const failed = x.status === 'FAILED';
  return h('tr.clickable' + (open ? '.open' : ''), { onclick: toggle, title: failed && x.failure_message ? x.failure_message : null },
    h('td.toggle', open ? '▾' : '▸'),
    h('td.num.mono', x.id),
    h('td', badge(x.status), x.discarded ? h('span.muted.small', ' discarded') : null),
    h('td', typeOf(x)),
    h('td', time(x.trigger_timestamp)),
    h('td', failed && x.failure_timestamp ? time(x.failure_timestamp) : time(x.latest_ack_timestamp)),
    h('td.num', duration(x.end_to_end_duration)),
    h('td.num', bytes(x.checkpointed_size)),
    h('td.num', bytes(x.state_size)),
    h('td', ackCell(x.num_acknowledged_subtasks, x.num_subtasks)));
}

function vertexTable(c, x, det) {
  if (!det) return h('p.muted', 'Loading…');
  if (det.error) return notice('bad', `Details of checkpoint ${x.id} cannot be read: ${det.error}`);
  const d = det.d;
  const vids = vertexOrder(c, d.tasks);
  const extra = [];
  if (d.failure_message) extra.push(notice('bad', `Failed: ${d.failure_message}`));
  if (d.external_path) extra.push(h('div.muted.small', 'Path: ', h('span.mono', d.external_path)));
  const body = h('tbody');
  for (const vid of vids) {
    const t = d.tasks[vid];
    const key = `${x.id}/${vid}`;
    const open = c.state.vexpanded.has(key);
    body.append(h('tr.clickable' + (open ? '.open' : ''), {
      dataset: { vertex: vid },
      onclick: (e) => {
        e.stopPropagation();
        if (c.state.vexpanded.has(key)) c.state.vexpanded.delete(key); else c.state.vexpanded.add(key);
        c.rerender();
      },
    },
    h('td.toggle', open ? '▾' : '▸'),
    h('td', vertexName(c, vid)),
    h('td', badge(t.status)),
    h('td', time(t.latest_ack_timestamp)),
    h('td.num', duration(t.end_to_end_duration)),
    h('td.num', bytes(t.checkpointed_size)),
    h('td.num', bytes(t.state_size)),
    h('td.num', bytes(t.alignment_buffered)),
    h('td.num', bytes(t.processed_data)),
    h('td', ackCell(t.num_acknowledged_subtasks, t.num_subtasks))));
    if (open) body.append(h('tr.detail', h('td', { colSpan: 10 }, subtaskTable(det.subs.get(vid)))));
  }
  return [extra, h('table.grid.nested',
    h('thead', h('tr', h('th.toggle', ''), h('th', 'Operator'), h('th', 'Status'), h('th', 'Latest acknowledgement'),
      h('th.num', 'End to end'), h('th.num', 'Checkpointed size'), h('th.num', 'Full size'),
      h('th.num', 'Buffered in alignment'), h('th.num', 'Processed in-flight'), h('th', 'Acknowledged'))),
    body)];
}

function subtaskTable(s) {
  if (!s) return h('p.muted', 'Loading…');
  if (s.error) return notice('bad', `The subtasks cannot be read: ${s.error}`);
  const subs = s.subtasks || [];
  const m = s.summary || {};
  const stat = (st, k, fmt) => (st && st[k] !== undefined ? fmt(st[k]) : '–');
  const sumRow = (label, k) => h('tr.summary',
    h('th', label), h('td'),
    h('td.num', stat(m.end_to_end_duration, k, duration)),
    h('td.num', stat(m.checkpoint_duration && m.checkpoint_duration.sync, k, duration)),
    h('td.num', stat(m.checkpoint_duration && m.checkpoint_duration.async, k, duration)),
    h('td.num', stat(m.alignment && m.alignment.buffered, k, bytes)),
    h('td.num', stat(m.alignment && m.alignment.duration, k, duration)),
    h('td.num', stat(m.start_delay, k, duration)),
    h('td.num', stat(m.checkpointed_size, k, bytes)),
    h('td'), h('td'));
  return h('table.grid.nested.subtasks',
    h('thead', h('tr', h('th', 'Subtask'), h('th', 'Acknowledged'), h('th.num', 'End to end'),
      h('th.num', 'Sync'), h('th.num', 'Async'), h('th.num', 'Aligned buffered'), h('th.num', 'Alignment'),
      h('th.num', 'Start delay'), h('th.num', 'Checkpointed size'), h('th', 'Unaligned'), h('th', 'TaskManager'))),
    h('tbody',
      m.end_to_end_duration ? [sumRow('Minimum', 'min'), sumRow('Average', 'avg'), sumRow('Maximum', 'max')] : null,
      subs.map((t) => (t.ack_timestamp === undefined
        ? h('tr', { dataset: { subtask: t.index } }, h('td.mono', String(t.index + 1)), h('td.muted', { colSpan: 10 }, t.status === 'completed' ? '–' : `${t.status || 'pending'}: not acknowledged`))
        : h('tr', { dataset: { subtask: t.index } },
          h('td.mono', String(t.index + 1)),
          h('td', time(t.ack_timestamp)),
          h('td.num', duration(t.end_to_end_duration)),
          h('td.num', duration(t.checkpoint && t.checkpoint.sync)),
          h('td.num', duration(t.checkpoint && t.checkpoint.async)),
          h('td.num', bytes(t.alignment && t.alignment.buffered)),
          h('td.num', duration(t.alignment && t.alignment.duration)),
          h('td.num', duration(t.start_delay)),
          h('td.num', bytes(t.checkpointed_size)),
          h('td', t.unaligned_checkpoint ? 'yes' : 'no', t.aborted ? h('span.error', ' aborted') : null),
          h('td', t.taskmanager ? h('a.mono', { href: `#/taskmanagers/${encodeURIComponent(t.taskmanager)}`, onclick: (e) => e.stopPropagation() }, t.taskmanager) : '–'))))));
}

// ---------------------------------------------------------------- timeline (Gantt)

/** The checkpoint the timeline shows: the one picked, else the newest completed (or failed). */
function timelineTarget(c) {
  const list = (c.state.stats && c.state.stats.history) || [];
  if (c.state.pick !== null && list.some((x) => x.id === c.state.pick)) return list.find((x) => x.id === c.state.pick);
  return list.find((x) => x.status === 'COMPLETED') || list[0] || null;
}

async function renderTimeline(c) {
  const el = c.timeline;
  const list = (c.state.stats && c.state.stats.history) || [];
  const target = timelineTarget(c);
  if (!target) { fill(el, h('p.muted', 'No checkpoint yet.')); return; }
  const sig = JSON.stringify([target.id, target.status, target.num_acknowledged_subtasks, list.map((x) => x.id), c.state.pick, c.state.names.size, c.state.slowFirst]);
  if (el.__sig === sig) return;
  let d;
  const subs = new Map();
  try {
    d = await c.load(`${c.base}/details/${target.id}`, !inProgress(target));
    await Promise.all(Object.keys(d.tasks || {}).map(async (vid) => {
      subs.set(vid, await c.load(`${c.base}/details/${target.id}/subtasks/${vid}`, !inProgress(target)));
    }));
  } catch (e) {
    fill(el, timelineHead(c, list, target), notice('bad', `The timeline cannot be drawn: ${e.message}`));
    return;
  }
  el.__sig = sig;
  const scroller = el.querySelector('.gantt-scroll');
  const top = scroller ? scroller.scrollTop : 0;
  fill(el, timelineHead(c, list, target), gantt(c, d, subs));
  const again = el.querySelector('.gantt-scroll');
  if (again) again.scrollTop = top;
}

function timelineHead(c, list, target) {
  const select = h('select#checkpoint-timeline-pick', {
    onchange: () => {
      c.state.pick = select.value === '' ? null : Number(select.value);
      c.ctx.setQuery({ checkpoint: c.state.pick === null ? null : c.state.pick });
      c.retimeline();
    },
  },
  h('option', { value: '' }, 'Newest completed'),
  list.map((x) => h('option', { value: String(x.id) }, `#${x.id} · ${x.status.toLowerCase()} · ${time(x.trigger_timestamp)}`)));
  const kept = c.state.pick !== null && list.some((x) => x.id === c.state.pick);
  select.value = kept ? String(c.state.pick) : '';
  const sort = h('input#checkpoint-timeline-sort', {
    type: 'checkbox', checked: !!c.state.slowFirst,
    onchange: () => { c.state.slowFirst = sort.checked; c.retimeline(); },
  });
  return h('div.toolbar',
    h('label', { for: 'checkpoint-timeline-pick' }, 'Checkpoint'), select,
    h('label.check', sort, ' slowest first'),
    c.state.pick !== null && !kept ? h('span.error.small', `#${c.state.pick} is no longer in the history;`) : null,
    h('span.muted', `#${target.id}, triggered ${time(target.trigger_timestamp)}, end to end ${duration(target.end_to_end_duration)}`),
    legend());
}

function legend() {
  return h('span.gantt-legend',
    [['delay', 'Start delay'], ['align', 'Alignment'], ['sync', 'Sync'], ['async', 'Async'], ['rest', 'Until acknowledged'], ['pending', 'Not acknowledged']]
      .map(([k, t]) => h('span', h('i.seg.' + k), t)));
}

/** Splits one subtask's end-to-end time into its phases, in order. */
function phases(t) {
  const total = Math.max(0, t.end_to_end_duration || 0);
  const parts = [
    ['delay', 'Start delay', t.start_delay || 0],
    ['align', 'Alignment', (t.alignment && t.alignment.duration) || 0],
    ['sync', 'Sync', (t.checkpoint && t.checkpoint.sync) || 0],
    ['async', 'Async', (t.checkpoint && t.checkpoint.async) || 0],
  ];
  const known = parts.reduce((a, p) => a + p[2], 0);
  const scale = known > total && known > 0 ? total / known : 1;
  const out = parts.map(([k, label, v]) => [k, label, v * scale]);
  if (known < total) out.push(['rest', 'Until acknowledged', total - known]);
  return out;
}

function gantt(c, d, subs) {
  const trigger = d.trigger_timestamp;
  const now = Date.now();
  const rows = [];
  for (const vid of vertexOrder(c, d.tasks)) {
    const s = subs.get(vid);
    const subtasks = ((s && s.subtasks) || []).slice();
    if (c.state.slowFirst) subtasks.sort((a, b) => (b.end_to_end_duration ?? Infinity) - (a.end_to_end_duration ?? Infinity));
    for (const t of subtasks) rows.push({ vid, t });
  }
  const acked = rows.filter((r) => r.t.ack_timestamp !== undefined);
  const pendingEnd = inProgress(d) ? Math.max(0, now - trigger) : Math.max(0, (d.latest_ack_timestamp || trigger) - trigger);
  const span = Math.max(1, pendingEnd, ...acked.map((r) => r.t.end_to_end_duration || 0));
  const slowest = acked.reduce((a, r) => (!a || (r.t.end_to_end_duration || 0) > (a.t.end_to_end_duration || 0) ? r : a), null);
  const body = h('div.gantt-rows');
  let last = null;
  for (const r of rows) {
    if (r.vid !== last) {
      last = r.vid;
      body.append(h('div.gantt-group', vertexName(c, r.vid)));
    }
    body.append(ganttRow(c, r, span, slowest === r));
  }
  const ticks = h('div.gantt-axis', axisTicks(span).map((v) => h('span', { style: { left: `${(v / span) * 100}%` } }, duration(v))));
  return h('div.gantt',
    slowest ? h('div.gantt-note', 'Slowest: ', h('a', {
      href: '#', title: 'show it in the timeline',
      onclick: (e) => {
        e.preventDefault();
        const row = e.target.closest('.gantt').querySelector('.gantt-row.slowest');
        const box = row && row.closest('.gantt-scroll');
        if (box) box.scrollTop = row.offsetTop - box.clientHeight / 2;
      },
    }, h('b', `${vertexName(c, slowest.vid)} (${slowest.t.index + 1}/${c.state.parallelism.get(slowest.vid) || '?'})`)),
    ` ${duration(slowest.t.end_to_end_duration)}`, slowest.t.taskmanager ? ` on ${slowest.t.taskmanager}` : '') : null,
    rows.length ? null : h('p.muted', 'No subtask figures for this checkpoint.'),
    h('div.gantt-scroll', h('div.gantt-head', h('div.gantt-label', 'Subtask'), ticks), body));
}

function axisTicks(span) {
  const steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000, 120000, 300000, 600000];
  const step = steps.find((s) => span / s <= 6) || span / 5;
  const out = [];
  for (let v = 0; v <= span + 1e-9; v += step) out.push(v);
  return out;
}

function ganttRow(c, r, span, slowest) {
  const t = r.t;
  const label = `${t.index + 1}/${c.state.parallelism.get(r.vid) || '?'}`;
  const lab = h('div.gantt-label', { title: vertexName(c, r.vid) }, h('span.mono', label),
    t.taskmanager ? h('span.muted.tm', ' ' + t.taskmanager) : null);
  if (t.ack_timestamp === undefined) {
    return h('div.gantt-row', lab, h('div.gantt-track',
      h('div.gantt-bar.pending', { style: { left: '0%', width: '100%' }, title: `subtask ${label}: ${t.status || 'not acknowledged'}` })));
  }
  const total = t.end_to_end_duration || 0;
  const title = [`${vertexName(c, r.vid)} ${label}`, `end to end ${duration(total)}`]
    .concat(phases(t).filter((p) => p[2] > 0).map(([, l, v]) => `${l}: ${duration(v)}`)).join('\n');
  const bar = h('div.gantt-bar' + (slowest ? '.slowest' : ''), {
    style: { left: '0%', width: `${Math.max(0.4, (total / span) * 100)}%` }, title,
  }, total > 0 ? phases(t).filter((p) => p[2] > 0).map(([k, , v]) => h('span.seg.' + k, { style: { width: `${(v / total) * 100}%` } })) : h('span.seg.rest', { style: { width: '100%' } }));
  return h('div.gantt-row' + (slowest ? '.slowest' : ''), { dataset: { vertex: r.vid, subtask: t.index } },
    lab, h('div.gantt-track', bar), h('div.gantt-value', duration(total)));
}
