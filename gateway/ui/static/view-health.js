// The gateway's health: liveness, readiness, /system/info, and each service's state.
import { get, routeExists } from './api.js';
import { badge, h, poll, replace } from './dom.js';

async function check(path) {
  try {
    return { ok: true, body: await get(path) };
  } catch (err) {
    return { ok: false, error: err };
  }
}

function card(title, result, describe) {
  return h('div', { class: `card health ${result.ok ? 'good' : 'bad'}`, dataset: { check: title } },
    h('h2', {}, title, ' ', badge(result.ok ? 'ok' : 'failing')),
    result.ok ? describe(result.body) : h('p', {}, `${result.error.status || ''} ${result.error.message}`));
}

function pairs(object) {
  return h('dl', {}, Object.entries(object).map(([k, v]) => [h('dt', {}, k),
    h('dd', {}, typeof v === 'object' ? JSON.stringify(v) : String(v))]));
}

export async function healthView(main) {
  const grid = h('div', { class: 'health-grid' });
  replace(main, h('h1', {}, 'Health'), grid);
  const oscar = await routeExists('GET', '/system/status');
  return poll(async () => {
    const [live, ready, info, services, status] = await Promise.all([
      check('/v2/health/live'), check('/v2/health/ready'), check('/system/info'),
      check('/system/services'), oscar ? check('/system/status') : Promise.resolve(null)]);
    replace(grid,
      card('Live', live, () => h('p', {}, 'The gateway process answers.')),
      card('Ready', ready, () => h('p', {}, 'Every declared service is ready.')),
      card('Gateway', info, pairs),
      card('Services', services, (list) => h('ul', { class: 'plain' }, list.map((s) => h('li', {},
        h('a', { href: `#/services/${encodeURIComponent(s.name)}` }, s.name), ' ', badge(s.state),
        s.detail ? h('span', { class: 'muted' }, ` ${s.detail}`) : null)))),
      status ? card('Cluster status', status, pairs) : null);
  }, 3000);
}
