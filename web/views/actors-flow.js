// The actors view's message flow (#actor-flow): a dagre-laid-out SVG graph of the actors of
// the selected job (or all jobs) with the data edges between subtasks (records/s, buffers/s)
// and the control edges from nodes to actors (RPC messages/s by tag), plus flow tables of the
// same. Subtasks are collapsed into one box per job vertex by default (a click on a box
// expands it into its subtasks; a click on an actor opens its detail). Data: the topology
// the view holds (GET /actors/stream; see actors-model.js). The graph is laid out again only
// when its set of boxes and edges changes; on other events only its labels are rewritten.

import dagre from '../vendor/dagre.esm.js';
import { h, fill, num, rate } from '../lib/dom.js';
import { actorName, messageRate, recordsIn, jobOfJobMaster, taskManagerOf } from './actors-model.js';
import { keyedTable } from './actors-detail.js';

const MAX_BOXES = 150;
const MAX_EDGES = 600;
const MAX_CONTROL_ROWS = 40;
const NODE_W = 236;
const NODE_H = 42;
const SVG = 'http://www.w3.org/2000/svg';

export function createFlow(el, { onSelect }) {
  const expanded = new Set();
  const legend = h('div.flow-legend');
  const host = h('div.flow-graph');
  const dataTable = keyedTable(['From vertex', 'To vertex', 'Channels', 'Records/s', 'Buffers/s', 'Watermarks/s', 'Barriers/s', 'Credits/s'], [false, false, true, true, true, true, true, true]);
  const controlTable = keyedTable(['From node', 'To actor', 'Messages', 'Per s', 'Busiest tags'], [false, false, true, true, false]);
  fill(el, legend, host,
    h('div.flow-tables',
      h('div', h('h3', 'Data flow by vertex'), dataTable.el),
      h('div', h('h3', 'Control messages into actors'), controlTable.el)));
  let drawn = null; // {sig, boxes: Map gid → {sub}, edges: Map id → {path, label}}
  let last = null;

  function update(model, filters) {
    last = { model, filters };
    const g = collect(model, filters, expanded);
    renderLegend(g);
    const sig = g.sig;
    if (g.boxes.size > MAX_BOXES || g.edges.size > MAX_EDGES) {
      if (!drawn || drawn.sig !== 'too-big') {
        fill(host, h('div.notice.info', `${g.boxes.size} boxes and ${g.edges.size} edges are too many to draw: collapse the expanded vertices or filter by job or node. The tables below list the flow.`));
        drawn = { sig: 'too-big' };
      }
    } else if (!drawn || drawn.sig !== sig) {
      drawn = draw(host, g, sig);
    }
    if (drawn && drawn.boxes) relabel(drawn, g);
    dataTable.update(g.vertexFlows, (r) => r.key, (r) => [r.fromName, r.toName, num(r.channels), fmt(r.records), fmt(r.buffers), fmt(r.watermarks), fmt(r.barriers), fmt(r.credits)], 'No data edges (no running subtasks exchange data here).');
    const ctl = [...g.control.values()].sort((a, b) => (b.perSecond - a.perSecond) || (b.count - a.count)).slice(0, MAX_CONTROL_ROWS);
    controlTable.update(ctl, (r) => r.key, (r) => [r.fromNode, r.toName, num(r.count), fmt(r.perSecond), topTags(r.tags)], 'No control messages.', (r) => { if (r.path) onSelect(r.path); });
  }

  function renderLegend(g) {
    const groups = [...expanded].filter((x) => g.groupNames.has(x));
    const sig = groups.join('|') + `|${g.boxes.size}|${g.edges.size}`;
    if (legend.__sig === sig) return;
    legend.__sig = sig;
    fill(legend,
      h('span.flow-key.data', 'data: records/s'), h('span.flow-key.control', 'control: messages/s'),
      h('span.muted', `${g.boxes.size} boxes, ${g.edges.size} edges. Click a vertex box to expand its subtasks, an actor to see its figures.`),
      groups.map((gid) => h('button.flow-collapse', { type: 'button', onclick: () => { expanded.delete(gid); if (last) update(last.model, last.filters); } }, `collapse ${g.groupNames.get(gid)} ✕`)));
  }

  function draw(hostEl, g, sig) {
    if (!g.boxes.size) {
      hostEl.replaceChildren(h('p.muted', 'Nothing to draw for these filters.'));
      return { sig, boxes: new Map(), edges: new Map() };
    }
    const graph = new dagre.graphlib.Graph({ multigraph: false });
    graph.setGraph({ rankdir: 'LR', nodesep: 14, ranksep: 70, edgesep: 8, marginx: 8, marginy: 8 });
    graph.setDefaultEdgeLabel(() => ({}));
    for (const [id] of g.boxes) graph.setNode(id, { width: NODE_W, height: NODE_H });
    for (const [id, e] of g.edges) graph.setEdge(e.from, e.to, { id, width: 86, height: 14, labelpos: 'c' });
    dagre.layout(graph);
    const size = graph.graph();
    const svg = svgEl('svg', { class: 'flow-svg', width: Math.ceil(size.width || 0), height: Math.ceil(size.height || 0), viewBox: `0 0 ${Math.ceil(size.width || 0)} ${Math.ceil(size.height || 0)}` });
    svg.append(svgEl('defs', {}, marker('flow-arrow-data', '#1f6fb2'), marker('flow-arrow-control', '#8a96a3')));
    const edgeLayer = svgEl('g', { class: 'flow-edges' });
    const boxLayer = svgEl('g', { class: 'flow-boxes' });
    svg.append(edgeLayer, boxLayer);
    const boxes = new Map();
    const edges = new Map();
    for (const ev of graph.edges()) {
      const meta = graph.edge(ev);
      const e = g.edges.get(meta.id);
      const path = svgEl('path', { class: `flow-edge ${e.kind}`, d: curve(meta.points), 'marker-end': `url(#flow-arrow-${e.kind})` });
      const label = svgEl('text', { class: `flow-label ${e.kind}`, x: meta.x, y: meta.y + 4, 'text-anchor': 'middle' });
      const title = svgEl('title');
      path.append(title);
      edgeLayer.append(path, label);
      edges.set(meta.id, { path, label, title });
    }
    for (const id of graph.nodes()) {
      const n = graph.node(id);
      const b = g.boxes.get(id);
      const grp = svgEl('g', { class: `flow-box ${b.type} kind-${b.kind || ''}`, transform: `translate(${n.x - NODE_W / 2},${n.y - NODE_H / 2})`, 'data-gid': id });
      grp.append(svgEl('rect', { width: NODE_W, height: NODE_H, rx: b.type === 'node' ? 14 : 4 }));
      const t1 = svgEl('text', { x: 8, y: 16, class: 'flow-title' });
      t1.textContent = clip(b.title, 34);
      const t2 = svgEl('text', { x: 8, y: 33, class: 'flow-sub' });
      const tip = svgEl('title');
      tip.textContent = b.tip || b.title;
      grp.append(t1, t2, tip);
      grp.addEventListener('click', () => {
        if (b.type === 'group') { expanded.add(id); if (last) update(last.model, last.filters); } else if (b.path) onSelect(b.path);
      });
      boxLayer.append(grp);
      boxes.set(id, { sub: t2 });
    }
    hostEl.replaceChildren(svg);
    return { sig, boxes, edges };
  }

  return { update };
}

