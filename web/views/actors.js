// The actor topology (#/actors?job=<id>&node=<node>&actor=<path>): Rill's own view of the
// cluster as actors. A live supervision tree per node (JobManager: Dispatcher, ResourceManager,
// JobMasters; each TaskManager: its slots and their subtasks) with each actor's mailbox,
// messages per second by tag, handler time, restarts and liveness; the message flow between
// actors (data edges between subtasks, control edges from nodes to actors: actors-flow.js); a
// detail panel with an actor's recent figures (actors-detail.js); and a log of what changed
// (restarts, actors appearing and disappearing, nodes lost).
//
// Data: GET /actors/stream (server-sent events: `snapshot`, then `update`s, about one a
// second; the browser resumes with Last-Event-ID), falling back to polling GET /actors every
// 2 s when the stream keeps failing. Each event is applied in O(actors) (actors-model.js) and
// the DOM is updated in place: rows are keyed by actor and only changed text is written.

import { get } from '../lib/api.js';
import { h, fill, num, rate, notice } from '../lib/dom.js';
import { TopologyModel, actorKey, actorName, messageRate, recordsIn, jobOfJobMaster, taskManagerOf } from './actors-model.js';
import { createDetail } from './actors-detail.js';
import { createFlow } from './actors-flow.js';

const KIND_RANK = { Dispatcher: 0, ResourceManager: 1, JobMaster: 2, TaskManager: 3, Slot: 4, Subtask: 5 };
const MAX_EVENTS = 50;
const BIG_TREE = 250; // past this many actors, slots start collapsed
const collator = new Intl.Collator('en', { numeric: true });

export function actorsPage(el, ctx) {
  const view = new ActorsView(el, ctx);
  view.start();
}

class ActorsView {
  constructor(el, ctx) {
    this.ctx = ctx;
    this.model = new TopologyModel();
    this.filters = { job: ctx.query.get('job') || '', node: ctx.query.get('node') || '' };
    this.selected = ctx.query.get('actor') || '';
    this.rows = new Map(); // key → row
    this.sections = new Map(); // node → section
    this.open = new Map(); // key → expanded (the user's choice)
    this.big = null;
    this.dirty = false;
    this.mode = 'stream';
    this.build(el);
  }

  build(el) {
    this.jobSelect = h('select#actor-filter-job', { onchange: () => this.setFilter('job', this.jobSelect.value) }, h('option', { value: '' }, 'All jobs'));
    this.nodeSelect = h('select#actor-filter-node', { onchange: () => this.setFilter('node', this.nodeSelect.value) }, h('option', { value: '' }, 'All nodes'));
    this.count = h('b#actors-count', '0');
    this.total = h('span', '');
    this.live = h('span.actors-live#actors-live', 'connecting…');
    this.error = h('div#actors-error');
    this.events = h('div#actor-events.actor-events', h('div.actor-events-empty.muted', 'Changes appear here as they happen: restarts, redeployed subtasks, lost nodes.'));
    this.tree = h('div#actor-tree.actor-tree',
      h('div.actor-row.actor-head', h('div', 'Actor'), h('div', 'Mailbox'), h('div.num', 'Msgs/s'), h('div', 'By tag / flow'), h('div.num', 'Busy'), h('div.num', 'Restarts'), h('div', 'Alive')),
      h('div.actor-waiting.muted', 'Waiting for the topology…'));
    const detailEl = h('aside#actor-detail.actor-detail', { hidden: true });
    this.main = h('div.actors-main', this.tree, detailEl);
    const flowEl = h('div#actor-flow.actor-flow');
    fill(el, h('div#actors',
      h('div.actors-title', h('h1', 'Actor topology'), this.live),
      h('div.toolbar.actors-toolbar',
        h('label', { for: 'actor-filter-job' }, 'Job'), this.jobSelect,
        h('label', { for: 'actor-filter-node' }, 'Node'), this.nodeSelect,
        h('button', { type: 'button', onclick: () => this.expandAll(true) }, 'Expand all'),
        h('button', { type: 'button', onclick: () => this.expandAll(false) }, 'Collapse slots'),
        h('span.actors-counter', this.count, ' actors shown', this.total)),
      this.error,
      h('div.actor-events-wrap', h('div.actor-events-title', 'What changed'), this.events),
      this.main,
      h('h2', 'Message flow'), flowEl));
    this.detail = createDetail(detailEl, { onClose: () => this.select(''), onSelect: (p) => this.select(p) });
    this.flow = createFlow(flowEl, { onSelect: (p) => this.select(p) });
    const onVisible = () => this.visibility();
    document.addEventListener('visibilitychange', onVisible);
    this.ctx.scope.add(() => { document.removeEventListener('visibilitychange', onVisible); clearTimeout(this.hideTimer); });
  }

