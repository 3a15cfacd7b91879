// One service: state and traffic, "try it" (drop images, see the top-k and the time it took), its
// definition as editable YAML, its logs (live tail) and its token.
import { ApiError, enc, get, post, put } from './api.js';
import { append, badge, h, poll, replace, section, showError } from './dom.js';
import { sampler } from './metrics.js';
import { stateCell, trafficCells } from './view-services.js';
import { explain, toYaml } from './yaml.js';

export async function serviceView(main, name) {
  const service = await get(`/system/services/${enc(name)}`);
  const head = h('tbody');
  const renderHead = (s) => replace(head, h('tr', { dataset: { service: s.name } },
    h('td', {}, s.backend), stateCell(s), h('td', { class: 'num' }, String(s.replicas)),
    h('td', { class: 'url' }, s.url || '—'), ...trafficCells(s.name)));
  let current = service;
  renderHead(current);
  const summary = h('table', { class: 'services' },
    h('thead', {}, h('tr', {}, ['Backend', 'State', 'Replicas', 'URL', 'Req/s', 'p50', 'p99', 'Errors', 'Latency']
      .map((t) => h('th', {}, t)))), head);
  const logs = logsPanel(name);
  replace(main,
    h('h1', {}, h('a', { href: '#/services', class: 'crumb' }, 'Services'), ' / ', name, ' ', badge(service.visibility)),
    summary,
    h('div', { class: 'grid' },
      tryIt(name),
      h('div', {}, definitionEditor(name, service.definition), tokenPanel(name, service.visibility))),
    logs.element);
  const stopPoll = poll(async () => {
    try {
      current = await get(`/system/services/${enc(name)}`);
      renderHead(current);
    } catch (err) {
      showError(err);
    }
  }, 2000);
  const unsubscribe = sampler.subscribe(() => renderHead(current));
  return () => {
    stopPoll();
    unsubscribe();
    logs.stop();
  };
}

function tryIt(name) {
  const results = h('div', { class: 'try-results' });
  const topK = h('select', { name: 'top_k' }, [1, 3, 5, 10].map((k) => h('option', { value: k, selected: k === 5 }, `top ${k}`)));
  const input = h('input', { type: 'file', accept: 'image/*', multiple: true, class: 'visually-hidden', id: `pick-${name}` });
  const zone = h('div', { class: 'dropzone', tabindex: 0 },
    h('strong', {}, 'Drop images here'), ' or ', h('label', { for: input.id, class: 'link' }, 'choose files'), input);
  const run = async (files) => {
    if (!files.length) return;
    zone.classList.add('busy');
    const urls = files.map((f) => URL.createObjectURL(f));
    let options;
    if (files.length === 1) {
      options = { body: files[0], headers: { 'Content-Type': files[0].type || 'application/octet-stream' } };
    } else {
      const form = new FormData();
      files.forEach((f) => form.append('file', f, f.name));
      options = { body: form };
    }
    const started = performance.now();
    try {
      const answer = await post(`/predict/${enc(name)}?top_k=${topK.value}`, options);
      const took = performance.now() - started;
      const items = answer.results || [{ filename: files[0].name, predictions: answer.predictions }];
      replace(results,
        h('p', { class: 'took' }, `${answer.model || name}: ${files.length} image${files.length > 1 ? 's' : ''} in `,
          h('strong', { class: 'took-ms' }, `${took.toFixed(0)} ms`), ' (round trip through the gateway)'),
        items.map((item, i) => h('div', { class: 'try-result' },
          h('img', { src: urls[i], alt: item.filename || files[i].name, class: 'thumb' }),
          h('div', { class: 'predictions' }, h('div', { class: 'filename' }, item.filename || files[i].name),
            item.error ? h('p', { class: 'bad' }, `${item.error.code || 'error'}: ${item.error.message || item.error}`)
              : (item.predictions || []).map(predictionRow)))));
    } catch (err) {
      replace(results, h('p', { class: 'bad try-error' }, err instanceof ApiError ? `${err.status} ${err.code}: ${err.message}` : String(err)));
    } finally {
      zone.classList.remove('busy');
    }
  };
  input.addEventListener('change', () => run([...input.files]));
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    run([...event.dataTransfer.files]);
  });
  return section('Try it', h('div', { class: 'row' }, zone, topK), results);
}

function predictionRow(p) {
  const pct = Math.max(0, Math.min(1, Number(p.score) || 0)) * 100;
  return h('div', { class: 'prediction' },
    h('span', { class: 'label', title: `class ${p.class_id}` }, p.label),
    h('div', { class: 'bar' }, h('div', { class: 'fill', style: { width: `${pct.toFixed(1)}%` } })),
    h('span', { class: 'score num' }, `${pct.toFixed(1)} %`));
}

