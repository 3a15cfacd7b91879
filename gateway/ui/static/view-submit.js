// Submit a job: a service and several files, POST /job/{service} as multipart; then follow it.
import { enc, get, post } from './api.js';
import { h, replace } from './dom.js';

export async function submitView(main, preselected) {
  const services = await get('/system/services');
  const select = h('select', { name: 'service', required: true },
    services.map((s) => h('option', { value: s.name, selected: s.name === preselected }, s.name)));
  const input = h('input', { type: 'file', multiple: true, name: 'file', class: 'visually-hidden', id: 'job-files' });
  const chosen = h('ul', { class: 'chosen' });
  let files = [];
  const show = () => replace(chosen, files.map((f) => h('li', {}, f.name, h('span', { class: 'muted' }, ` ${(f.size / 1024).toFixed(1)} KiB`))));
  const zone = h('div', { class: 'dropzone', tabindex: 0 },
    h('strong', {}, 'Drop files here'), ' or ', h('label', { for: input.id, class: 'link' }, 'choose files'), input);
  input.addEventListener('change', () => {
    files = [...input.files];
    show();
  });
  zone.addEventListener('dragover', (event) => {
    event.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (event) => {
    event.preventDefault();
    zone.classList.remove('over');
    files = [...event.dataTransfer.files];
    show();
  });
  const error = h('p', { class: 'bad', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Submit');
  const form = h('form', { class: 'card submit' },
    h('label', {}, 'Service', select), zone, chosen, error, submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.hidden = true;
    if (!files.length) {
      error.textContent = 'Choose one or more files first.';
      error.hidden = false;
      return;
    }
    const body = new FormData();
    files.forEach((f) => body.append('file', f, f.name));
    submit.disabled = true;
    try {
      const answer = await post(`/job/${enc(select.value)}`, { body });
      location.hash = `#/jobs/${enc(answer.job_id)}`;
    } catch (err) {
      error.textContent = `${err.status} ${err.code}: ${err.message}`;
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  replace(main, h('h1', {}, 'Submit a job'),
    h('p', { class: 'muted' }, 'Each file becomes one item of the job; results land in the service\'s output storage.'),
    form);
  return null;
}
