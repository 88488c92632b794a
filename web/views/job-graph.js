// The Overview tab of a job's page (mounted by ./job.js): the job graph, a left-to-right DAG
// laid out with dagre and drawn in SVG, whose vertices show parallelism, records/s in and out,
// totals, busy and backpressured time, skew and the low watermark, refreshed every 2 s in place;
// clicking a vertex opens its subtasks below (`?vertex=<vid>` in the URL).
// Data: GET /jobs/<id>/plan (the edges and their partitioners, read again only when the
// vertices change), per vertex GET /jobs/<id>/vertices/<vid>/subtasks/metrics (aggregates over
// subtasks, so a parallelism of 64 costs one request per vertex), and for the open vertex
// GET /jobs/<id>/vertices/<vid>, …/backpressure, …/watermarks and …/metrics.

import { get } from '../lib/api.js';
import { h, fill, badge, num, rate, watermark, pct, notice } from '../lib/dom.js';
import dagre from '../vendor/dagre.esm.js';
import { TERMINAL } from './jobs.js';

/** Execution states after which a vertex or subtask does nothing more. */
export const ENDED = new Set(['FINISHED', 'CANCELED', 'FAILED']);

const NODE_W = 240;
const NODE_H = 164;
const SVG_NS = 'http://www.w3.org/2000/svg';

/** The metrics each vertex is asked for, aggregated over its subtasks. */
const VERTEX_METRICS = [
  'numRecordsIn', 'numRecordsOut', 'numRecordsInPerSecond', 'numRecordsOutPerSecond',
  'busyTimeMsPerSecond', 'backPressuredTimeMsPerSecond', 'currentInputWatermark', 'currentOutputWatermark',
];

