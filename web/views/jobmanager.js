// The JobManager (#/jobmanager, #/jobmanager/<tab>), in three tabs: its configuration (the
// cluster settings as key/value pairs), its recent log lines, and its metrics with a short trend.
// Data: GET /jobmanager/config, /jobmanager/logs and /jobmanager/logs/<name> (text),
// /jobmanager/metrics[?get=…].

import { get } from '../lib/api.js';
import { h, fill, notice } from '../lib/dom.js';
import { metricsPanel, logPanel } from './taskmanagers.js';

const TABS = [['config', 'Configuration'], ['logs', 'Logs'], ['metrics', 'Metrics']];

export async function jobManagerPage(el, ctx) {
  const tab = TABS.some(([t]) => t === ctx.params[0]) ? ctx.params[0] : 'config';
  const body = h('div#jobmanager-' + tab + '-tab');
  fill(el,
    h('h1', 'JobManager'),
    h('nav.tabs#jobmanager-tabs', TABS.map(([t, label]) => h('a' + (t === tab ? '.active' : ''),
      { href: `#/jobmanager/${t}`, dataset: { tab: t } }, label))),
    body);
  if (tab === 'config') {
    await configTab(body);
  } else if (tab === 'logs') {
    const panel = h('div.log-panel');
    fill(body, panel);
    await logPanel(panel, '/jobmanager/logs', 'jobmanager-log', ctx);
  } else {
    metricsPanel(body, '/jobmanager/metrics', ctx, 'jobmanager-metrics');
  }
}

/** The settings, filterable; read once (they do not change while the JobManager runs). */
async function configTab(el) {
  let list;
  try {
    list = await get('/jobmanager/config');
  } catch (e) {
    fill(el, notice('bad', `The configuration cannot be read: ${e.message}`));
    return;
  }
  const rows = (Array.isArray(list) ? list : []).slice().sort((a, b) => a.key.localeCompare(b.key));
  const body = h('tbody');
  const filter = h('input#jobmanager-config-filter', { type: 'search', placeholder: 'Filter keys or values', autocomplete: 'off' });
  const count = h('span.muted.small');
  const show = () => {
    const q = filter.value.trim().toLowerCase();
    const hit = rows.filter((r) => !q || r.key.toLowerCase().includes(q) || String(r.value).toLowerCase().includes(q));
    fill(body, hit.length ? hit.map((r) => h('tr', { dataset: { key: r.key } }, h('td.mono', r.key), h('td.mono', String(r.value))))
      : h('tr', h('td.muted', { colSpan: 2 }, 'No setting matches.')));
    fill(count, `${hit.length} of ${rows.length} settings`);
  };
  filter.addEventListener('input', show);
  fill(el, h('div.toolbar', filter, count),
    h('table.grid.jm-config#jobmanager-config', h('thead', h('tr', h('th', 'Key'), h('th', 'Value'))), body));
  show();
}
