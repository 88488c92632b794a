// The overview (#/): the cluster in figures (TaskManagers, slots, jobs by state, version), the
// running and recent jobs, and the form that submits a bundled job.

import { get, post, ApiError } from '../lib/api.js';
import { h, fill, card, table, badge, duration, time, num, notice } from '../lib/dom.js';

export async function overviewPage(el, ctx) {
  const cards = h('div.cards#overview-cards');
  const jobs = h('div#overview-jobs');
  const form = h('div.panel#submit');
  fill(el,
    h('h1', 'Cluster overview'),
    cards,
    h('h2', 'Jobs'), jobs,
    h('h2', 'Submit a job'), form);
  submitForm(form, ctx);
  ctx.scope.poll(2000, async () => {
    const [o, list] = await Promise.all([get('/overview'), get('/jobs/overview')]);
    fill(cards,
      card('TaskManagers', h('a', { href: '#/taskmanagers' }, num(o.taskmanagers))),
      card('Slots total', num(o['slots-total'])),
      card('Slots free', num(o['slots-available'])),
      card('Running jobs', h('a', { href: '#/jobs' }, num(o['jobs-running']))),
      card('Finished', num(o['jobs-finished'])),
      card('Canceled', num(o['jobs-cancelled'])),
      card('Failed', num(o['jobs-failed'])),
      card('Version', h('span.mono', o['rill-version'] || '–'), h('div', h('a', { href: '#/actors' }, 'actor topology →'))));
    const rows = list.jobs.slice(0, 20);
    fill(jobs, table([
      { title: 'Name', cell: (j) => h('a', { href: `#/jobs/${j.jid}` }, j.name) },
      { title: 'Status', cell: (j) => badge(j.state) },
      { title: 'Started', cell: (j) => time(j['start-time']) },
      { title: 'Duration', num: true, cell: (j) => duration(j.duration) },
      { title: 'Tasks', num: true, cell: (j) => `${j.tasks ? j.tasks.running : 0} / ${j.tasks ? j.tasks.total : 0}` },
    ], rows, { key: (j) => j.jid, empty: 'No jobs yet: submit one below.', onRow: (j) => ctx.navigate(`#/jobs/${j.jid}`) }),
    list.jobs.length > rows.length ? h('p', h('a', { href: '#/jobs' }, `All ${list.jobs.length} jobs →`)) : null);
  });
}

/** The submit form: a bundled job, its arguments, parallelism, checkpointing, a savepoint. */
async function submitForm(el, ctx) {
  let bundled;
  try {
    bundled = (await get('/bundled-jobs')).jobs;
  } catch (e) {
    fill(el, notice('bad', `The bundled jobs cannot be listed: ${e.message}`));
    return;
  }
  const select = h('select#submit-job', { name: 'job' }, bundled.map((j) => h('option', { value: j.name }, j.name)));
  const about = h('div.hint#submit-about');
  const args = h('input#submit-args', { name: 'args', placeholder: '--records 1000000', autocomplete: 'off' });
  const parallelism = h('input#submit-parallelism', { name: 'parallelism', type: 'number', min: '1', placeholder: 'cluster default' });
  const interval = h('input#submit-checkpoint-interval', { name: 'checkpoint', type: 'number', min: '1', placeholder: 'off' });
  const savepoint = h('input#submit-savepoint', { name: 'savepoint', placeholder: '/path/to/savepoint-…' });
  const outcome = h('div#submit-outcome');
  const button = h('button.primary#submit-button', { type: 'submit' }, 'Submit');
  const describe = () => {
    const j = bundled.find((b) => b.name === select.value);
    fill(about, j ? [j.description, h('br'), h('span.mono', `${j.name} ${j.usage}`)] : '');
  };
  select.addEventListener('change', describe);
  describe();
  const form = h('form.stack', {
    onsubmit: async (e) => {
      e.preventDefault();
      const body = { job: select.value, args: splitArgs(args.value) };
      if (parallelism.value) body.parallelism = Number(parallelism.value);
      if (interval.value) body.checkpoint_interval_ms = Number(interval.value);
      if (savepoint.value.trim()) body.savepoint_path = savepoint.value.trim();
      button.disabled = true;
      fill(outcome, notice('info', 'Submitting…'));
      try {
        const r = await post('/jobs', body);
        fill(outcome, notice('ok', ['Submitted: ', h('a#submit-job-link', { href: `#/jobs/${r.jobid}` }, r.jobid)]));
      } catch (err) {
        const what = err instanceof ApiError ? err.messages.join('; ') : String(err);
        fill(outcome, notice('bad', `Not submitted: ${what}`));
      } finally {
        button.disabled = false;
      }
    },
  },
  h('label', { for: 'submit-job' }, 'Job'), select, about,
  h('label', { for: 'submit-args' }, 'Arguments'), args,
  h('label', { for: 'submit-parallelism' }, 'Parallelism'), parallelism,
  h('label', { for: 'submit-checkpoint-interval' }, 'Checkpoint interval (ms)'), interval,
  h('label', { for: 'submit-savepoint' }, 'Restore from savepoint or checkpoint'), savepoint,
  h('div', { style: { marginTop: '12px' } }, button), outcome);
  fill(el, form);
}

/** Splits an argument line as a shell would for simple cases: spaces, with '…' and "…" quoting. */
export function splitArgs(line) {
  const out = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  let m;
  while ((m = re.exec(line))) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}