/** An SVG element: `s('rect', {x: 1}, child…)`. */
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  if (attrs !== null && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/**
 * The graph tab: returns the function the page calls with each fresh GET /jobs/<id> answer.
 * It lays the graph out again only when the vertices change, else updates the figures in place.
 */
export function graphTab(el, ctx, jobId) {
  const errorEl = h('div#graph-error');
  const wrap = h('div.graph-wrap', h('p.muted', 'Loading the job graph…'));
  const panelEl = h('div#vertex-panel');
  fill(el, errorEl, h('div.panel.graph-panel', wrap, legend()), panelEl);

  const g = { key: null, nodes: new Map(), edges: [], inputs: new Map(), done: false };
  let selected = ctx.query.get('vertex');
  const isSource = (vid) => (g.inputs.has(vid) ? !g.inputs.get(vid).length : null);
  g.isSource = isSource;
  const panel = subtaskPanel(panelEl, jobId, () => select(null), isSource);
  let lastJob = null;

  function select(vid) {
    selected = vid && vid !== selected ? vid : null;
    ctx.setQuery({ vertex: selected });
    for (const [id, n] of g.nodes) n.group.classList.toggle('selected', id === selected);
    const v = lastJob && selected ? (lastJob.vertices || []).find((x) => x.id === selected) : null;
    panel.show(v, lastJob);
  }

  return async (job) => {
    lastJob = job;
    const vertices = job.vertices || [];
    const key = vertices.map((v) => `${v.id}:${v.parallelism}:${v.name}`).join('|');
    if (key !== g.key) {
      let plan = null;
      try {
        plan = (await get(`/jobs/${jobId}/plan`)).plan;
        fill(errorEl);
      } catch (e) {
        fill(errorEl, notice('bad', `The job's plan cannot be read (edges are not shown): ${e.message}`));
      }
      drawGraph(wrap, g, vertices, plan, (vid) => select(vid));
      if (plan) g.key = key;
      g.done = false;
      for (const [id, n] of g.nodes) n.group.classList.toggle('selected', id === selected);
      if (selected && !panel.shown()) {
        const v = vertices.find((x) => x.id === selected);
        if (v) panel.show(v, job); else selected = null;
      }
    }
    const terminal = TERMINAL.has(job.state);
    if (!g.done) await refreshFigures(g, jobId, vertices, errorEl);
    if (terminal) g.done = true;
    await panel.update(job);
  };
}

/** Reads every vertex's aggregates (one request each) and writes them into the graph. */
async function refreshFigures(g, jobId, vertices, errorEl) {
  const q = `get=${VERTEX_METRICS.join(',')}&agg=min,max,sum,skew`;
  const answers = await Promise.all(vertices.map((v) =>
    get(`/jobs/${jobId}/vertices/${v.id}/subtasks/metrics?${q}`).then((r) => ({ ok: r }), (e) => ({ err: e }))));
  const failed = answers.find((a) => a.err);
  if (failed) fill(errorEl, notice('bad', `Some vertex metrics cannot be read: ${failed.err.message}`));
  else if (g.key) fill(errorEl);
  const figures = new Map();
  vertices.forEach((v, i) => {
    const aggs = new Map((Array.isArray(answers[i].ok) ? answers[i].ok : []).map((m) => [m.id, m]));
    const src = g.isSource(v.id) ?? !((v.metrics || {})['read-records'] > 0);
    figures.set(v.id, vertexFigures(v, aggs, src));
  });
  for (const [id, f] of figures) {
    const n = g.nodes.get(id);
    if (n) updateNode(n, f);
  }
  for (const e of g.edges) updateEdge(e, figures.get(e.from));
}

/** A vertex's figures from its aggregates, falling back on GET /jobs/<id>'s totals. */
function vertexFigures(v, aggs, isSource) {
  const a = (id, k) => { const m = aggs.get(id); return m && typeof m[k] === 'number' ? m[k] : null; };
  const m = v.metrics || {};
  const busyMs = a('busyTimeMsPerSecond', 'max');
  const bpMs = a('backPressuredTimeMsPerSecond', 'max');
  const skewOf = isSource ? 'numRecordsOut' : 'numRecordsIn';
  const skew = a(skewOf, 'skew');
  // An ended vertex keeps its last sampled rates: they say nothing any more.
  const live = !ENDED.has(v.status);
  return {
    parallelism: v.parallelism,
    status: v.status,
    inRate: live ? a('numRecordsInPerSecond', 'sum') : null,
    outRate: live ? a('numRecordsOutPerSecond', 'sum') : null,
    recordsIn: a('numRecordsIn', 'sum') ?? m['read-records'] ?? null,
    recordsOut: a('numRecordsOut', 'sum') ?? m['write-records'] ?? null,
    busy: busyMs === null || !live ? null : Math.min(1, busyMs / 1000),
    bp: bpMs === null || !live ? null : Math.min(1, bpMs / 1000),
    watermark: a(isSource ? 'currentOutputWatermark' : 'currentInputWatermark', 'min'),
    skew: skew === null ? null : Math.max(0, skew),
    isSource,
  };
}

/** Lays the graph out with dagre and draws it afresh into `wrap`. */
function drawGraph(wrap, g, vertices, plan, onClick) {
  const edges = [];
  g.inputs = new Map();
  const known = new Set(vertices.map((v) => v.id));
  for (const node of (plan && plan.nodes) || []) {
    const ins = (node.inputs || []).filter((i) => known.has(i.id) && known.has(node.id));
    g.inputs.set(node.id, ins);
    ins.forEach((i, n) => edges.push({ from: i.id, to: node.id, name: `${i.id}>${node.id}#${n}`, strategy: i.ship_strategy || '' }));
  }

  const dg = new dagre.graphlib.Graph({ multigraph: true });
  dg.setGraph({ rankdir: 'LR', nodesep: 26, ranksep: 104, edgesep: 16, marginx: 14, marginy: 14 });
  dg.setDefaultEdgeLabel(() => ({}));
  for (const v of vertices) dg.setNode(v.id, { width: NODE_W, height: NODE_H });
  // Labels take no room in the layout: they sit on the edge's middle, within the rank gap.
  for (const e of edges) dg.setEdge(e.from, e.to, {}, e.name);
  dagre.layout(dg);
  const size = dg.graph();

  const svg = s('svg', {
    id: 'job-graph', xmlns: SVG_NS, width: Math.ceil(size.width), height: Math.ceil(size.height),
    viewBox: `0 0 ${Math.ceil(size.width)} ${Math.ceil(size.height)}`, role: 'img', 'aria-label': 'Job graph',
  }, s('defs', ['ok', 'low', 'high'].map((lvl) =>
    s('marker', { id: `arrow-${lvl}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 9, markerHeight: 9, markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse' },
      s('path', { d: 'M0,0 L10,5 L0,10 z', class: `arrowhead ${lvl}` })))));

  const edgeLayer = s('g', { class: 'edges' });
  const nodeLayer = s('g', { class: 'vertices' });
  svg.append(edgeLayer, nodeLayer);

  g.edges = edges.map((e) => {
    const d = dg.edge(e.from, e.to, e.name);
    const path = s('path', { class: 'edge ok', d: pathD(d.points), 'marker-end': 'url(#arrow-ok)' });
    const tip = s('title', `${e.strategy}: ${nameOf(vertices, e.from)} → ${nameOf(vertices, e.to)}`);
    const lw = Math.max(44, e.strategy.length * 6.6 + 14);
    const mid = midpoint(d.points);
    const label = s('g', { class: 'edge-label', transform: `translate(${mid.x},${mid.y})` },
      s('rect', { x: -lw / 2, y: -9, width: lw, height: 18, rx: 9 }),
      s('text', { 'text-anchor': 'middle', y: 4 }, e.strategy || '?'));
    edgeLayer.append(s('g', { class: 'edge-group', 'data-from': e.from, 'data-to': e.to }, tip, path, label));
    return { ...e, path, labelRect: label.firstChild, tip };
  });

  g.nodes = new Map();
  for (const v of vertices) {
    const pos = dg.node(v.id);
    const n = drawNode(v, pos.x - NODE_W / 2, pos.y - NODE_H / 2, onClick);
    nodeLayer.append(n.group);
    g.nodes.set(v.id, n);
  }
  fill(wrap, vertices.length ? svg : h('p.muted', 'This job has no vertices.'));
}

function nameOf(vertices, id) {
  const v = vertices.find((x) => x.id === id);
  return v ? v.name : id;
}

/** The point halfway along a polyline. */
function midpoint(pts) {
  if (!pts || !pts.length) return { x: 0, y: 0 };
  const seg = [];
  let total = 0;
  for (let i = 1; i < pts.length; i++) {
    const l = Math.hypot(pts[i].x - pts[i - 1].x, pts[i].y - pts[i - 1].y);
    seg.push(l);
    total += l;
  }
  let left = total / 2;
  for (let i = 1; i < pts.length; i++) {
    if (left <= seg[i - 1] && seg[i - 1] > 0) {
      const f = left / seg[i - 1];
      return { x: pts[i - 1].x + f * (pts[i].x - pts[i - 1].x), y: pts[i - 1].y + f * (pts[i].y - pts[i - 1].y) };
    }
    left -= seg[i - 1];
  }
  return pts[pts.length - 1];
}

/** A smooth path through dagre's edge points. */
function pathD(pts) {
  if (!pts || !pts.length) return '';
  let d = `M${pts[0].x},${pts[0].y}`;
  if (pts.length === 2) return `${d} L${pts[1].x},${pts[1].y}`;
  for (let i = 1; i < pts.length - 1; i++) {
    const next = i === pts.length - 2 ? pts[i + 1] : { x: (pts[i].x + pts[i + 1].x) / 2, y: (pts[i].y + pts[i + 1].y) / 2 };
    d += ` Q${pts[i].x},${pts[i].y} ${next.x},${next.y}`;
  }
  return d;
}

/** A watermark as text: the maximum one (a source's end of input) said so, else dom's format. */
function wmText(ms) {
  if (typeof ms === 'number' && ms >= 9e15) return 'end of input';
  return watermark(ms);
}

/** Cuts `text` to `max` characters with an ellipsis. */
function clip(text, max) { return text.length > max ? text.slice(0, max - 1) + '…' : text; }

/** The two title lines of a vertex: the first operator, then the chained ones (or the rest). */
function titleLines(name) {
  const ops = String(name).split(/\s*->\s*|<br\/?>\+?-?\s*/).filter(Boolean);
  if (ops.length > 1) return [clip(ops[0], 34), clip('→ ' + ops.slice(1).join(' → '), 40)];
  if (name.length <= 34) return [name, ''];
  const cut = name.lastIndexOf(' ', 34);
  const at = cut > 12 ? cut : 34;
  return [name.slice(0, at), clip(name.slice(at).trim(), 40)];
}

/** One vertex box, with empty figure slots that `updateNode` fills. */
function drawNode(v, left, top, onClick) {
  const [t1, t2] = titleLines(v.name || v.id);
  const L = 10; const R = NODE_W - 10; const COL_IN = NODE_W - 88;
  const box = s('rect', { class: 'vertex-box', width: NODE_W, height: NODE_H, rx: 6 });
  const busyBar = s('rect', { class: 'vertex-busy-bar', x: L, y: NODE_H - 8, width: 0, height: 3 });
  const bpBar = s('rect', { class: 'vertex-bp-bar', x: L, y: NODE_H - 8, width: 0, height: 3 });
  const slots = {};
  const value = (cls, x1, y0) => {
    slots[cls] = s('text', { class: `vertex-value ${cls}`, x: x1, y: y0, 'text-anchor': 'end' }, '–');
    return slots[cls];
  };
  const label = (text, x0, y0) => s('text', { class: 'vertex-label', x: x0, y: y0 }, text);
  // A line of label/value runs that flow (no columns to collide): [[label, class], …].
  const line = (y0, runs) => s('text', { x: L, y: y0 }, runs.map(([text, cls], i) => [
    s('tspan', { class: 'vertex-label' }, (i ? '\u2003' : '') + text + ' '),
    (slots[cls] = s('tspan', { class: `vertex-value ${cls}` }, '–')),
  ]));
  const y = (i) => 62 + i * 17;
  return {
    box, busyBar, bpBar, slots,
    group: s('g', {
      class: 'vertex', 'data-vertex-id': v.id, transform: `translate(${left},${top})`, tabindex: 0,
      onclick: () => onClick(v.id),
      onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); onClick(v.id); } },
    },
    s('title', `${v.name}\nid ${v.id}\nclick for its subtasks`),
    box,
    s('text', { class: 'vertex-name', x: L, y: 19 }, t1),
    t2 ? s('text', { class: 'vertex-chain', x: L, y: 35 }, t2) : null,
    s('line', { class: 'vertex-sep', x1: 0, x2: NODE_W, y1: 44, y2: 44 }),
    line(y(0), [['Parallelism', 'vertex-parallelism'], ['Skew', 'vertex-skew']]),
    s('text', { class: 'vertex-colhead', x: COL_IN, y: y(1), 'text-anchor': 'end' }, 'in'),
    s('text', { class: 'vertex-colhead', x: R, y: y(1), 'text-anchor': 'end' }, 'out'),
    label('Records/s', L, y(2)), value('vertex-rate-in', COL_IN, y(2)), value('vertex-rate-out', R, y(2)),
    label('Records', L, y(3)), value('vertex-records-in', COL_IN, y(3)), value('vertex-records-out', R, y(3)),
    line(y(4), [['Busy', 'vertex-busy'], ['Backpressured', 'vertex-bp']]),
    label('Low watermark', L, y(5)), value('vertex-watermark', R, y(5)),
    s('rect', { class: 'vertex-bar-track', x: L, y: NODE_H - 8, width: R - L, height: 3 }), busyBar, bpBar),
  };
}

/** Writes fresh figures into a vertex box and colours it by busy / backpressured time. */
function updateNode(n, f) {
  const set = (cls, text, title) => {
    const t = n.slots[cls];
    if (t.textContent !== text) t.textContent = text;
    if (title !== undefined) t.setAttribute('data-title', title);
  };
  set('vertex-parallelism', num(f.parallelism));
  set('vertex-skew', f.skew === null ? '–' : `${f.skew >= 10 ? Math.round(f.skew) : f.skew.toFixed(1)} %`);
  set('vertex-rate-in', f.isSource ? '–' : rate(f.inRate));
  set('vertex-rate-out', rate(f.outRate));
  set('vertex-records-in', f.isSource ? '–' : num(f.recordsIn));
  set('vertex-records-out', num(f.recordsOut));
  set('vertex-busy', pct(f.busy));
  set('vertex-bp', pct(f.bp));
  const wm = wmText(f.watermark);
  set('vertex-watermark', /^\d{4}-/.test(wm) ? wm.slice(11) : wm);
  const track = NODE_W - 20;
  const busyW = (f.busy || 0) * track;
  n.busyBar.setAttribute('width', busyW.toFixed(1));
  n.bpBar.setAttribute('x', (10 + busyW).toFixed(1));
  n.bpBar.setAttribute('width', Math.min(track - busyW, (f.bp || 0) * track).toFixed(1));
  const c = vertexColour(f.busy, f.bp);
  n.box.style.fill = c.fill;
  n.box.style.stroke = c.stroke;
  n.group.dataset.state = c.state;
}

/** Busy toward red, backpressured toward grey, idle a neutral blue (as Flink colours them). */
function vertexColour(busy, bp) {
  if (busy === null && bp === null) return { fill: '#fff', stroke: '#b8c4d0', state: 'unknown' };
  const b = busy || 0; const p = bp || 0;
  if (p >= 0.1 && p >= b) {
    const l = 94 - p * 22;
    return { fill: `hsl(210, 6%, ${l}%)`, stroke: `hsl(210, 8%, ${l - 30}%)`, state: 'backpressured' };
  }
  if (b >= 0.1) {
    return { fill: `hsl(4, ${55 + b * 35}%, ${97 - b * 17}%)`, stroke: `hsl(4, 60%, ${70 - b * 22}%)`, state: 'busy' };
  }
  return { fill: 'hsl(208, 70%, 97%)', stroke: 'hsl(208, 45%, 70%)', state: 'idle' };
}

/** Backpressure level of a ratio, with Flink's thresholds. */
function level(ratio) {
  if (ratio === null || ratio === undefined) return 'ok';
  if (ratio > 0.5) return 'high';
  if (ratio > 0.1) return 'low';
  return 'ok';
}

/** An edge takes the colour of its sender's backpressure: how hard the receiver pushes back. */
function updateEdge(e, from) {
  const bp = from ? from.bp : null;
  const lvl = level(bp);
  const cls = `edge ${lvl}`;
  if (e.path.getAttribute('class') !== cls) {
    e.path.setAttribute('class', cls);
    e.path.setAttribute('marker-end', `url(#arrow-${lvl})`);
    e.labelRect.setAttribute('class', lvl);
  }
  e.tip.textContent = `${e.strategy}: sender backpressured ${pct(bp)}`;
}

function legend() {
  const sw = (cls, text) => h('span.legend-item', h('span.swatch.' + cls), text);
  return h('div.graph-legend',
    sw('idle', 'idle'), sw('busy', 'busy'), sw('backpressured', 'backpressured'),
    h('span.legend-sep'),
    sw('edge-ok', 'edge: sender not backpressured'), sw('edge-low', '> 10 %'), sw('edge-high', '> 50 %'),
    h('span.muted.legend-hint', 'Busy and backpressured: the busiest subtask. Click a vertex for its subtasks.'));
}

// ---------------------------------------------------------------------------------------------
// The subtasks of the selected vertex

const SUBTASK_COLUMNS = [
  { title: '#', num: true, cell: (r) => String(r.s.subtask) },
  { title: 'Status', cell: (r) => badge(r.s.status || '–') },
  { title: 'Attempt', num: true, cell: (r) => String(r.s.attempt ?? '–') },
  { title: 'TaskManager', cell: (r) => (r.s['taskmanager-id'] ? h('a.mono', { href: `#/taskmanagers/${encodeURIComponent(r.s['taskmanager-id'])}` }, r.s['taskmanager-id']) : '–') },
  { title: 'Records in', num: true, cell: (r) => (r.source ? '–' : num(r.s.metrics ? r.s.metrics['read-records'] : null)) },
  { title: 'Records out', num: true, cell: (r) => num(r.s.metrics ? r.s.metrics['write-records'] : null) },
  { title: 'In /s', num: true, cell: (r) => (r.source ? '–' : rate(r.inRate)) },
  { title: 'Out /s', num: true, cell: (r) => rate(r.outRate) },
  { title: 'Busy', cell: (r) => ratioBar(r.busy, 'busy') },
  { title: 'Backpressured', cell: (r) => ratioBar(r.bp, 'bp') },
  { title: 'Watermark', cell: (r) => wmText(r.watermark) },
];

function ratioBar(x, kind) {
  if (x === null || x === undefined) return '–';
  return h('span.ratio', h('span.bar.' + kind, h('span', { style: { width: `${Math.round(Math.min(1, x) * 100)}%` } })), ' ', pct(x));
}

/** The panel below the graph: the open vertex's subtasks, refreshed in place. */
function subtaskPanel(el, jobId, onClose, isSource) {
  let vertex = null;
  let rows = new Map();
  let tbody = null;
  let info = null;
  let errorEl = null;
  let generation = 0;
  let doneFor = null;

  const show = (v, job) => {
    generation++;
    vertex = v || null;
    rows = new Map();
    doneFor = null;
    if (!vertex) { fill(el); return; }
    tbody = h('tbody');
    info = h('span.muted');
    errorEl = h('div');
    fill(el, h('section.panel.vertex-panel',
      h('div.vertex-panel-head',
        h('h2', 'Subtasks of ', h('span#vertex-panel-name', vertex.name)),
        info,
        h('button.close#vertex-panel-close', { type: 'button', title: 'Close', onclick: onClose }, '×')),
      errorEl,
      h('div.table-scroll', h('table.grid#subtasks', { dataset: { vertexId: vertex.id } },
        h('thead', h('tr', SUBTASK_COLUMNS.map((c) => h(c.num ? 'th.num' : 'th', c.title)))),
        tbody))));
    if (job) update(job);
  };

  async function update(job) {
    if (!vertex) return;
    const v = (job.vertices || []).find((x) => x.id === vertex.id);
    if (!v) return;
    const terminal = TERMINAL.has(job.state);
    if (doneFor === vertex.id) return;
    const mine = generation;
    const base = `/jobs/${jobId}/vertices/${vertex.id}`;
    const n = v.parallelism || 0;
    const names = [];
    for (let i = 0; i < n; i++) names.push(`${i}.numRecordsInPerSecond`, `${i}.numRecordsOutPerSecond`);
    const soft = (p) => p.catch(() => null);
    let detail;
    let bp; let wm; let m;
    try {
      [detail, bp, wm, m] = await Promise.all([
        get(base), soft(get(`${base}/backpressure`)), soft(get(`${base}/watermarks`)),
        n ? soft(get(`${base}/metrics?get=${names.join(',')}`)) : Promise.resolve([]),
      ]);
    } catch (e) {
      if (mine === generation) fill(errorEl, notice('bad', `The subtasks cannot be read: ${e.message}`));
      return;
    }
    if (mine !== generation) return;
    fill(errorEl);
    const values = new Map((Array.isArray(m) ? m : []).map((x) => [x.id, Number(x.value)]));
    const wms = new Map((Array.isArray(wm) ? wm : []).map((x) => [x.id, Number(x.value)]));
    const bps = new Map(((bp && bp.subtasks) || []).map((x) => [x.subtask, x]));
    const subtasks = (detail.subtasks || []).slice().sort((a, b) => a.subtask - b.subtask);
    const source = isSource(vertex.id) ?? !subtasks.some((x) => x.metrics && x.metrics['read-records'] > 0);
    const seen = new Set();
    for (const st of subtasks) {
      const i = st.subtask;
      const b = bps.get(i);
      const w = source ? wms.get(`${i}.currentOutputWatermark`) : wms.get(`${i}.currentInputWatermark`);
      const live = !ENDED.has(st.status);
      const r = {
        s: st,
        source,
        inRate: live && values.has(`${i}.numRecordsInPerSecond`) ? values.get(`${i}.numRecordsInPerSecond`) : null,
        outRate: live && values.has(`${i}.numRecordsOutPerSecond`) ? values.get(`${i}.numRecordsOutPerSecond`) : null,
        busy: b && live ? b.busyRatio ?? null : null,
        bp: b && live ? b.ratio ?? null : null,
        watermark: w ?? null,
      };
      seen.add(String(i));
      updateRow(r, String(i));
    }
    for (const [k, tr] of rows) if (!seen.has(k)) { tr.remove(); rows.delete(k); }
    const tms = new Set(subtasks.map((x) => x['taskmanager-id']).filter(Boolean));
    fill(info, `${subtasks.length} subtasks on ${tms.size} TaskManager${tms.size === 1 ? '' : 's'}`);
    if (terminal) doneFor = vertex.id;
  }

  function updateRow(r, key) {
    let tr = rows.get(key);
    if (!tr) {
      tr = h('tr', { dataset: { key } }, SUBTASK_COLUMNS.map((c) => h(c.num ? 'td.num' : 'td')));
      rows.set(key, tr);
      const after = [...rows.keys()].map(Number).filter((k) => k > Number(key)).sort((a, b) => a - b)[0];
      const before = after === undefined ? null : rows.get(String(after));
      tbody.insertBefore(tr, before && before.parentNode === tbody ? before : null);
    }
    SUBTASK_COLUMNS.forEach((c, j) => {
      const td = tr.children[j];
      const content = c.cell(r);
      const sig = typeof content === 'string' ? content : content.outerHTML;
      if (td.dataset.sig !== sig) { fill(td, content); td.dataset.sig = sig; }
    });
  }

  return { show, update, shown: () => !!vertex };
}
