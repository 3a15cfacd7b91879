// Log in with the admin token, or a user name and password (HTTP Basic, where the gateway has it).
// The credentials go once to POST /ui/session; the page keeps nothing but the HttpOnly cookie.
import { json, post } from './api.js';
import { h, replace } from './dom.js';

export function loginView(main, done) {
  let mode = 'token';
  const error = h('p', { class: 'login-error', role: 'alert', hidden: true });
  const token = h('input', { type: 'password', name: 'token', autocomplete: 'current-password', placeholder: 'GATEWAY_ADMIN_TOKEN' });
  const username = h('input', { type: 'text', name: 'username', autocomplete: 'username', value: 'oscar' });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password' });
  const tokenFields = h('div', { class: 'fields' }, h('label', {}, 'Admin token', token));
  const basicFields = h('div', { class: 'fields', hidden: true },
    h('label', {}, 'User', username), h('label', {}, 'Password', password));
  const switcher = h('button', { type: 'button', class: 'link switch' }, 'Use a user name and password instead');
  switcher.addEventListener('click', () => {
    mode = mode === 'token' ? 'basic' : 'token';
    tokenFields.hidden = mode !== 'token';
    basicFields.hidden = mode === 'token';
    switcher.textContent = mode === 'token' ? 'Use a user name and password instead' : 'Use the admin token instead';
  });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Log in');
  const form = h('form', { class: 'login card' },
    h('h1', {}, 'inference-gateway'),
    h('p', { class: 'muted' }, 'Log in with the gateway\'s admin credentials.'),
    tokenFields, basicFields, error, submit, switcher);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.hidden = true;
    submit.disabled = true;
    const body = mode === 'token'
      ? { token: token.value }
      : { username: username.value, password: password.value };
    try {
      await post('/ui/session', json(body));
      token.value = '';
      password.value = '';
      await done();
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  replace(main, form);
  token.focus();
  return null;
}