  start() {
    this.connect();
  }

  /** Follows the stream: a `snapshot`, then `update`s; after repeated errors, polls instead. */
  connect() {
    let failures = 0;
    const es = this.ctx.scope.stream('/actors/stream', ['snapshot', 'update'], (d, ev) => {
      if (this.mode !== 'stream' || this.es !== es) return;
      failures = 0;
      this.apply(ev.type === 'snapshot' ? this.model.snapshot(d) : this.model.update(d));
    }, () => {
      failures++;
      if (this.mode !== 'stream' || this.es !== es) return;
      this.setLive(`stream interrupted, reconnecting (${failures})…`, true);
      if (failures >= 3 || es.readyState === EventSource.CLOSED) {
        es.close();
        this.es = null;
        this.poll();
      }
    });
    this.es = es;
  }

  /**
   * A tab hidden for a while stops following the stream (the JobManager gathers the topology
   * only while someone listens); it follows it again, from a new snapshot, when shown.
   */
  visibility() {
    clearTimeout(this.hideTimer);
    if (document.hidden) {
      this.hideTimer = setTimeout(() => {
        if (this.es && this.mode === 'stream') {
          this.es.close();
          this.es = null;
          this.setLive('paused while the tab is hidden', false);
        }
      }, 15000);
      return;
    }
    if (!this.es && this.mode === 'stream' && this.ctx.scope.alive) this.connect();
    if (this.dirty) this.render();
  }

  /** The fallback: GET /actors every 2 s. */
  poll() {
    this.mode = 'poll';
    this.ctx.scope.poll(2000, async () => {
      if (document.hidden) { this.setLive('paused while the tab is hidden', false); return; }
      try {
        const d = await get('/actors');
        if (this.error.firstChild) fill(this.error);
        this.apply(this.model.snapshot(d), 'polling GET /actors every 2 s (the stream failed)');
      } catch (e) {
        fill(this.error, notice('bad', `The actor topology cannot be had: ${e.message}`));
        this.setLive('JobManager not answering', true);
      }
    });
  }

  setLive(text, bad) {
    this.live.textContent = text;
    this.live.classList.toggle('bad', !!bad);
  }

  apply(changes, how) {
    this.setLive(`${how || 'live'} · updated ${new Date().toLocaleTimeString()}`, false);
    this.log(changes);
    if (document.hidden) { this.dirty = true; return; }
    this.render();
  }

  render() {
    this.dirty = false;
    if (this.error.firstChild) fill(this.error);
    const m = this.model;
    if (this.big === null) this.big = m.actors.size > BIG_TREE;
    this.updateSelects();
    this.renderTree();
    this.detail.update(m, this.selected);
    this.flow.update(m, this.filters);
  }

  setFilter(name, value) {
    this.filters[name] = value;
    this.ctx.setQuery({ [name]: value });
    this.render();
  }

  select(path) {
    this.selected = path || '';
    this.ctx.setQuery({ actor: this.selected });
    for (const r of this.rows.values()) r.el.classList.toggle('selected', r.path === this.selected);
    this.detail.update(this.model, this.selected);
  }

  expandAll(all) {
    this.open.clear();
    this.big = !all;
    for (const a of this.model.actors.values()) {
      if (a.kind === 'Slot') this.open.set(actorKey(a), all);
    }
    this.renderTree();
  }

