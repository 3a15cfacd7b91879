// The dashboard's shell: who is logged in, the navigation, and which view the URL's hash shows.
import { del, get, onUnauthorized } from './api.js';
import { replace, showError } from './dom.js';
import { healthView } from './view-health.js';
import { jobView, jobsView } from './view-jobs.js';
import { loginView } from './view-login.js';
import { serviceView } from './view-service.js';
import { servicesView } from './view-services.js';
import { submitView } from './view-submit.js';

const main = document.getElementById('main');
const header = document.querySelector('header.top');
const logout = document.querySelector('.logout');

const ROUTES = [
  [/^#\/services\/([^/]+)$/, 'services', (m) => serviceView(main, decodeURIComponent(m[1]))],
  [/^#\/services$/, 'services', () => servicesView(main)],
  [/^#\/jobs\/([^/]+)$/, 'jobs', (m) => jobView(main, decodeURIComponent(m[1]))],
  [/^#\/jobs$/, 'jobs', () => jobsView(main)],
  [/^#\/submit(?:\/([^/]+))?$/, 'submit', (m) => submitView(main, m[1] ? decodeURIComponent(m[1]) : null)],
  [/^#\/health$/, 'health', () => healthView(main)],
];

let session = { auth_required: false, authenticated: false };
let stop = null;


async function route() {
  if (stop) stop();
  stop = null;
  showError(null);
  if (session.auth_required && !session.authenticated) {
    header.hidden = true;
    stop = loginView(main, async () => {
      session = await get('/ui/session');
      location.hash = location.hash && location.hash !== '#/login' ? location.hash : '#/services';
      route();
    });
    return;
  }
  header.hidden = false;
  logout.hidden = !session.auth_required;
  const hash = location.hash || '#/services';
  for (const [pattern, nav, view] of ROUTES) {
    const match = pattern.exec(hash);
    if (!match) continue;
    document.querySelectorAll('[data-nav]').forEach((a) => a.classList.toggle('active', a.dataset.nav === nav));
    replace(main);
    try {
      stop = (await view(match)) || null;
    } catch (err) {
      showError(err);
    }
    return;
  }
  location.hash = '#/services';
}

onUnauthorized(() => {
  if (session.auth_required && session.authenticated) {
    session = { ...session, authenticated: false };
    route();
  }
});

logout.addEventListener('click', async () => {
  await del('/ui/session').catch(() => null);
  session = { auth_required: true, authenticated: false };
  location.hash = '#/services';
  route();
});

window.addEventListener('hashchange', route);

(async () => {
  try {
    session = await get('/ui/session');
  } catch (err) {
    showError(err);
    return;
  }
  route();
})();