function definitionEditor(name, definition) {
  const original = toYaml(definition);
  const text = h('textarea', { class: 'yaml', spellcheck: 'false', wrap: 'off', 'aria-label': `definition of ${name}` });
  text.value = original;
  const box = h('div', { class: 'editor' });
  box.style.height = `${Math.min(Math.max(original.split('\n').length + 1, 10), 28) * 18 + 18}px`;
  const backdrop = h('pre', { class: 'backdrop', 'aria-hidden': 'true' });
  const list = h('ul', { class: 'definition-errors' });
  const status = h('p', { class: 'definition-status', role: 'status' });
  const paint = (fields = []) => {
    const lines = text.value.split('\n');
    const byLine = new Map();
    for (const f of fields) byLine.set(f.line, [...(byLine.get(f.line) || []), f]);
    replace(backdrop, lines.map((line, i) => {
      const errors = byLine.get(i);
      if (!errors) return `${line}\n`;
      return [h('mark', {}, line || ' '), errors.map((e) => h('span', {
        class: 'field-error', dataset: { field: e.field, line: i + 1 },
      }, `   ◀ ${e.field}: ${e.message}`)), '\n'];
    }));
    backdrop.scrollTop = text.scrollTop;
    backdrop.scrollLeft = text.scrollLeft;
  };
  text.addEventListener('input', () => {
    paint();
    status.textContent = text.value === original ? '' : 'edited, not applied';
  });
  text.addEventListener('scroll', () => {
    backdrop.scrollTop = text.scrollTop;
    backdrop.scrollLeft = text.scrollLeft;
  });
  const apply = h('button', { type: 'button', class: 'primary' }, 'Apply');
  const reset = h('button', { type: 'button' }, 'Reset');
  apply.addEventListener('click', async () => {
    const renamed = /^name:\s*(\S+)\s*$/m.exec(text.value);
    if (renamed && renamed[1].replace(/^["']|["']$/g, '') !== name
      && !window.confirm(`The name is now ${renamed[1]}: this creates another service and leaves ${name} as it is.`)) return;
    apply.disabled = true;
    replace(list);
    status.textContent = 'applying…';
    status.className = 'definition-status';
    try {
      await put('/system/services', { body: text.value, headers: { 'Content-Type': 'application/yaml' } });
      paint();
      status.textContent = 'applied';
    } catch (err) {
      const { fields, general } = explain(err.message, text.value);
      paint(fields);
      status.textContent = `not applied: ${err.status} ${err.code}`;
      status.className = 'definition-status bad';
      replace(list, fields.map((f) => h('li', { dataset: { field: f.field } }, `line ${f.line + 1} · ${f.field}: ${f.message}`)),
        general.map((m) => h('li', {}, m)));
    } finally {
      apply.disabled = false;
    }
  });
  reset.addEventListener('click', () => {
    text.value = original;
    replace(list);
    status.textContent = '';
    paint();
  });
  paint();
  return section('Definition',
    append(box, [backdrop, text]),
    h('div', { class: 'row' }, apply, reset, status), list);
}

function tokenPanel(name, visibility) {
  const out = h('div', { class: 'token-out' });
  const rotate = h('button', { type: 'button', class: 'danger' }, 'Rotate token');
  rotate.addEventListener('click', async () => {
    if (!window.confirm(`Make a new token for ${name}? The current token stops working at once.`)) return;
    try {
      const answer = await post(`/system/services/${enc(name)}/token`);
      const code = h('code', { class: 'token' }, answer.token);
      const copy = h('button', { type: 'button' }, 'Copy');
      copy.addEventListener('click', () => navigator.clipboard?.writeText(answer.token));
      replace(out, h('p', {}, 'The new token, shown once (send it as ', h('code', {}, 'Authorization: Bearer …'), '):'),
        h('div', { class: 'row' }, code, copy));
    } catch (err) {
      replace(out, h('p', { class: 'bad' }, err.message));
    }
  });
  const note = visibility === 'public'
    ? 'This service is public: its routes need no token.'
    : 'Private: /predict, /v2 and /job need this service\'s token (or the admin\'s).';
  return section('Token', h('p', { class: 'muted' }, note), rotate, out);
}

function logsPanel(name) {
  const pre = h('pre', { class: 'logs' });
  const follow = h('input', { type: 'checkbox', checked: true });
  let last = '';
  const stop = poll(async () => {
    let lines;
    try {
      ({ lines } = await get(`/system/services/${enc(name)}/logs?lines=200`));
    } catch (err) {
      lines = [`(no logs: ${err.message})`];
    }
    const text = lines.join('\n');
    if (text === last) return;
    last = text;
    pre.textContent = text || '(nothing logged yet)';
    if (follow.checked) pre.scrollTop = pre.scrollHeight;
  }, 2000);
  const element = section('Logs', h('label', { class: 'muted small' }, follow, ' follow (live, every 2 s)'), pre);
  return { element, stop };
}
