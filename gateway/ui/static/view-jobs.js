// Jobs: the list with progress bars while they run, and one job's items with their results,
// errors, logs and (where this gateway has a route for it) the download of their outputs.
import { enc, get, outputsRoute } from './api.js';
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

function outputUrl(route, job, item, key) {
  let first = true;
  return route.replace(/\{([^}]+)\}/g, (_, param) => {
    if (first) {
      first = false;
      return enc(job.job_id);
    }
    if (/index|item/.test(param)) return String(item.index);
    return key.split('/').map(enc).join('/');
  });
}

export async function jobView(main, id) {
  const head = h('div', { class: 'job-head' });
  const body = h('tbody');
  const note = h('p', { class: 'muted small' });
  const downloads = h('div', { class: 'row' });
  replace(main, h('h1', {}, h('a', { href: '#/jobs', class: 'crumb' }, 'Jobs'), ' / ', h('span', { class: 'mono' }, id)),
    head, downloads,
    section('Items', h('table', { class: 'items' },
      h('thead', {}, h('tr', {}, ['#', 'Input', 'Status', 'Attempts', 'Result', 'Outputs', 'Error'].map((t) => h('th', { class: t === 'Result' ? 'result' : null }, t)))),
      body)), note);
  const route = await outputsRoute();
  const perOutput = route && (route.match(/\{/g) || []).length > 1;
  note.textContent = route
    ? ''
    : 'This gateway has no route to download outputs: they are listed by their keys in its storage.';
  let stop = null;
  const refresh = async () => {
    const job = await get(`/jobs/${enc(id)}`);
    const t = tally(job.counts);
    replace(head, h('div', { class: 'row' }, h('span', { class: 'job-status' }, badge(job.status)),
      h('span', {}, `service `, h('a', { href: `#/services/${enc(job.service)}` }, job.service)),
      h('span', { class: 'muted' }, `from ${job.source}, created ${when(job.created)}, updated ${when(job.updated)}`)),
    progress(t.done, t.total, t.failed));
    if (route && !perOutput) {
      replace(downloads, h('a', { class: 'button', href: outputUrl(route, job, {}, ''), download: '' }, 'Download the outputs'));
    }
    const withResults = (job.items || []).some((item) => resultOf(item) !== '');
    main.querySelector('table.items').classList.toggle('no-results', !withResults);
    replace(body, (job.items || []).map((item) => h('tr', { dataset: { item: item.index, status: item.status } },
      h('td', { class: 'num' }, String(item.index)),
      h('td', { class: 'mono' }, item.key),
      h('td', {}, badge(item.status)),
      h('td', { class: 'num' }, String(item.attempts)),
      h('td', { class: 'result' }, resultOf(item)),
      h('td', { class: 'outputs' }, (item.outputs || []).map((key) => h('div', {},
        route && perOutput ? h('a', { href: outputUrl(route, job, item, key), download: '' }, key) : h('span', { class: 'mono' }, key)))),
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

// The item's answer, where the gateway carries it inline (its top prediction, or a short text).
function resultOf(item) {
  const answer = item.result ?? item.answer ?? item.response;
  if (answer === undefined || answer === null) return '';
  const top = answer.predictions && answer.predictions[0];
  if (top) return h('span', { title: JSON.stringify(answer.predictions.slice(0, 5)) }, `${top.label} (${(100 * top.score).toFixed(1)} %)`);
  const text = typeof answer === 'string' ? answer : JSON.stringify(answer);
  return h('span', { class: 'mono small', title: text }, text.length > 80 ? `${text.slice(0, 80)}…` : text);
}
