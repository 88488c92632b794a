// The actor topology as the actors view holds it: the last whole topology (from a `snapshot`
// event of GET /actors/stream or a GET /actors answer) with the stream's `update`s applied
// (changed actors replaced, removed ones dropped, nodes and edges replaced), the changes worth
// telling ("what changed": restarts, actors appearing and disappearing, subtask attempts,
// nodes timing out or becoming unreachable), and a bounded client-side history of each
// actor's figures for the detail charts. Every step is O(actors) per event.

/** An actor's key: node and path (a path is unique within its node). */
export const actorKey = (a) => `${a.node}\u0000${a.path}`;

/** Sum of an actor's messages per second, over its tags. */
export function messageRate(a) {
  let s = 0;
  for (const m of a.messages || []) s += m.per_second || 0;
  return s;
}

/** A subtask's records per second in, over its input channels (null when not a subtask). */
export function recordsIn(a) {
  if (!a.subtask) return null;
  let s = 0;
  for (const i of a.subtask.inputs || []) s += (i.flow && i.flow.records_per_second) || 0;
  return s;
}

/** A short, human name for an actor (a subtask by its vertex and index). */
export function actorName(a, jobNames) {
  const id = a.subtask && a.subtask.identity;
  if (id) return `${id.vertex || id.vertex_id} #${id.subtask}`;
  const last = String(a.path || '').split('/').filter(Boolean).pop() || a.path;
  if (a.kind === 'JobMaster') {
    const jid = jobOfJobMaster(a.path);
    const name = jid && jobNames ? jobNames.get(jid) : null;
    return name ? `${name} (${jid.slice(0, 8)})` : last;
  }
  return last;
}

/** The job id a JobMaster's path names (`…/jobmaster-<id>`), else null. */
export function jobOfJobMaster(path) {
  const m = /jobmaster-([0-9a-fA-F]{8,32})$/.exec(path || '');
  return m ? m[1] : null;
}

/** The TaskManager an actor belongs to: its path's first segment when it is a TaskManager's. */
export function taskManagerOf(a) {
  const first = String(a.path || '').split('/')[1] || '';
  return first.startsWith('taskmanager') ? first : null;
}

const HISTORY = 300; // samples per actor: five minutes at one event a second
const MAX_TRACKED = 4000; // actors with a history, at most

/** A ring of an actor's samples: time (s), messages/s, mailbox length, handler µs/s, records in/s. */
class Ring {
  constructor() {
    this.t = new Float64Array(HISTORY);
    this.cols = [new Float64Array(HISTORY), new Float64Array(HISTORY), new Float64Array(HISTORY), new Float64Array(HISTORY)];
    this.n = 0;
    this.head = 0;
  }
  push(t, values) {
    this.t[this.head] = t;
    for (let i = 0; i < this.cols.length; i++) this.cols[i][this.head] = values[i] ?? NaN;
    this.head = (this.head + 1) % HISTORY;
    if (this.n < HISTORY) this.n++;
  }
  get last() { return this.n ? this.t[(this.head - 1 + HISTORY) % HISTORY] : 0; }
  /** Plain arrays in time order, for uPlot: [t, messages/s, mailbox, handler, records]. */
  series() {
    const start = (this.head - this.n + HISTORY) % HISTORY;
    const out = [new Array(this.n)].concat(this.cols.map(() => new Array(this.n)));
    for (let k = 0; k < this.n; k++) {
      const j = (start + k) % HISTORY;
      out[0][k] = this.t[j];
      for (let i = 0; i < this.cols.length; i++) out[i + 1][k] = Number.isNaN(this.cols[i][j]) ? null : this.cols[i][j];
    }
    return out;
  }
}

/** What the view knows of the topology, and what changed with each event. */
export class TopologyModel {
  constructor() {
    this.actors = new Map(); // key → actor
    this.nodes = [];
    this.edges = [];
    this.seq = 0; // events applied
    this.history = new Map(); // key → Ring
    this.seen = null; // key → {restarts, attempt, alive, kind, name}; null before the first event
    this.nodeSeen = null; // node → status
    this.lastSeen = new Map(); // node → {at, count} of actors when it last answered
    this.recentGone = new Map(); // subtask identity → what it was, for five minutes after it went
  }

