// Services: each service's backend, state and reason, replicas, URL, and its traffic as the
// gateway's own /metrics tell it (requests/s, p50/p99, errors, a latency chart).
import { get } from './api.js';
import { badge, h, ms, poll, replace, showError } from './dom.js';
import { chart, sampler } from './metrics.js';

export function stateCell(service) {
  return h('td', { class: 'state' }, badge(service.state),
    service.detail ? h('div', { class: 'reason muted' }, service.detail) : null);
}

export function trafficCells(name) {
  const s = sampler.summary(name);
  const codes = Object.entries(s.codes).map(([code, n]) => `${code}: ${n}`).join(', ') || 'no answers yet';
  const scope = s.windowed ? 'last 10 s' : 'since the gateway started';
  return [
    h('td', { class: 'num rate' }, s.rate === null ? '—' : s.rate.toFixed(1)),
    h('td', { class: 'num p50', title: scope }, ms(s.p50)),
    h('td', { class: 'num p99', title: scope }, ms(s.p99)),
    h('td', { class: `num errors${s.errors ? ' bad' : ''}`, title: codes }, String(s.errors)),
    h('td', { class: 'chart-cell' }, chart(sampler.history(name))),
  ];
}

export function servicesView(main) {
  const body = h('tbody');
  const table = h('table', { class: 'services' },
    h('thead', {}, h('tr', {},
      ['Service', 'Backend', 'State', 'Replicas', 'URL', 'Req/s', 'p50', 'p99', 'Errors', 'Latency']
        .map((title) => h('th', {}, title)))),
    body);
  const empty = h('p', { class: 'muted', hidden: true }, 'No service yet: apply a definition with `gateway apply FILE`.');
  replace(main, h('h1', {}, 'Services'), table, empty,
    h('p', { class: 'muted small' }, 'Requests/s and latency over the last 10 s (since start when idle), from the gateway\'s /metrics; errors: answers 4xx or 5xx since start.'));
  let services = [];
  const render = () => {
    table.dataset.samples = sampler.samples.length;
    empty.hidden = services.length > 0;
    replace(body, services.map((service) => h('tr', { dataset: { service: service.name } },
      h('td', {}, h('a', { href: `#/services/${encodeURIComponent(service.name)}` }, service.name)),
      h('td', {}, service.backend),
      stateCell(service),
      h('td', { class: 'num' }, String(service.replicas)),
      h('td', { class: 'url' }, service.url || '—'),
      ...trafficCells(service.name))));
  };
  const stopPoll = poll(async () => {
    try {
      services = await get('/system/services');
      showError(null);
    } catch (err) {
      showError(err);
    }
    render();
  }, 2000);
  const unsubscribe = sampler.subscribe(render);
  return () => {
    stopPoll();
    unsubscribe();
  };
}
