// A job's page (#/jobs/<id>[/<tab>]): its header (name, id, status, start, duration, restarts)
// with the Cancel, Savepoint and Stop-with-drain actions, and four tabs:
//   overview     the job graph with its figures and a vertex's subtasks (./job-graph.js).
//   checkpoints  ./checkpoints.js `checkpointsTab(el, ctx, jobId)`.
//   exceptions   ./exceptions.js `exceptionsTab(el, ctx, jobId)`.
//   config       the job's and its checkpointing's configuration as key/value tables.
// Data: GET /jobs/<id> (the header), GET /jobs/<id>/config and /jobs/<id>/checkpoints/config.
// Actions: PATCH /jobs/<id>?mode=cancel, POST /jobs/<id>/savepoints, POST /jobs/<id>/stop,
// then GET /jobs/<id>/savepoints/<request-id> until the savepoint completes.

import { get, post, patch } from '../lib/api.js';
import { h, fill, duration, time, num, confirmDialog, notice } from '../lib/dom.js';
import { TERMINAL } from './jobs.js';
import { graphTab } from './job-graph.js';

const POLL_MS = 2000;


const TABS = [
  ['overview', 'Overview', ''],
  ['checkpoints', 'Checkpoints', '/checkpoints'],
  ['exceptions', 'Exceptions', '/exceptions'],
  ['config', 'Configuration', '/config'],
];

export async function jobPage(el, ctx) {
  const [jobId, tabParam] = ctx.params;
  const tab = tabParam || 'overview';
  const base = `#/jobs/${jobId}`;
  const head = jobHeader(jobId, ctx);
  const tabs = h('nav.tabs#job-tabs', TABS.map(([key, label, suffix]) =>
    h(key === tab ? 'a.active' : 'a', { id: `tab-${key}`, href: base + suffix }, label)));
  const tabEl = h('div#job-tab');
  fill(el, head.el, tabs, tabEl);

  let onJob = null;
  if (tab === 'overview') onJob = graphTab(tabEl, ctx, jobId);
  else if (tab === 'config') configTab(tabEl, jobId);
  else if (tab === 'checkpoints' || tab === 'exceptions') externalTab(tabEl, ctx, jobId, tab);
  else fill(tabEl, notice('bad', `This job has no tab "${tab}".`));

  ctx.scope.poll(POLL_MS, async () => {
    let job;
    try {
      job = await get(`/jobs/${jobId}`);
    } catch (e) {
      head.error(e);
      if (e.status === 404) { tabs.hidden = true; tabEl.hidden = true; }
      return;
    }
    tabs.hidden = false;
    tabEl.hidden = false;
    head.update(job);
    if (onJob) await onJob(job);
  });
}

// ---------------------------------------------------------------------------------------------
// Header and actions