  /** A whole topology (a `snapshot` event or GET /actors). Returns the changes. */
  snapshot(d) {
    this.actors.clear();
    for (const a of d.actors || []) this.actors.set(actorKey(a), a);
    this.nodes = d.nodes || [];
    this.edges = d.edges || [];
    return this.settle();
  }

  /** An `update` event: the actors changed and removed, the nodes and edges. */
  update(d) {
    for (const r of d.removed || []) this.actors.delete(actorKey(r));
    for (const a of d.changed || []) this.actors.set(actorKey(a), a);
    if (d.nodes) this.nodes = d.nodes;
    if (d.edges) this.edges = d.edges;
    return this.settle();
  }

  /** Records the samples and finds the changes since the last event. */
  settle() {
    this.seq++;
    const now = Date.now() / 1000;
    this.jobNames = new Map();
    this.byPath = new Map();
    for (const [key, a] of this.actors) {
      this.byPath.set(a.path, a);
      const id = a.subtask && a.subtask.identity;
      if (id && id.job_id && !this.jobNames.has(id.job_id)) this.jobNames.set(id.job_id, id.job_name || id.job_id);
      let ring = this.history.get(key);
      if (!ring) {
        if (this.history.size >= MAX_TRACKED) this.forgetOldest();
        ring = new Ring();
        this.history.set(key, ring);
      }
      ring.push(now, [messageRate(a), a.mailbox_len, a.handler_micros_per_second, recordsIn(a)]);
    }
    for (const a of this.actors.values()) {
      const jid = a.kind === 'JobMaster' ? jobOfJobMaster(a.path) : null;
      if (jid && !this.jobNames.has(jid)) this.jobNames.set(jid, jid);
    }
    if (this.seq % 60 === 0) this.forgetGone(now);
    const counts = new Map();
    for (const a of this.actors.values()) counts.set(a.node, (counts.get(a.node) || 0) + 1);
    for (const n of this.nodes) {
      if (n.status === 'ok') this.lastSeen.set(n.node, { at: Date.now(), count: counts.get(n.node) || 0 });
    }
    return this.changes();
  }

  forgetOldest() {
    let oldest = null;
    let at = Infinity;
    for (const [k, r] of this.history) {
      if (!this.actors.has(k) && r.last < at) { at = r.last; oldest = k; }
    }
    this.history.delete(oldest ?? this.history.keys().next().value);
  }

  forgetGone(now) {
    for (const [k, r] of this.history) {
      if (!this.actors.has(k) && now - r.last > HISTORY) this.history.delete(k);
    }
  }

  /** The changes since the previous event, as log lines {level, text, path?}. */
  changes() {
    const out = [];
    const seen = new Map();
    for (const [key, a] of this.actors) {
      const id = a.subtask && a.subtask.identity;
      seen.set(key, { restarts: a.restarts || 0, attempt: id ? id.attempt : null, ident: id ? `${id.job_id}:${id.vertex_id}:${id.subtask}` : null, job: id ? id.job_name : null, alive: a.alive !== false, kind: a.kind, name: actorName(a, this.jobNames), path: a.path, node: a.node, failure: a.last_failure });
    }
    const nodeSeen = new Map(this.nodes.map((n) => [n.node, n]));
    if (this.seen) {
      this.nodeChanges(nodeSeen, out);
      const appeared = [];
      const gone = [];
      for (const [key, s] of seen) {
        const was = this.seen.get(key);
        if (!was) { appeared.push(s); continue; }
        if (s.restarts > was.restarts) {
          const why = failureText(s.failure);
          out.push({ level: 'bad', path: s.path, text: `${s.kind} ${s.name} restarted (${s.restarts} restart${s.restarts === 1 ? '' : 's'})${why ? ': ' + why : ''}` });
        }
        if (s.attempt && was.attempt && s.attempt !== was.attempt) {
          out.push({ level: 'warn', path: s.path, text: `${s.kind} ${s.name} redeployed: attempt ${was.attempt.slice(0, 8)} → ${s.attempt.slice(0, 8)}` });
        }
        if (was.alive && !s.alive) out.push({ level: 'bad', path: s.path, text: `${s.kind} ${s.name} stopped` });
        if (!was.alive && s.alive) out.push({ level: 'ok', path: s.path, text: `${s.kind} ${s.name} alive again` });
      }
      for (const [key, was] of this.seen) if (!seen.has(key)) gone.push(was);
      const moved = pairRedeployed(appeared, gone, this.recentGone);
      const at = Date.now();
      for (const g of gone) if (g.ident) this.recentGone.set(g.ident, { ...g, at });
      for (const [k, g] of this.recentGone) if (at - g.at > 300000) this.recentGone.delete(k);
      groupLines(gone, 'disappeared', 'warn', out);
      redeployLines(moved, out);
      groupLines(appeared, 'appeared', 'ok', out);
    }
    this.seen = seen;
    this.nodeSeen = nodeSeen;
    return out;
  }

