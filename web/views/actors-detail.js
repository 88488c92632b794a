// The actors view's detail panel (#actor-detail): one actor's figures over the last minutes
// (messages/s, a subtask's records in/s, mailbox length, handler time: uPlot charts of the
// samples the view kept from GET /actors/stream, see actors-model.js), its messages by tag and
// by sending node, a subtask's identity and input channels, and its last failure. Updated in
// place on each event; rebuilt only when another actor is selected.

import uPlot from '../vendor/uPlot.esm.js';
import { h, fill, num, rate, time } from '../lib/dom.js';
import { actorKey, actorName, messageRate, recordsIn, failureText } from './actors-model.js';

const MAX_INPUT_ROWS = 64;

/** The panel in `el`: `update(model, path)` shows the actor at `path` (none: hidden). */
export function createDetail(el, { onClose, onSelect }) {
  let shown = null; // {path, charts, parts}
  return {
    update(model, path) {
      if (!path) {
        if (shown) { destroy(shown); shown = null; }
        el.hidden = true;
        return;
      }
      el.hidden = false;
      const a = model.byPath ? model.byPath.get(path) : null;
      if (!shown || shown.path !== path) {
        if (shown) destroy(shown);
        shown = build(el, path, onClose);
      }
      refresh(shown, model, a, onSelect);
    },
  };
}

function destroy(s) {
  for (const c of s.charts) c.plot && c.plot.destroy();
}

function build(el, path, onClose) {
  const title = h('div.detail-title');
  const figures = h('dl.kv.detail-kv');
  const failure = h('div.detail-failure');
  const missing = h('div.detail-missing');
  const chartBox = h('div.detail-charts');
  const tags = keyedTable(['Tag', 'Count', 'Per s', 'Handler', 'Avg'], [false, true, true, true, true]);
  const senders = keyedTable(['From node', 'Tag', 'Count', 'Per s'], [false, false, true, true]);
  const inputs = keyedTable(['From subtask', 'Records/s', 'Buffers/s', 'Queued', 'Credit'], [false, true, true, true, true]);
  const subtask = h('div.detail-subtask');
  fill(el,
    h('div.detail-head', title, h('button.detail-close', { type: 'button', title: 'close', onclick: onClose }, '×')),
    h('div.mono.detail-path', path),
    missing, figures, chartBox, failure,
    h('h3', 'Messages by tag'), tags.el,
    h('h3', 'By sending node'), senders.el,
    subtask);
  const width = Math.max(260, (el.clientWidth || 440) - 30);
  const charts = [
    chart(chartBox, 'Messages / s', [{ label: 'messages/s', stroke: '#1f6fb2', fill: 'rgba(31,111,178,.10)' }, { label: 'records in/s', stroke: '#2e8b57' }], width, (v) => (v >= 1000 ? rate(v).replace('/s', '').trim() : String(+v.toFixed(1)))),
    chart(chartBox, 'Mailbox length', [{ label: 'mailbox', stroke: '#c98a00', fill: 'rgba(201,138,0,.10)' }], width, (v) => num(v)),
    chart(chartBox, 'Handler time (µs per second)', [{ label: 'handler µs/s', stroke: '#8e44ad', fill: 'rgba(142,68,173,.10)' }], width, (v) => (v >= 1000 ? rate(v).replace('/s', '').trim() : String(+v.toFixed(1)))),
  ];
  return { path, title, figures, failure, missing, charts, tags, senders, inputs, subtask, key: null };
}

/** A small uPlot chart with a caption showing its latest value. */
function chart(box, caption, series, width, fmt) {
  const value = h('span.chart-value');
  const host = h('div.detail-chart');
  box.append(h('div.chart-caption', caption, value), host);
  const opts = {
    width, height: 96,
    legend: { show: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(max * 1.15, 1)] } },
    axes: [
      { size: 24, font: '11px system-ui', ticks: { size: 3 }, values: (u, vals) => vals.map(clock) },
      { size: 52, font: '11px system-ui', values: (u, vals) => vals.map(fmt), ticks: { size: 3 } },
    ],
    series: [{}, ...series.map((s) => ({ ...s, width: 1.5, points: { show: false } }))],
  };
  const empty = [[], ...series.map(() => [])];
  return { plot: new uPlot(opts, empty, host), value, fmt, n: series.length };
}