  /** Job and node options, rewritten only when the set changes. */
  updateSelects() {
    const m = this.model;
    const jobs = [...m.jobNames].sort((a, b) => collator.compare(a[1], b[1]));
    setOptions(this.jobSelect, 'All jobs', jobs.map(([id, name]) => [id, `${name} (${id.slice(0, 8)})`]), this.filters.job);
    const nodes = new Map();
    for (const n of m.nodes) nodes.set(n.node, `${n.node} (${n.role})`);
    for (const a of m.actors.values()) {
      if (a.kind === 'TaskManager') {
        const tm = taskManagerOf(a);
        if (tm && !nodes.has(tm)) nodes.set(tm, `${tm} (TaskManager in ${a.node})`);
      }
    }
    setOptions(this.nodeSelect, 'All nodes', [...nodes], this.filters.node);
  }

  /** Which actors pass the filters, in tree order per node: O(actors log actors). */
  layout() {
    const m = this.model;
    const { job, node } = this.filters;
    const kids = new Map();
    const roots = new Map();
    for (const [key, a] of m.actors) {
      const pk = a.parent ? `${a.node}\u0000${a.parent}` : null;
      if (pk && m.actors.has(pk)) {
        if (!kids.has(pk)) kids.set(pk, []);
        kids.get(pk).push(key);
      } else {
        if (!roots.has(a.node)) roots.set(a.node, []);
        roots.get(a.node).push(key);
      }
    }
    const cmp = (x, y) => {
      const a = m.actors.get(x);
      const b = m.actors.get(y);
      return ((KIND_RANK[a.kind] ?? 9) - (KIND_RANK[b.kind] ?? 9)) || collator.compare(a.path, b.path);
    };
    const passNode = (a) => !node || a.node === node || taskManagerOf(a) === node;
    const passJob = (a) => {
      if (!job) return true;
      if (a.subtask) return a.subtask.identity && a.subtask.identity.job_id === job;
      if (a.kind === 'JobMaster') return jobOfJobMaster(a.path) === job;
      return null; // a container: shown when something under it is
    };
    const perNode = new Map();
    const visit = (key, depth, out) => {
      const a = m.actors.get(key);
      const children = (kids.get(key) || []).sort(cmp);
      const mine = [];
      let any = false;
      for (const c of children) any = visit(c, depth + 1, mine) || any;
      const pj = passJob(a);
      const show = passNode(a) && (pj === true || (pj === null && (any || !job || (a.kind !== 'Slot' && a.kind !== 'TaskManager'))));
      if (show) {
        out.push({ key, depth, children: children.length, hidden: 0 });
        const entry = out[out.length - 1];
        if (this.isOpen(key, a)) out.push(...mine);
        else entry.hidden = mine.length;
      }
      return show && (pj === true || any);
    };
    for (const [n, list] of roots) {
      const out = [];
      for (const r of list.sort(cmp)) visit(r, 0, out);
      perNode.set(n, out);
    }
    return perNode;
  }

  isOpen(key, a) {
    if (this.open.has(key)) return this.open.get(key);
    return !(a.kind === 'Slot' && this.big);
  }

  renderTree() {
    const m = this.model;
    const perNode = this.layout();
    const waiting = this.tree.querySelector('.actor-waiting');
    if (waiting) waiting.remove();
    const nodeIds = m.nodes.map((n) => n.node);
    for (const n of perNode.keys()) if (!nodeIds.includes(n)) nodeIds.push(n);
    const wanted = new Set();
    const sectionOrder = [];
    let shown = 0;
    for (const id of nodeIds) {
      const info = m.nodes.find((n) => n.node === id) || { node: id, role: '', status: 'ok' };
      const entries = perNode.get(id) || [];
      if (this.filters.node && id !== this.filters.node && !entries.length) continue;
      const sec = this.section(id);
      this.updateSection(sec, info, entries.length);
      sectionOrder.push(sec.el);
      const els = [];
      for (const e of entries) {
        wanted.add(e.key);
        const row = this.row(e.key);
        this.updateRow(row, m.actors.get(e.key), e);
        els.push(row.el);
      }
      shown += entries.length;
      if (!sameList(sec.order, els)) { sec.rows.replaceChildren(...els); sec.order = els; }
    }
    for (const [k, r] of this.rows) if (!wanted.has(k)) { r.el.remove(); this.rows.delete(k); }
    const head = this.tree.firstChild;
    const current = [...this.tree.children].slice(1);
    if (!sameList(current, sectionOrder)) this.tree.replaceChildren(head, ...sectionOrder);
    for (const [id, s] of this.sections) if (!sectionOrder.includes(s.el)) this.sections.delete(id);
    setText(this.count, String(shown));
    setText(this.total, shown === m.actors.size ? '' : ` of ${m.actors.size}`);
  }