  nodeChanges(now, out) {
    for (const [id, n] of now) {
      const was = this.nodeSeen.get(id);
      const role = n.role === 'jobmanager' ? 'JobManager' : 'TaskManager';
      if (!was) out.push({ level: 'ok', node: id, text: `${role} node ${id} joined` });
      else if (was.status !== n.status) {
        const bad = n.status !== 'ok';
        out.push({ level: bad ? 'bad' : 'ok', node: id, text: bad ? `${role} node ${id} ${n.status.replace('_', ' ')}${n.error ? ': ' + n.error : ''}` : `${role} node ${id} answers again` });
      }
    }
    for (const [id, was] of this.nodeSeen) {
      if (!now.has(id)) out.push({ level: 'bad', node: id, text: `${was.role === 'jobmanager' ? 'JobManager' : 'TaskManager'} node ${id} is gone (no longer registered)` });
    }
  }
}

function failureText(f) {
  if (!f) return '';
  if (typeof f === 'string') return f;
  if (Array.isArray(f)) return String(f[1] ?? '');
  return f.cause || f.message || f.what || f.error || JSON.stringify(f);
}

/**
 * Subtasks that disappeared and came back elsewhere (the same job, vertex and index, another
 * path or attempt): taken out of `appeared` and `gone`, returned as [was, now] pairs.
 */
function pairRedeployed(appeared, gone, recentGone) {
  const goneBy = new Map();
  for (const g of gone) if (g.ident) goneBy.set(g.ident, g);
  const pairs = [];
  for (let i = appeared.length - 1; i >= 0; i--) {
    const ident = appeared[i].ident;
    if (!ident) continue;
    const was = goneBy.get(ident) || recentGone.get(ident);
    if (!was) continue;
    pairs.push([was, appeared[i]]);
    goneBy.delete(ident);
    recentGone.delete(ident);
    appeared.splice(i, 1);
    const j = gone.indexOf(was);
    if (j >= 0) gone.splice(j, 1);
  }
  return pairs.reverse();
}

function redeployLines(pairs, out) {
  if (!pairs.length) return;
  const where = (s) => s.path.split('/').slice(1, 3).join('/');
  if (pairs.length <= 4) {
    for (const [was, now] of pairs) out.push({ level: 'warn', path: now.path, text: `Subtask ${now.name} redeployed: ${where(was)} → ${where(now)} (attempt ${String(was.attempt).slice(0, 8)} → ${String(now.attempt).slice(0, 8)})` });
    return;
  }
  const jobs = [...new Set(pairs.map(([, n]) => n.job))].join(', ');
  const nodes = [...new Set(pairs.map(([, n]) => n.node))];
  out.push({ level: 'warn', text: `${pairs.length} subtasks of ${jobs} redeployed (new attempts)${nodes.length <= 3 ? ' on ' + nodes.join(', ') : ''}` });
}

/** One line per actor, or one per kind when many came or went at once. */
function groupLines(list, verb, level, out) {
  if (!list.length) return;
  if (list.length <= 4) {
    for (const s of list) out.push({ level, path: verb === 'appeared' ? s.path : null, text: `${s.kind} ${s.name} ${verb}${s.node ? ' on ' + s.node : ''}` });
    return;
  }
  const byKind = new Map();
  for (const s of list) byKind.set(s.kind, (byKind.get(s.kind) || 0) + 1);
  const nodes = [...new Set(list.map((s) => s.node))];
  const what = [...byKind].map(([k, n]) => `${n} ${k}`).join(', ');
  out.push({ level, text: `${list.length} actors ${verb} (${what})${nodes.length <= 3 ? ' on ' + nodes.join(', ') : ''}` });
}

export { failureText };
