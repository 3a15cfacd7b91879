// Small DOM helpers: build elements without innerHTML (no markup from data ever reaches the DOM).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'style') Object.assign(el.style, value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

const SVG = 'http://www.w3.org/2000/svg';
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  for (const child of children) el.append(child);
  return el;
}

export function badge(state) {
  return h('span', { class: `badge state-${state}`, dataset: { state } }, state);
}

// A progress bar: succeeded in green, failed (or cancelled) in red, of `total`.
export function progress(done, total, failed = 0) {
  const pct = total ? Math.round((100 * done) / total) : 0;
  const bar = h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': 0,
    'aria-valuemax': 100, 'aria-valuenow': pct, title: `${done} of ${total} done` },
  h('div', { class: 'fill', style: { width: `${total ? (100 * (done - failed)) / total : 0}%` } }),
  failed ? h('div', { class: 'fill failed', style: { width: `${total ? (100 * failed) / total : 0}%` } }) : null);
  return h('div', { class: 'progress-row' }, bar, h('span', { class: 'progress-text' }, `${done}/${total}`));
}

export function ms(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '—';
  const value = seconds * 1000;
  return value < 10 ? `${value.toFixed(2)} ms` : value < 1000 ? `${value.toFixed(1)} ms` : `${(value / 1000).toFixed(2)} s`;
}

export function when(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  return date.toLocaleString(undefined, { hour12: false });
}

// Run `fn` now and every `interval` ms after each run ends, until the returned stop() is called.
export function poll(fn, interval) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    try { await fn(); } catch (err) { console.warn(err); }
    if (!stopped) timer = setTimeout(tick, interval);
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

export function section(title, ...children) {
  return h('section', { class: 'card' }, h('h2', {}, title), ...children);
}

// The banner under the navigation: the last error of a background refresh (null hides it).
export function showError(err) {
  const banner = document.querySelector('.banner');
  if (!err) {
    banner.hidden = true;
    return;
  }
  banner.textContent = err.code ? `${err.message} (${err.code})` : String(err.message || err);
  banner.hidden = false;
}
