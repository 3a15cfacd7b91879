// The gateway's own Prometheus metrics, read from GET /metrics: requests/s, p50/p99, errors and a
// latency history per service, computed in the page from successive samples.
import { get } from './api.js';
import { svg } from './dom.js';

const INTERVAL_MS = 2000;
const WINDOW_S = 10;
const KEEP = 60;

export function parse(text) {
  const series = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const labels = {};
    for (const pair of (match[2] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]] = pair[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    }
    if (!series.has(match[1])) series.set(match[1], []);
    series.get(match[1]).push({ labels, value: parseFloat(match[3]) });
  }
  return series;
}

// Per service: answers by code, and the latency histogram (summed over backends).
export function byService(series) {
  const services = {};
  const of = (name) => {
    if (!services[name]) services[name] = { requests: 0, errors: 0, codes: {}, buckets: {}, count: 0 };
    return services[name];
  };
  for (const { labels, value } of series.get('gateway_requests_total') || []) {
    const s = of(labels.service);
    s.requests += value;
    s.codes[labels.code] = (s.codes[labels.code] || 0) + value;
    if (Number(labels.code) >= 400) s.errors += value;
  }
  for (const { labels, value } of series.get('gateway_request_duration_seconds_bucket') || []) {
    const s = of(labels.service);
    s.buckets[labels.le] = (s.buckets[labels.le] || 0) + value;
  }
  for (const { labels, value } of series.get('gateway_request_duration_seconds_count') || []) {
    of(labels.service).count += value;
  }
  return services;
}

// histogram_quantile, as Prometheus computes it, over cumulative buckets {le: count}.
export function quantile(q, buckets) {
  const rows = Object.entries(buckets)
    .map(([le, n]) => [le === '+Inf' ? Infinity : Number(le), n])
    .sort((a, b) => a[0] - b[0]);
  if (!rows.length) return null;
  const total = rows[rows.length - 1][1];
  if (!(total > 0)) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of rows) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(count - prevCount, 1e-12);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

function minus(a, b) {
  const out = {};
  for (const [le, n] of Object.entries(a)) out[le] = n - ((b && b[le]) || 0);
  return out;
}

class Sampler {
  constructor() {
    this.samples = [];
    this.listeners = new Set();
    this.timer = null;
  }

  subscribe(fn) {
    this.listeners.add(fn);
    if (!this.timer) this.tick();
    else if (this.samples.length) fn(this);
    return () => {
      this.listeners.delete(fn);
      if (!this.listeners.size) {
        clearTimeout(this.timer);
        this.timer = null;
      }
    };
  }

  async tick() {
    this.timer = setTimeout(() => this.tick(), INTERVAL_MS);
    try {
      const text = await get('/metrics', { as: 'text' });
      this.samples.push({ t: performance.now() / 1000, services: byService(parse(text)) });
      if (this.samples.length > KEEP) this.samples.shift();
      this.listeners.forEach((fn) => fn(this));
    } catch (err) {
      console.warn('metrics', err);
    }
  }

  // requests/s, p50, p99 over the last WINDOW_S seconds (all time when idle), errors since start.
  summary(name) {
    const last = this.samples[this.samples.length - 1];
    const now = last && last.services[name];
    if (!now) return { rate: null, p50: null, p99: null, errors: 0, requests: 0, codes: {}, windowed: false };
    const past = [...this.samples].reverse().find((s) => last.t - s.t >= WINDOW_S) || this.samples[0];
    const then = past.services[name];
    const dt = last.t - past.t;
    const windowed = dt > 0 && now.count - ((then && then.count) || 0) > 0;
    const buckets = windowed ? minus(now.buckets, then && then.buckets) : now.buckets;
    return {
      rate: dt > 0 ? (now.requests - ((then && then.requests) || 0)) / dt : null,
      p50: quantile(0.5, buckets),
      p99: quantile(0.99, buckets),
      errors: now.errors,
      requests: now.requests,
      codes: now.codes,
      windowed,
    };
  }

  // p50 and p99 between successive samples (null where nothing was answered).
  history(name) {
    const points = [];
    for (let i = 1; i < this.samples.length; i += 1) {
      const a = this.samples[i - 1].services[name];
      const b = this.samples[i].services[name];
      if (!b || b.count - ((a && a.count) || 0) <= 0) {
        points.push([null, null]);
        continue;
      }
      const d = minus(b.buckets, a && a.buckets);
      points.push([quantile(0.5, d), quantile(0.99, d)]);
    }
    return points;
  }
}

export const sampler = new Sampler();

// A small SVG line chart of p50 (dark) and p99 (light) over the kept samples.
export function chart(points, { width = 140, height = 30 } = {}) {
  const values = points.flat().filter((v) => v !== null);
  const max = Math.max(...values, 1e-6);
  const step = width / Math.max(KEEP - 1, 1);
  const x0 = width - 3 - step * (points.length - 1);
  const lines = [];
  for (const [index, cls] of [[1, 'p99'], [0, 'p50']]) {
    let run = [];
    const flush = () => {
      if (run.length === 1) lines.push(svg('circle', { class: cls, cx: run[0][0], cy: run[0][1], r: 2 }));
      else if (run.length) lines.push(svg('polyline', { class: cls, points: run.map((p) => p.join(',')).join(' ') }));
      run = [];
    };
    points.forEach((p, i) => {
      if (p[index] === null) {
        flush();
        return;
      }
      const y = height - 2 - ((height - 4) * p[index]) / max;
      run.push([(x0 + i * step).toFixed(1), y.toFixed(1)]);
    });
    flush();
  }
  const title = svg('title');
  title.textContent = values.length
    ? `latency p50 (dark) and p99 (light) every 2 s; top = ${(max * 1000).toFixed(1)} ms`
    : 'no requests yet';
  return svg('svg', { class: 'chart', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img' },
    title, svg('line', { x1: 0, y1: height - 1, x2: width, y2: height - 1, class: 'axis' }), ...lines);
}
