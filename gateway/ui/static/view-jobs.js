// Jobs: the list with progress bars while they run, and one job's items with their results,
// errors, logs and the download of their output files.
import { enc, get } from './api.js';
import { badge, h, poll, progress, replace, section, showError, when } from './dom.js';

const FINISHED = new Set(['succeeded', 'failed', 'cancelled']);

function tally(counts) {
  const total = Object.values(counts || {}).reduce((a, b) => a + b, 0);
  const failed = (counts.failed || 0) + (counts.cancelled || 0);
  const done = (counts.succeeded || 0) + failed;
  return { total, done, failed };
}

export function jobsView(main) {
  const body = h('tbody');
  const filter = h('select', { name: 'service' }, h('option', { value: '' }, 'all services'));
  const empty = h('p', { class: 'muted', hidden: true }, 'No job yet.');
  replace(main,
    h('div', { class: 'row spread' }, h('h1', {}, 'Jobs'),
      h('div', { class: 'row' }, filter, h('a', { class: 'button primary', href: '#/submit' }, 'Submit a job'))),
    h('table', { class: 'jobs' },
      h('thead', {}, h('tr', {}, ['Job', 'Service', 'Status', 'Progress', 'Source', 'Created', 'Updated'].map((t) => h('th', {}, t)))),
      body),
    empty);
  get('/system/services').then((services) => {
    for (const s of services) filter.append(h('option', { value: s.name }, s.name));
  }).catch(() => null);
  const refresh = async () => {
    const query = filter.value ? `?limit=100&service=${enc(filter.value)}` : '?limit=100';
    try {
      const { jobs } = await get(`/jobs${query}`);
      showError(null);
      empty.hidden = jobs.length > 0;
      replace(body, jobs.map((job) => {
        const t = tally(job.counts);
        return h('tr', { dataset: { job: job.job_id, status: job.status } },
          h('td', {}, h('a', { href: `#/jobs/${enc(job.job_id)}`, class: 'mono' }, job.job_id)),
          h('td', {}, job.service), h('td', {}, badge(job.status)),
          h('td', {}, progress(t.done, t.total, t.failed)), h('td', {}, job.source),
          h('td', {}, when(job.created)), h('td', {}, when(job.updated)));
      }));
    } catch (err) {
      showError(err);
    }
  };
  filter.addEventListener('change', refresh);
  return poll(refresh, 2000);
}

export async function jobView(main, id) {
  const head = h('div', { class: 'job-head' });
  const body = h('tbody');
  const note = h('p', { class: 'muted small' });
  replace(main, h('h1', {}, h('a', { href: '#/jobs', class: 'crumb' }, 'Jobs'), ' / ', h('span', { class: 'mono' }, id)),
    head,
    section('Items', h('table', { class: 'items' },
      h('thead', {}, h('tr', {}, ['#', 'Input', 'Status', 'Attempts', 'Result', 'Outputs', 'Error'].map((t) => h('th', { class: t === 'Result' ? 'result' : null }, t)))),
      body)), note);
  let stop = null;
  const refresh = async () => {
    // while it runs, the cheap form (no answers); once it has finished, the whole job, once
    let job = await get(`/jobs/${enc(id)}?results=false`);
    if (FINISHED.has(job.status)) job = await get(`/jobs/${enc(id)}`);
    const t = tally(job.counts);
    replace(head, h('div', { class: 'row' }, h('span', { class: 'job-status' }, badge(job.status)),
      h('span', {}, `service `, h('a', { href: `#/services/${enc(job.service)}` }, job.service)),
      h('span', { class: 'muted' }, `from ${job.source}, created ${when(job.created)}, updated ${when(job.updated)}`)),
    progress(t.done, t.total, t.failed));
    const items = job.items || [];
    const downloadable = items.some((item) => item.files);
    note.textContent = downloadable || !items.some((item) => item.outputs.length)
      ? ''
      : 'This gateway has no route to download outputs: they are listed by their keys in its storage.';
    const withResults = items.some((item) => resultOf(item) !== '');
    main.querySelector('table.items').classList.toggle('no-results', !withResults);
    replace(body, items.map((item) => h('tr', { dataset: { item: item.index, status: item.status } },
      h('td', { class: 'num' }, String(item.index)),
      h('td', { class: 'mono' }, item.key),
      h('td', {}, badge(item.status)),
      h('td', { class: 'num' }, String(item.attempts)),
      h('td', { class: 'result' }, resultOf(item)),
      h('td', { class: 'outputs' }, item.files
        ? item.files.map((f) => h('div', {}, h('a', { href: f.url, download: '', title: f.key }, f.name),
          f.size === null || f.size === undefined ? null : h('span', { class: 'muted' }, ` ${size(f.size)}`)))
        : (item.outputs || []).map((key) => h('div', { class: 'mono' }, key))),
      h('td', { class: 'error' }, item.error ? `${item.error.code || 'error'}: ${item.error.message || ''}` : '',
        item.log ? h('details', {}, h('summary', {}, 'log'), h('pre', {}, item.log)) : null))));
    if (FINISHED.has(job.status) && stop) stop();
  };
  stop = poll(async () => {
    try {
      await refresh();
      showError(null);
    } catch (err) {
      showError(err);
    }
  }, 1000);
  return () => stop();
}

// The item's answer, as the gateway carries it inline: its top prediction, or a short text; when
// it is too large to be inline, a link to its file.
function resultOf(item) {
  if (item.result_omitted) {
    const why = item.result_omitted.reason === 'too_large' ? 'too large to show' : 'not JSON';
    return item.result_omitted.url ? h('a', { href: item.result_omitted.url, download: '' }, why) : why;
  }
  const answer = item.result;
  if (answer === undefined || answer === null) return '';
  const top = answer.predictions && answer.predictions[0];
  if (top) {
    return h('span', { class: 'top', title: answer.predictions.slice(0, 5).map((p) => `${p.label} ${(100 * p.score).toFixed(1)} %`).join('\n') },
      `${top.label} (${(100 * top.score).toFixed(1)} %)`);
  }
  const text = typeof answer === 'string' ? answer : JSON.stringify(answer);
  return h('span', { class: 'mono small', title: text }, text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

function size(bytes) {
  return bytes < 1024 ? `${bytes} B` : bytes < 1048576 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1048576).toFixed(1)} MiB`;
}