function refresh(s, model, a, onSelect) {
  if (!a) {
    fill(s.missing, h('div.notice.info', 'This actor is not in the topology now (its node does not answer, or it stopped). Its figures up to then are kept.'));
  } else if (s.missing.firstChild) fill(s.missing);
  const key = a ? actorKey(a) : s.key;
  s.key = key;
  const ring = key ? model.history.get(key) : null;
  if (ring) {
    const [t, msgs, mbox, handler, recs] = ring.series();
    const isSubtask = a ? !!a.subtask : recs.some((x) => x !== null);
    setData(s.charts[0], isSubtask ? [t, msgs, recs] : [t, msgs, recs.map(() => null)]);
    setData(s.charts[1], [t, mbox]);
    setData(s.charts[2], [t, handler]);
  }
  if (!a) return;
  setText(s.title, `${a.kind} · ${actorName(a, model.jobNames)}`);
  const fig = [
    ['Node', a.node],
    ['Mailbox', `${num(a.mailbox_len)} / ${num(a.mailbox_capacity)}`],
    ['Messages/s', rate(messageRate(a))],
    a.subtask ? ['Records in', rate(recordsIn(a))] : null,
    ['Handler time', `${num(a.handler_micros_per_second)} µs/s`],
    ['Restarts', String(a.restarts || 0)],
    ['Alive', a.alive === false ? 'no' : 'yes'],
    a.parent ? ['Supervisor', a.parent] : null,
  ].filter(Boolean);
  const sig = JSON.stringify(fig);
  if (s.figSig !== sig) {
    s.figSig = sig;
    fill(s.figures, fig.map(([k, v]) => [h('dt', k), h('dd', v)]));
  }
  const f = a.last_failure;
  const fsig = JSON.stringify(f);
  if (s.failSig !== fsig) {
    s.failSig = fsig;
    fill(s.failure, f ? h('div.notice.bad', h('b', 'Last failure'), Array.isArray(f) && f[0] ? ` at ${time(f[0])}` : '', ': ', failureText(f)) : h('div.muted.detail-nofail', 'No failure.'));
  }
  const msgs = (a.messages || []).slice().sort((x, y) => (y.per_second - x.per_second) || (y.count - x.count));
  s.tags.update(msgs, (m) => m.tag, (m) => [breakable(m.tag), num(m.count), fmt(m.per_second), `${num(m.handler_micros)} µs`, m.count ? `${(m.handler_micros / m.count).toFixed(1)} µs` : '–'], 'No messages handled yet.');
  const from = [];
  for (const m of msgs) for (const f2 of m.from || []) from.push({ node: f2.node, tag: m.tag, count: f2.count, per_second: f2.per_second });
  from.sort((x, y) => (y.per_second - x.per_second) || (y.count - x.count));
  s.senders.update(from, (r) => `${r.node}\u0000${r.tag}`, (r) => [r.node, breakable(r.tag), num(r.count), fmt(r.per_second)], 'None.');
  refreshSubtask(s, model, a, onSelect);
}