/** Gathers the graph's boxes and edges, and the flow tables' rows, from the topology. */
function collect(model, { job, node }, expanded) {
  const boxes = new Map();
  const edges = new Map();
  const groupNames = new Map();
  const gidOf = new Map(); // actor path → box id
  const passNode = (a) => !node || a.node === node || taskManagerOf(a) === node;
  const hosts = new Set();
  for (const a of model.actors.values()) {
    const id = a.subtask && a.subtask.identity;
    if (!id || (job && id.job_id !== job) || !passNode(a)) continue;
    const group = `v:${id.job_id}:${id.vertex_id}`;
    groupNames.set(group, id.vertex || id.vertex_id);
    hosts.add(taskManagerOf(a));
    const gid = expanded.has(group) ? `a:${a.path}` : group;
    gidOf.set(a.path, gid);
    let b = boxes.get(gid);
    if (!b) {
      b = gid === group
        ? { type: 'group', kind: 'Subtask', title: id.vertex || id.vertex_id, tip: `${id.vertex} (${id.job_name}): click to expand its subtasks`, members: [] }
        : { type: 'actor', kind: 'Subtask', title: `#${id.subtask} ${id.vertex}`, path: a.path, tip: a.path, members: [] };
      boxes.set(gid, b);
    }
    b.members.push(a);
  }
  for (const a of model.actors.values()) {
    if (a.subtask || a.kind === 'Slot' || !passNode(a)) continue;
    if (job && a.kind === 'JobMaster' && jobOfJobMaster(a.path) !== job) continue;
    if (job && a.kind === 'TaskManager' && !hosts.has(taskManagerOf(a))) continue;
    const gid = `a:${a.path}`;
    gidOf.set(a.path, gid);
    boxes.set(gid, { type: 'actor', kind: a.kind, title: `${a.kind}: ${actorName(a, model.jobNames)}`, path: a.path, tip: a.path, members: [a] });
  }
  // Data edges: into the graph by box, into the table by vertex.
  const vertexFlows = new Map();
  for (const e of model.edges) {
    if (e.kind !== 'data') continue;
    const gf = gidOf.get(e.from);
    const gt = gidOf.get(e.to);
    if (!gf || !gt) continue;
    const f = e.flow || {};
    if (gf !== gt) {
      const id = `d:${gf}->${gt}`;
      let x = edges.get(id);
      if (!x) { x = { kind: 'data', from: gf, to: gt, records: 0, buffers: 0, channels: 0 }; edges.set(id, x); }
      x.records += f.records_per_second || 0;
      x.buffers += f.buffers_per_second || 0;
      x.channels += e.channels || 0;
    }
    const pf = model.byPath.get(e.from);
    const pt = model.byPath.get(e.to);
    const vf = pf && pf.subtask ? pf.subtask.identity : null;
    const vt = pt && pt.subtask ? pt.subtask.identity : null;
    if (!vf || !vt) continue;
    const key = `${vf.job_id}:${vf.vertex_id}->${vt.vertex_id}`;
    let r = vertexFlows.get(key);
    if (!r) {
      r = { key, fromName: vf.vertex, toName: vt.vertex, channels: 0, records: 0, buffers: 0, watermarks: 0, barriers: 0, credits: 0 };
      vertexFlows.set(key, r);
    }
    r.channels += e.channels || 0;
    r.records += f.records_per_second || 0;
    r.buffers += f.buffers_per_second || 0;
    r.watermarks += f.watermarks_per_second || 0;
    r.barriers += f.barriers_per_second || 0;
    r.credits += f.credits_per_second || 0;
  }
  // Control edges: node → actor box.
  const control = new Map();
  for (const e of model.edges) {
    if (e.kind !== 'control') continue;
    const gt = gidOf.get(e.to);
    if (!gt) continue;
    const b = boxes.get(gt);
    const nid = `n:${e.from_node}`;
    if (!boxes.has(nid)) {
      const info = model.nodes.find((n) => n.node === e.from_node);
      boxes.set(nid, { type: 'node', kind: 'node', title: e.from_node, tip: `node ${e.from_node}`, role: info ? info.role : '', status: info ? info.status : 'gone', members: [] });
    }
    const id = `c:${nid}->${gt}`;
    let x = edges.get(id);
    if (!x) { x = { kind: 'control', from: nid, to: gt, perSecond: 0, count: 0, tags: new Map() }; edges.set(id, x); }
    const key = `${e.from_node}->${gt}`;
    let r = control.get(key);
    if (!r) {
      r = { key, fromNode: e.from_node, toName: b.title, path: b.type === 'group' ? null : b.path, perSecond: 0, count: 0, tags: new Map() };
      control.set(key, r);
    }
    for (const m of e.messages || []) {
      for (const t of [x, r]) {
        t.perSecond += m.per_second || 0;
        t.count += m.count || 0;
        t.tags.set(m.tag, (t.tags.get(m.tag) || 0) + (m.per_second || 0));
      }
    }
  }
  const sig = [...boxes.keys()].sort().join('|') + '#' + [...edges.keys()].sort().join('|');
  return { boxes, edges, sig, groupNames, vertexFlows: [...vertexFlows.values()].sort((a, b) => b.records - a.records), control };
}

