// The supplier pages: add a supplier (a form per kind), save and test its connection, terms,
// mappings, fulfillment model, deactivate and delete. Calls go through api() from admin.js;
// a refusal's fields are shown next to their inputs (and summed up in the toast).

// Field names are dotted paths into the body: "settings.headers.channel" -> {settings: {headers: {channel}}}.
function setPath(target, dotted, value) {
  const parts = dotted.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) node = node[part] = node[part] || {};
  node[parts[parts.length - 1]] = value;
}

// Inputs inside a disabled fieldset (another kind's form) are left out.
function collect(root) {
  const out = {};
  for (const el of root.querySelectorAll('[name]')) {
    if (el.matches(':disabled') || (el.type === 'radio' && !el.checked)) continue;
    const type = el.dataset.type;
    let value = el.type === 'checkbox' ? el.checked : el.value.trim();
    if (type === 'number') value = value === '' ? null : Number(value);
    else if (type === 'list') value = value.split(',').map((s) => s.trim()).filter(Boolean);
    const empty = value === '' || value === null || (Array.isArray(value) && value.length === 0);
    if (empty && el.dataset.keepWhenEmpty !== undefined) continue; // a credential left empty keeps the saved one
    if (empty && (el.dataset.omitEmpty !== undefined || root.dataset.creating !== undefined)) continue; // a new supplier: only what was typed
    if (empty) value = null; // a merge patch: null removes the key
    setPath(out, el.name, value);
  }
  return out;
}

// Where a refused field's message goes: the API names "settings"/"credentials" and the adapters name
// the key in the message ("settings.base_url must be ..."), so the message says which input it is.
function fieldOf(field, message) {
  const named = /^((?:settings|credentials)\.[A-Za-z_][\w.]*?)(?:\[\d+\])?(?=\s|:|$)/.exec(message || '');
  if ((field === 'settings' || field === 'credentials') && named) return named[1];
  const lacking = /^credentials lack ([\w]+)/.exec(message || '');
  if (lacking) return `credentials.${lacking[1]}`;
  return field.replace(/^mappings\[\d+\]\./, '').replace(/^mappings\.\d+\./, '').replace(/\[\d+\]$/, '');
}

// The first match outside the other kinds' (disabled) forms: several kinds name a field alike.
function visible(root, selector) {
  return Array.from(root.querySelectorAll(selector)).find((el) => !el.closest('fieldset[disabled]')) || null;
}

function clearErrors(root) {
  for (const el of root.querySelectorAll('[data-error-for]')) el.textContent = '';
  for (const el of root.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

function showErrors(root, err) {
  clearErrors(root);
  let placed = 0;
  for (const { field, message } of err.fields) {
    const name = fieldOf(field, message);
    const slot = visible(root, `[data-error-for="${CSS.escape(name)}"]`);
    const input = visible(root, `[name="${CSS.escape(name)}"]`);
    if (input) input.setAttribute('aria-invalid', 'true');
    // "credentials lack api_key (used by ...)": the merchant only needs to know the field is required.
    const required = /^credentials lack /.test(message || '') && root.dataset.requiredMessage;
    if (slot) { slot.textContent = required || message; placed += 1; }
  }
  if (placed) {
    const first = root.querySelector('[aria-invalid="true"]');
    if (first) first.focus();
  }
  toast(refusal(err, null), true);
}

function detailUrl(form, id) {
  return form.dataset.detailUrl.replace(/\/suppliers\/1(?=[?#]|$)/, `/suppliers/${id}`);
}

// Add supplier: the chosen kind's fieldset is the only one enabled.
document.addEventListener('change', (event) => {
  const choice = event.target.closest('[data-kind-choice]');
  if (!choice) return;
  for (const card of document.querySelectorAll('[data-kind-form]')) {
    const chosen = card.dataset.kindForm === choice.value;
    card.hidden = !chosen;
    card.querySelector('fieldset').disabled = !chosen;
  }
});

document.addEventListener('click', async (event) => {
  const button = event.target.closest('[data-sup-create]');
  if (!button) return;
  event.preventDefault();
  const form = document.getElementById('new-supplier');
  const fieldset = form.querySelector('fieldset:not([disabled])');
  form.dataset.creating = '';
  const body = collect(form);
  body.kind = fieldset.dataset.kind;
  body.settings = Object.assign(JSON.parse(fieldset.dataset.fixedSettings || '{}'), body.settings || {});
  if (body.priority === undefined || body.priority === null) delete body.priority;
  button.disabled = true;
  try {
    const created = await api('POST', '/api/suppliers', body);
    if (created.registration && !created.registration.ok) toast(created.registration.error, true);
    else toast(button.dataset.done || form.dataset.done || '✓');
    window.location.href = detailUrl(form, created.supplier.id);
  } catch (err) {
    showErrors(form, err);
    button.disabled = false;
  }
});

// <button data-sup-submit="METHOD /api/..." data-form="id" | data-body='{...}' data-confirm data-done data-then>
document.addEventListener('click', async (event) => {
  const button = event.target.closest('[data-sup-submit]');
  if (!button) return;
  event.preventDefault();
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
  const [method, path] = button.dataset.supSubmit.split(' ');
  const form = button.dataset.form ? document.getElementById(button.dataset.form) : null;
  let body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
  if (form) {
    body = collect(form);
    if (form.dataset.wrap) body = { [form.dataset.wrap]: [body] };
  }
  button.disabled = true;
  try {
    await api(method, path, body);
    if (form) clearErrors(form);
    toast(button.dataset.done || '✓');
    const next = button.dataset.then;
    setTimeout(() => { if (next) window.location.href = next; else window.location.reload(); }, 600);
  } catch (err) {
    if (form) showErrors(form, err);
    else toast(refusal(err, null), true);
    button.disabled = false;
  }
});

// Test connection: with what the form holds when it differs from what is saved, else the saved supplier.
document.addEventListener('click', async (event) => {
  const button = event.target.closest('[data-sup-test]');
  if (!button) return;
  event.preventDefault();
  const out = document.getElementById('test-result');
  const form = document.getElementById('connection-form');
  const typed = form ? collect(form) : {};
  const unsaved = typed.credentials && Object.keys(typed.credentials).length ? { credentials: typed.credentials } : undefined;
  button.disabled = true;
  out.textContent = button.dataset.testing || '…';
  try {
    const { test } = await api('POST', button.dataset.supTest, unsaved);
    const line = document.createElement('p');
    const badge = document.createElement('span');
    badge.className = `badge ${test.ok ? 'ok' : 'failed'}`;
    badge.textContent = test.ok ? (out.dataset.okLabel || 'ok') : (out.dataset.failedLabel || 'failed');
    line.append(badge, ' ', test.ok ? `${test.checked || ''}` : `${test.error || ''} (${test.error_kind || ''})`, ` · ${test.duration_ms} ms`);
    line.dataset.testOk = String(test.ok);
    out.replaceChildren(line);
  } catch (err) {
    if (form) showErrors(form, err);
    out.textContent = err.message;
  } finally {
    button.disabled = false;
  }
});