function refreshSubtask(s, model, a, onSelect) {
  if (!a.subtask) { if (s.subtask.firstChild) fill(s.subtask); return; }
  const st = a.subtask;
  const id = st.identity || {};
  if (!s.subtask.firstChild) {
    s.identity = h('dl.kv.detail-kv');
    fill(s.subtask, h('h3', 'Subtask'), s.identity, h('h3', 'Input channels'), s.inputs.el, h('div.muted.detail-outputs'));
  }
  const kv = [['Job', `${id.job_name || ''} (${id.job_id || '–'})`], ['Vertex', `${id.vertex || ''} (${id.vertex_id || '–'})`], ['Index', String(id.subtask ?? '–')], ['Attempt', id.attempt || '–'], ['Status', st.status || '–']];
  const sig = JSON.stringify(kv);
  if (s.idSig !== sig) { s.idSig = sig; fill(s.identity, kv.map(([k, v]) => [h('dt', k), h('dd', v)])); }
  // A producer's attempt → its path, through the data edges into this subtask.
  const producers = new Map();
  for (const p of model.actors.values()) {
    const pid = p.subtask && p.subtask.identity;
    if (pid && pid.attempt) producers.set(pid.attempt, p);
  }
  const rows = (st.inputs || []).slice().sort((x, y) => (y.flow?.records_per_second || 0) - (x.flow?.records_per_second || 0));
  s.inputs.update(rows.slice(0, MAX_INPUT_ROWS), (i) => i.producer, (i) => {
    const p = producers.get(i.producer);
    return [p ? actorName(p) : `attempt ${String(i.producer).slice(0, 8)}`, fmt(i.flow?.records_per_second), fmt(i.flow?.buffers_per_second), `${num(i.queued)} / ${num(i.capacity)}`, num(i.credit)];
  }, 'A source: no input channels.', (i) => { const p = producers.get(i.producer); if (p) onSelect(p.path); });
  const more = rows.length > MAX_INPUT_ROWS ? `${rows.length - MAX_INPUT_ROWS} more channels not listed. ` : '';
  setText(s.subtask.lastChild, `${more}${(st.outputs || []).length} output subpartition${(st.outputs || []).length === 1 ? '' : 's'}.`);
}

/** A tag that may wrap after its dots (`rill.tm.Heartbeat`). */
function breakable(tag) { return String(tag).replace(/\./g, '.\u200b'); }

function setData(c, data) {
  c.plot.setData(data);
  const lastOf = (ys) => (ys && ys.length ? ys[ys.length - 1] : null);
  const v = lastOf(data[1]);
  const extra = lastOf(data[2]);
  setText(c.value, (v === null ? '' : c.fmt(v)) + (extra !== null && extra !== undefined ? ` · ${c.fmt(extra)} rec/s in` : ''));
}

/** Epoch seconds as HH:MM:SS. */
function clock(s) {
  const d = new Date(s * 1000);
  const p = (x) => String(x).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function fmt(x) {
  if (x === null || x === undefined) return '–';
  return x >= 1000 ? rate(x).replace('/s', '').trim() : x.toFixed(x >= 10 ? 0 : 1);
}

function setText(el, text) {
  if (el.__text === text) return;
  const t = el.firstChild;
  if (t && t.nodeType === 3 && !t.nextSibling) t.data = text; else el.textContent = text;
  el.__text = text;
}

/** A table whose rows are kept by key and whose cells are rewritten only when they change. */
export function keyedTable(titles, numeric) {
  const tbody = h('tbody');
  const table = h('table.grid.detail-table', h('thead', h('tr', titles.map((t, i) => h(numeric[i] ? 'th.num' : 'th', t)))), tbody);
  const empty = h('p.muted');
  const el = h('div', table, empty);
  const rows = new Map();
  let order = [];
  return {
    el,
    update(list, key, cells, emptyText, onClick) {
      table.hidden = !list.length;
      setText(empty, list.length ? '' : emptyText);
      empty.hidden = !!list.length;
      const next = [];
      const keep = new Set();
      for (const item of list) {
        const k = key(item);
        keep.add(k);
        let r = rows.get(k);
        if (!r) {
          r = h(onClick ? 'tr.clickable' : 'tr', titles.map((_, i) => h(numeric[i] ? 'td.num' : 'td')));
          rows.set(k, r);
        }
        r.onclick = onClick ? () => onClick(item) : null;
        cells(item).forEach((v, i) => setText(r.children[i], v));
        next.push(r);
      }
      for (const [k, r] of rows) if (!keep.has(k)) { r.remove(); rows.delete(k); }
      if (next.length !== order.length || next.some((r, i) => r !== order[i])) { tbody.replaceChildren(...next); order = next; }
    },
  };
}
