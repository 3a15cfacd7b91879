// The public API as the dashboard calls it: same-origin fetch (the session cookie rides along),
// the X-Gateway-UI header that lets the gateway bridge a cookie on a write, JSON errors.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const unauthorized = new Set();
export function onUnauthorized(fn) { unauthorized.add(fn); }

export async function request(method, path, { body, headers = {}, as = 'json' } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method, body, credentials: 'same-origin', cache: 'no-store',
      headers: { 'X-Gateway-UI': '1', ...headers },
    });
  } catch (err) {
    throw new ApiError(0, 'network', `the gateway cannot be reached (${err.message})`);
  }
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401) unauthorized.forEach((fn) => fn(error));
    throw error;
  }
  if (response.status === 204) return null;
  if (as === 'json') return response.json();
  if (as === 'text') return response.text();
  return response;
}

async function errorOf(response) {
  let code = `http_${response.status}`;
  let message = response.statusText || `HTTP ${response.status}`;
  try {
    const body = await response.json();
    if (typeof body.error === 'string') message = body.error;
    else if (body.error) {
      code = body.error.code || code;
      message = body.error.message || message;
    }
  } catch { /* not JSON */ }
  return new ApiError(response.status, code, message);
}

export const get = (path, options) => request('GET', path, options);
export const post = (path, options) => request('POST', path, options);
export const put = (path, options) => request('PUT', path, options);
export const del = (path, options) => request('DELETE', path, options);

export function json(data) {
  return { body: JSON.stringify(data), headers: { 'Content-Type': 'application/json' } };
}

export const enc = encodeURIComponent;

// The OpenAPI document, fetched once: which optional routes this gateway serves.
let documentPromise = null;
export function openapi() {
  if (!documentPromise) documentPromise = get('/openapi.json').catch(() => ({ paths: {} }));
  return documentPromise;
}

export async function routeExists(method, path) {
  const operations = (await openapi()).paths?.[path];
  return Boolean(operations && operations[method.toLowerCase()]);
}