/** Rewrites the boxes' and edges' figures in place. */
function relabel(drawn, g) {
  for (const [id, box] of drawn.boxes) {
    const b = g.boxes.get(id);
    if (!b) continue;
    setText(box.sub, boxFigures(b));
  }
  for (const [id, e] of drawn.edges) {
    const x = g.edges.get(id);
    if (!x) continue;
    if (x.kind === 'data') {
      setText(e.label, `${fmt(x.records)} rec/s`);
      setText(e.title, `${fmt(x.records)} records/s, ${fmt(x.buffers)} buffers/s over ${x.channels} channel${x.channels === 1 ? '' : 's'}`);
      setAttr(e.path, 'stroke-width', (1 + Math.min(4, Math.log10(1 + x.records) / 1.5)).toFixed(1));
    } else {
      setText(e.label, x.perSecond > 0 ? `${fmt(x.perSecond)} msg/s` : '');
      setText(e.title, `${num(x.count)} messages in all; ${topTags(x.tags, 8)}`);
    }
  }
}

function boxFigures(b) {
  if (b.type === 'node') return `${b.role || 'node'}${b.status && b.status !== 'ok' ? ' · ' + b.status.replace('_', ' ') : ''}`;
  if (b.type === 'group') {
    let recs = 0;
    let restarts = 0;
    let inputs = 0;
    for (const a of b.members) { recs += recordsIn(a) || 0; restarts += a.restarts || 0; inputs += (a.subtask.inputs || []).length; }
    return `×${b.members.length} subtasks · ${inputs ? fmt(recs) + ' rec/s in' : 'source'}${restarts ? ` · ${restarts} restarts` : ''}`;
  }
  const a = b.members[0];
  if (a.subtask) return `${(a.subtask.inputs || []).length ? fmt(recordsIn(a)) + ' rec/s in' : 'source'} · ${a.subtask.status || ''}`;
  return `${fmt(messageRate(a))} msg/s · mailbox ${num(a.mailbox_len)}/${num(a.mailbox_capacity)}`;
}