  section(id) {
    let s = this.sections.get(id);
    if (s) return s;
    const el = h('section.actor-node', { dataset: { node: id } });
    s = { el, head: h('div.node-head'), rows: h('div.node-rows'), order: [], sig: '' };
    el.append(s.head, s.rows);
    this.sections.set(id, s);
    return s;
  }

  updateSection(s, n, shown) {
    const seen = this.model.lastSeen.get(n.node);
    const sig = `${n.status}|${n.role}|${n.error || ''}|${n.took_ms}|${shown}`;
    s.el.dataset.nodeStatus = n.status;
    if (s.sig === sig) return;
    s.sig = sig;
    const role = n.role === 'jobmanager' ? 'JobManager node' : n.role === 'taskmanager' ? 'TaskManager node' : 'Node';
    const lost = n.status !== 'ok';
    fill(s.head,
      h('span.node-role', role), h('span.node-id.mono', n.node),
      h('span.badge.node-status.' + (n.status === 'ok' ? 'ok' : 'bad'), n.status.replace('_', ' ')),
      h('span.muted', lost ? '' : `${shown} actor${shown === 1 ? '' : 's'} · answered in ${num(n.took_ms)} ms`),
      lost ? h('span.node-lost', `${n.error || 'does not answer'}${seen ? ` · its ${seen.count} actors were last seen ${new Date(seen.at).toLocaleTimeString()}` : ''}`) : null);
  }

  row(key) {
    let r = this.rows.get(key);
    if (r) return r;
    const a = this.model.actors.get(key);
    const toggle = h('button.tree-toggle', { type: 'button', title: 'expand / collapse' });
    const kind = h('span.kind.kind-' + String(a.kind).replace(/\W/g, ''), a.kind);
    const label = h('span.a-label');
    const sub = h('span.a-sub.muted');
    const bar = h('span.bar', h('span'));
    const mailbox = h('span.mailbox');
    const el = h('div.actor-row', { dataset: { actorPath: a.path, actorKind: a.kind, actorNode: a.node } },
      h('div.a-name', toggle, kind, label, sub), h('div.a-mbox', bar, mailbox),
      h('div.a-rate.num'), h('div.a-tags'), h('div.a-busy.num'), h('div.a-restarts.num'), h('div.a-alive'));
    r = { el, path: a.path, toggle, label, sub, bar, mailbox, rate: el.children[2], tags: el.children[3], busy: el.children[4], restarts: el.children[5], alive: el.children[6], name: el.children[0], last: {} };
    toggle.addEventListener('click', (ev) => {
      ev.stopPropagation();
      const cur = this.model.actors.get(key);
      this.open.set(key, !(cur && this.isOpen(key, cur)));
      this.renderTree();
    });
    el.addEventListener('click', () => this.select(r.path));
    el.classList.toggle('selected', a.path === this.selected);
    this.rows.set(key, r);
    return r;
  }

  updateRow(r, a, e) {
    const last = r.last;
    if (last.depth !== e.depth) { r.name.style.paddingLeft = `${6 + e.depth * 18}px`; last.depth = e.depth; }
    const open = e.children ? (e.hidden ? '▸' : '▾') : '';
    setText(r.toggle, open);
    r.toggle.style.visibility = e.children ? '' : 'hidden';
    setText(r.label, actorName(a, this.model.jobNames));
    const status = a.subtask && a.subtask.status;
    setText(r.sub, [e.hidden ? `${e.hidden} inside` : '', status && status !== 'RUNNING' ? status : ''].filter(Boolean).join(' · '));
    r.el.title = a.path;
    const cap = a.mailbox_capacity || 0;
    const len = a.mailbox_len || 0;
    const fullness = cap ? Math.min(1, len / cap) : 0;
    const w = `${Math.round(fullness * 100)}%`;
    if (last.w !== w) { r.bar.firstChild.style.width = w; last.w = w; }
    const full = fullness >= 0.8;
    if (last.full !== full) { r.bar.classList.toggle('full', full); r.el.classList.toggle('mailbox-full', full); last.full = full; }
    setText(r.mailbox, `${len} / ${cap}`);
    setText(r.rate, a.messages && a.messages.length ? compact(messageRate(a)) : '–');
    setText(r.tags, tagSummary(a));
    setText(r.busy, busy(a.handler_micros_per_second));
    const restarts = a.restarts || 0;
    setText(r.restarts, String(restarts));
    if (last.restarted !== restarts > 0) { r.restarts.classList.toggle('hot', restarts > 0); last.restarted = restarts > 0; }
    const alive = a.alive !== false;
    if (last.alive !== alive) {
      r.alive.replaceChildren(h(alive ? 'span.alive-yes' : 'span.alive-no', alive ? '● alive' : '● stopped'));
      r.el.classList.toggle('dead', !alive);
      last.alive = alive;
    }
  }