/** The header: title, status, figures, the action buttons and their outcome. */
function jobHeader(jobId, ctx) {
  const name = h('span#job-name', jobId);
  const status = h('span.badge#job-status', '…');
  const meta = h('dl.job-meta#job-meta');
  const failure = h('div#job-failure');
  const outcome = h('div#job-action-outcome');
  const loadError = h('div#job-error');
  const state = { job: null, busy: false, cancelPending: false };
  const say = (kind, ...text) => fill(outcome, notice(kind, text));

  const cancel = h('button.danger#job-cancel', { type: 'button', title: 'Cancel the job (PATCH /jobs/<id>?mode=cancel)' }, 'Cancel');
  const savepoint = h('button#job-savepoint', { type: 'button', title: 'Take a savepoint and keep the job running' }, 'Savepoint');
  const stop = h('button#job-stop', { type: 'button', title: 'Drain the job (every event-time window fires), take a savepoint and stop' }, 'Stop with drain');
  const buttons = [cancel, savepoint, stop];

  const setButtons = () => {
    const s = state.job ? state.job.state : null;
    const ended = !s || TERMINAL.has(s);
    cancel.disabled = state.busy || ended || s === 'CANCELLING' || s === 'CANCELING';
    savepoint.disabled = state.busy || ended || s !== 'RUNNING';
    stop.disabled = state.busy || ended || s !== 'RUNNING';
  };
  setButtons();
  const act = async (fn) => {
    state.busy = true;
    setButtons();
    try { await fn(); } finally { state.busy = false; setButtons(); }
  };

  cancel.addEventListener('click', () => act(async () => {
    const label = state.job ? state.job.name : jobId;
    if (!await confirmDialog('Cancel job', `Cancel "${label}"? Its tasks stop now, without a savepoint.`, { ok: 'Cancel job', danger: true })) return;
    try {
      await patch(`/jobs/${jobId}?mode=cancel`);
      state.cancelPending = true;
      say('info', 'Cancel requested: waiting for the job’s tasks to stop…');
    } catch (e) {
      say('bad', `Not cancelled: ${e.message}`);
    }
  }));

  savepoint.addEventListener('click', () => act(async () => {
    const answer = await confirmDialog('Trigger a savepoint', 'Take a savepoint of the job; it keeps running.', {
      ok: 'Take savepoint',
      fields: [{ name: 'dir', label: 'Target directory', placeholder: 'the cluster’s default', hint: 'Leave empty for the cluster’s checkpoint directory.' }],
    });
    if (!answer) return;
    const dir = answer.dir.trim();
    await runSavepoint(ctx, say, 'Savepoint', () =>
      post(`/jobs/${jobId}/savepoints`, dir ? { 'target-directory': dir } : {}), jobId);
  }));

  stop.addEventListener('click', () => act(async () => {
    const answer = await confirmDialog('Stop with drain', 'Drain the job (the maximum watermark fires every event-time window), take a final savepoint and stop it.', {
      ok: 'Stop job', danger: true,
      fields: [{ name: 'dir', label: 'Savepoint directory', placeholder: 'the cluster’s default', hint: 'Restore later with `rill run --savepoint DIR`.' }],
    });
    if (!answer) return;
    const dir = answer.dir.trim();
    const body = { drain: true };
    if (dir) body.targetDirectory = dir;
    await runSavepoint(ctx, say, 'Stop with savepoint', () => post(`/jobs/${jobId}/stop`, body), jobId);
  }));

  const el = h('section.job-head',
    h('div.job-title',
      h('h1', name, ' ', status),
      h('div.job-actions', buttons)),
    meta, loadError, failure, outcome);

  return {
    el,
    error(e) {
      fill(loadError, notice('bad', e.status === 404 ? `There is no job ${jobId}.` : `The job cannot be read: ${e.message}`));
    },
    update(job) {
      fill(loadError);
      state.job = job;
      fill(name, job.name || jobId);
      status.className = 'badge ' + String(job.state).replace(/[^\w-]/g, '_');
      status.textContent = job.state;
      fillMeta(meta, job);
      fill(failure, job.failure ? notice('bad', ['Failure: ', h('span.mono', job.failure)]) : null);
      if (state.cancelPending && TERMINAL.has(job.state)) {
        state.cancelPending = false;
        if (job.state === 'CANCELED') say('ok', 'Job CANCELED.');
        else say('info', `The job ended as ${job.state}.`);
      }
      setButtons();
    },
  };
}

function fillMeta(meta, job) {
  const item = (k, v, id) => h('div', h('dt', k), h('dd', id ? { id } : null, v));
  const ended = job['end-time'] > 0;
  fill(meta,
    item('Job ID', h('span.mono', job.jid), 'job-id'),
    item('Started', time(job['start-time']), 'job-start'),
    ended ? item('Ended', time(job['end-time']), 'job-end') : null,
    item('Duration', duration(job.duration), 'job-duration'),
    item('Restarts', num(job['num-restarts']), 'job-restarts'),
    item('Type', job['job-type'] || '–'));
}

