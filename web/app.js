// The dashboard's entry: a hash router. Each view has its own URL (`#/jobs/<id>/checkpoints`),
// so it can be linked and bookmarked; moving between views swaps the <main> content and stops
// the old view's polls and streams (never a full page reload).
//
// A view is `export function name(el, ctx)`: it fills `el` and registers whatever keeps it
// live on `ctx.scope` (see lib/api.js). `ctx.params` are the route's captures, `ctx.query` the
// hash's query (`#/jobs/<id>?vertex=<vid>` → URLSearchParams), `ctx.setQuery({k: v})` rewrites
// the query in the address bar without remounting, `ctx.navigate(hash)` goes elsewhere.

import { Scope, onConnection } from './lib/api.js';
import { h, fill } from './lib/dom.js';

const routes = [
  [/^\/?$/, 'overview', './views/overview.js', 'overviewPage'],
  [/^\/jobs\/?$/, 'jobs', './views/jobs.js', 'jobListPage'],
  [/^\/jobs\/([0-9a-fA-F]{1,32})(?:\/([a-z]+))?\/?$/, 'jobs', './views/job.js', 'jobPage'],
  [/^\/taskmanagers\/?$/, 'taskmanagers', './views/taskmanagers.js', 'taskManagerListPage'],
  [/^\/taskmanagers\/([^/]+)\/?$/, 'taskmanagers', './views/taskmanagers.js', 'taskManagerPage'],
  [/^\/jobmanager(?:\/([a-z]+))?\/?$/, 'jobmanager', './views/jobmanager.js', 'jobManagerPage'],
  [/^\/actors\/?$/, 'actors', './views/actors.js', 'actorsPage'],
];

let scope = null;
let mounted = 0;

function parseHash() {
  const raw = decodeURIComponent(location.hash.replace(/^#/, '')) || '/';
  const [path, q = ''] = raw.split('?');
  return { path, query: new URLSearchParams(q) };
}

function setQuery(values) {
  const { path, query } = parseHash();
  for (const [k, v] of Object.entries(values)) {
    if (v === null || v === undefined || v === '') query.delete(k); else query.set(k, v);
  }
  const q = query.toString();
  history.replaceState(null, '', '#' + path + (q ? '?' + q : ''));
}

async function route() {
  const { path, query } = parseHash();
  const view = document.getElementById('view');
  if (scope) scope.dispose();
  scope = new Scope();
  const mine = ++mounted;
  const hit = routes.find(([re]) => re.test(path));
  for (const a of document.querySelectorAll('#nav a')) {
    a.classList.toggle('active', !!hit && a.dataset.nav === hit[1]);
  }
  if (!hit) {
    fill(view, h('h1', 'Not found'), h('p', 'No view at ', h('code', path), '. ', h('a', { href: '#/' }, 'Overview')));
    return;
  }
  const [re, , module, name] = hit;
  const params = re.exec(path).slice(1).map((p) => (p === undefined ? null : p));
  try {
    const mod = await import(module);
    if (mine !== mounted) return;
    fill(view);
    await mod[name](view, { params, query, scope, setQuery, navigate: (hash) => { location.hash = hash; } });
  } catch (e) {
    if (mine !== mounted) return;
    console.error(e);
    fill(view, h('h1', 'This view failed'), h('p.error', String(e && e.message ? e.message : e)));
  }
}

onConnection((ok) => {
  const el = document.getElementById('conn');
  if (!el) return;
  el.textContent = ok ? '● connected' : '● JobManager not answering';
  el.classList.toggle('down', !ok);
});

window.addEventListener('hashchange', route);
route();