function topTags(tags, n = 3) {
  return [...tags].sort((a, b) => b[1] - a[1]).slice(0, n).map(([t, r]) => `${t.replace(/^rill\.\w+\./, '')} ${fmt(r)}/s`).join(', ');
}

function fmt(x) {
  if (x === null || x === undefined) return '–';
  if (x >= 1000) return rate(x).replace('/s', '').trim();
  return x >= 10 ? x.toFixed(0) : x.toFixed(1);
}

function clip(s, n) { s = String(s); return s.length > n ? s.slice(0, n - 1) + '…' : s; }

function svgEl(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  el.append(...children);
  return el;
}

function marker(id, color) {
  return svgEl('marker', { id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 8, markerHeight: 8, markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse' },
    svgEl('path', { d: 'M0,0 L10,5 L0,10 z', fill: color }));
}

/** A smooth path through dagre's points. */
function curve(points) {
  if (!points || !points.length) return '';
  let d = `M${points[0].x},${points[0].y}`;
  for (let i = 1; i < points.length - 1; i++) {
    const mx = (points[i].x + points[i + 1].x) / 2;
    const my = (points[i].y + points[i + 1].y) / 2;
    d += ` Q${points[i].x},${points[i].y} ${mx},${my}`;
  }
  const end = points[points.length - 1];
  return d + ` L${end.x},${end.y}`;
}

function setText(el, text) {
  if (el.__text === text) return;
  const t = el.firstChild;
  if (t && t.nodeType === 3 && !t.nextSibling) t.data = text; else el.textContent = text;
  el.__text = text;
}

function setAttr(el, name, value) {
  if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}