/** Triggers a savepoint (`trigger` posts it) and follows it until it completes or fails. */
async function runSavepoint(ctx, say, what, trigger, jobId) {
  let requestId;
  try {
    requestId = (await trigger())['request-id'];
  } catch (e) {
    say('bad', `${what} refused: ${e.message}`);
    return;
  }
  say('info', `${what} triggered (request ${requestId}): IN_PROGRESS…`);
  for (let tries = 0; ctx.scope.alive && tries < 1800; tries++) {
    await sleep(tries < 5 ? 500 : 1000);
    let st;
    try {
      st = await get(`/jobs/${jobId}/savepoints/${requestId}`);
    } catch (e) {
      say('bad', `${what} (request ${requestId}): its status cannot be read: ${e.message}`);
      return;
    }
    if (!st.status || st.status.id !== 'COMPLETED') continue;
    const op = st.operation || {};
    if (op.location) {
      say('ok', `${what} COMPLETED: `, h('span.mono#job-savepoint-path', op.location));
    } else {
      const cause = op['failure-cause'] ? op['failure-cause']['stack-trace'] : 'no location given';
      say('bad', `${what} failed: `, h('span.mono', cause));
    }
    return;
  }
}

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// ---------------------------------------------------------------------------------------------
// Configuration, checkpoints and exceptions tabs

/** The job's configuration and its checkpointing's, as key/value tables. */
async function configTab(el, jobId) {
  fill(el, h('p.muted', 'Loading the configuration…'));
  const [cfg, cp] = await Promise.allSettled([get(`/jobs/${jobId}/config`), get(`/jobs/${jobId}/checkpoints/config`)]);
  const section = (title, id, result, pick) => [
    h('h2', title),
    result.status === 'fulfilled'
      ? kvTable(id, flatten(pick(result.value)))
      : result.reason && result.reason.status === 404
        ? notice('info', result.reason.message.replace(/^Not found: /, ''))
        : notice('bad', `Not available: ${result.reason && result.reason.message}`),
  ];
  fill(el,
    section('Job configuration', 'job-config', cfg, (c) => ({ jid: c.jid, name: c.name, ...(c['execution-config'] || {}) })),
    section('Checkpointing', 'checkpoint-config', cp, (c) => c));
}

/** `{a: {b: 1}}` → [['a.b', 1]]; an empty object stays a row ("none"). */
function flatten(obj, prefix = '', out = []) {
  for (const [k, v] of Object.entries(obj || {})) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      if (Object.keys(v).length) flatten(v, key, out); else out.push([key, '(none)']);
    } else out.push([key, v]);
  }
  return out;
}

const MS_KEYS = /(^|[._-])(interval|timeout|min_pause|aligned_checkpoint_timeout)$/;

function kvTable(id, pairs) {
  const show = (k, v) => {
    if (v === null || v === undefined) return '–';
    if (typeof v === 'number' && MS_KEYS.test(k)) return v ? `${num(v)} ms (${duration(v)})` : '0';
    if (Array.isArray(v)) return v.join(', ');
    return String(v);
  };
  return h('table.grid.kv-table', { id },
    h('thead', h('tr', h('th', 'Key'), h('th', 'Value'))),
    h('tbody', pairs.map(([k, v]) => h('tr', { dataset: { key: k } }, h('td.mono', k), h('td.mono', show(k, v))))));
}

/** The checkpoints and exceptions tabs: modules of their own, loaded when first opened. */
async function externalTab(el, ctx, jobId, tab) {
  fill(el, h('p.muted', 'Loading…'));
  try {
    if (tab === 'checkpoints') await (await import('./checkpoints.js')).checkpointsTab(el, ctx, jobId);
    else await (await import('./exceptions.js')).exceptionsTab(el, ctx, jobId);
  } catch (e) {
    console.error(e);
    fill(el, notice('bad', `The ${tab} tab failed: ${e.message}`));
  }
}