  log(changes) {
    if (!changes.length) return;
    const empty = this.events.querySelector('.actor-events-empty');
    if (empty) empty.remove();
    const at = new Date().toLocaleTimeString();
    const lines = changes.slice(-MAX_EVENTS).map((c) => {
      const line = h('div.actor-event.lvl-' + c.level, h('span.ev-time', at), h('span.ev-text', c.text));
      if (c.path) {
        line.classList.add('clickable');
        line.addEventListener('click', () => this.select(c.path));
      }
      if (c.node) line.dataset.node = c.node;
      return line;
    });
    this.events.prepend(...lines.reverse());
    while (this.events.children.length > MAX_EVENTS) this.events.lastChild.remove();
  }
}

/** Writes text only when it changed (no layout work for unchanged rows). */
function setText(el, text) {
  if (el.__text === text) return;
  const t = el.firstChild;
  if (t && t.nodeType === 3 && !t.nextSibling) t.data = text; else el.textContent = text;
  el.__text = text;
}

function sameList(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Replaces a select's options when their set changed; keeps `value` selected. */
function setOptions(select, allLabel, options, value) {
  const sig = JSON.stringify(options) + '|' + value;
  if (select.__sig === sig) return;
  select.__sig = sig;
  const list = [h('option', { value: '' }, allLabel)];
  for (const [v, label] of options) list.push(h('option', { value: v }, label));
  if (value && !options.some(([v]) => v === value)) list.push(h('option', { value }, `${value} (not present)`));
  select.replaceChildren(...list);
  select.value = value;
}

/** A message tag without the `rill.xx.` prefix. */
export function shortTag(tag) { return String(tag).replace(/^rill\.\w+\./, ''); }

/** The busiest tags, compactly: "Heartbeat 1/s · DeployTask 0/s"; a subtask's records in. */
function tagSummary(a) {
  const parts = [];
  if (a.subtask) {
    const r = recordsIn(a);
    if ((a.subtask.inputs || []).length) parts.push(`${compact(r)} rec/s in`);
    else parts.push('source');
  }
  const msgs = (a.messages || []).slice().sort((x, y) => (y.per_second - x.per_second) || (y.count - x.count)).slice(0, 3);
  for (const mm of msgs) parts.push(`${shortTag(mm.tag)} ${fmtRate(mm.per_second)}`);
  const more = (a.messages || []).length - msgs.length;
  if (more > 0) parts.push(`+${more}`);
  return parts.join(' · ');
}

function fmtRate(x) {
  if (!x) return '0';
  return compact(x);
}

/** A per-second figure without its unit: 1234.5 → "1.23 K", 3 → "3.0". */
export function compact(x) {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  if (x >= 1000) return rate(x).replace('/s', '').trim();
  return x >= 10 ? x.toFixed(0) : x.toFixed(1);
}

/** Handler time per second as a share of one thread: 250000 µs/s → "25 %". */
export function busy(microsPerSecond) {
  if (microsPerSecond === null || microsPerSecond === undefined) return '–';
  const p = microsPerSecond / 1e4;
  if (p === 0) return '0 %';
  return p < 0.1 ? '<0.1 %' : `${p < 10 ? p.toFixed(1) : Math.round(p)} %`;
}
