// What this file may say, in the page's language (a JSON blob the page renders; see web/admin_strings.py).
const MESSAGES = JSON.parse(document.getElementById('admin-messages').textContent);
const LANG = document.documentElement.lang || 'en';
const say = (key, values = {}) => MESSAGES[key].replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ''));

// Actions and CSV downloads: every call carries a fresh session token (App Bridge, or the sandbox stand-in)
// and the page's language (Accept-Language), so refusals come back in it.
async function api(method, path, body) {
  const token = await window.shopify.idToken();
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Accept-Language': LANG },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    const err = new Error(say('network'));
    err.fields = []; err.problems = [];
    throw err;
  }
  const text = await res.text();
  let data = {};
  try { data = text ? JSON.parse(text) : {}; } catch (e) { data = { raw: text }; }
  if (!res.ok) {
    const err = new Error(data.error || say('error', { status: res.status }));
    err.fields = Array.isArray(data.fields) ? data.fields : [];  // 400: [{field, message}] from the API's schemas
    err.problems = Array.isArray(data.problems) ? data.problems : [];  // 400 from the alert-channel checks
    throw err;
  }
  return data;
}

// What the merchant reads for a refused request: each failing field by its label, and why.
function refusal(err, form) {
  for (const el of form ? form.querySelectorAll('[aria-invalid]') : []) el.removeAttribute('aria-invalid');
  const reasons = err.fields.map(({ field, message }) => {
    const input = form && form.querySelector(`[name="${CSS.escape(field.split(/[.[]/)[0])}"]`);
    if (input) input.setAttribute('aria-invalid', 'true');
    const label = input && input.closest('label') ? input.closest('label').firstChild.textContent.trim() : field;
    return `${label}: ${message}`;
  });
  const all = reasons.concat(err.problems);
  return all.length ? all.join('; ') : err.message;
}

function toast(message, isError) {
  const el = document.getElementById('toast');
  el.textContent = message;
  el.className = `toast show${isError ? ' error' : ''}`;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.className = 'toast'; }, isError ? 10000 : 4000);  // time to read what to fix
}

// <form data-no-submit>: fields read by a data-action button, never submitted themselves
// (a listener, not an inline onsubmit: the CSP allows no inline script).
document.addEventListener('submit', (event) => {
  if (event.target.matches('form[data-no-submit]')) event.preventDefault();
});

// <button data-action="POST /api/..." data-body='{"k":1}' data-confirm="..." data-done="...">
document.addEventListener('click', async (event) => {
  const button = event.target.closest('[data-action]');
  if (!button) return;
  event.preventDefault();
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
  const [method, path] = button.dataset.action.split(' ');
  let body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
  const formId = button.dataset.form;
  if (formId) body = formBody(document.getElementById(formId));
  if (button.dataset.wrap) body = { [button.dataset.wrap]: body };  // data-wrap="steps": the form is one field of the body
  button.disabled = true;
  try {
    await api(method, path, body);
    toast(button.dataset.done || say('done'));
    setTimeout(() => window.location.reload(), 600);
  } catch (err) {
    toast(refusal(err, formId ? document.getElementById(formId) : null), true);
    button.disabled = false;
  }
});

// Form fields to JSON: data-type="number|list|bool|json" says how to read a field.
function formBody(form) {
  const out = {};
  for (const el of form.querySelectorAll('[name]')) {
    const type = el.dataset.type;
    let value = el.type === 'checkbox' ? el.checked : el.value;
    if (type === 'number') value = value === '' ? null : Number(value);
    else if (type === 'list') value = value.split(',').map((s) => s.trim()).filter(Boolean);
    else if (type === 'json') value = value.trim() ? JSON.parse(value) : {};
    if (el.dataset.optional !== undefined && (value === '' || value === null)) continue;
    out[el.name] = value;
  }
  return out;
}

// <a data-csv="/api/export/orders.csv">: fetched with the token, saved as a file.
document.addEventListener('click', async (event) => {
  const link = event.target.closest('[data-csv]');
  if (!link) return;
  event.preventDefault();
  try {
    const token = await window.shopify.idToken();
    const res = await fetch(link.dataset.csv, { headers: { Authorization: `Bearer ${token}`, 'Accept-Language': LANG } });
    if (!res.ok) throw new Error(say('download', { status: res.status }));
    const blob = await res.blob();
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = link.dataset.csv.split('/').pop().split('?')[0];
    document.body.append(a);
    a.click();
    a.remove();
  } catch (err) {
    toast(err.message, true);
  }
});
