// Helpers for the pages' own actions (mappings, inventory, returns, settings): file uploads, messages,
// refusals shown next to their fields. Uses api(), refusal() and toast() from admin.js.

// A message from the page (translated server-side, in <div id="messages" data-...>) with {name} filled in.
function msg(name, values = {}) {
  const box = document.getElementById('messages');
  const template = (box && box.dataset[name]) || name;
  return template.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ''));
}

function refused(message) { return Object.assign(new Error(message), { fields: [], problems: [] }); }

const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

function fileType(file) {
  const name = file.name.toLowerCase();
  if (name.endsWith('.xlsx')) return XLSX_TYPE;
  if (name.endsWith('.json')) return 'application/json';
  return 'text/csv';
}

// POST a file as the request body with a fresh session token; errors carry `fields` like api()'s.
async function uploadFile(path, file) {
  const token = await window.shopify.idToken();
  const res = await fetch(path, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': fileType(file) }, body: file });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(data.error || `HTTP ${res.status}`);
    err.fields = Array.isArray(data.fields) ? data.fields : [];
    err.problems = [];
    throw err;
  }
  return data;
}

function chosenFile(inputId) {
  const file = document.getElementById(inputId).files[0];
  if (!file) throw refused(msg('chooseFile'));
  return file;
}

function cell(text) {
  const td = document.createElement('td');
  td.textContent = text === null || text === undefined || text === '' ? '–' : String(text);
  return td;
}

function fillRows(tbody, rows, columns) {
  tbody.replaceChildren(...rows.map((row) => {
    const tr = document.createElement('tr');
    tr.append(...columns.map((c) => cell(row[c])));
    return tr;
  }));
}

function reloadSoon() { setTimeout(() => window.location.reload(), 600); }

// Each refused field's message right after its input (data-field names nested fields: reason_windows.DEFECTIVE).
function showFieldErrors(err, form) {
  if (!form) return;
  for (const old of form.querySelectorAll('.field-error')) old.remove();
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
  for (const { field, message } of err.fields || []) {
    const input = form.querySelector(`[data-field="${CSS.escape(field)}"]`) || form.querySelector(`[name="${CSS.escape(field.split(/[.[]/)[0])}"]`);
    if (!input) continue;
    input.setAttribute('aria-invalid', 'true');
    const note = document.createElement('span');
    note.className = 'field-error';
    note.setAttribute('role', 'alert');
    note.textContent = message;
    input.insertAdjacentElement('afterend', note);
  }
}

// A button that runs `handler`; a refusal is toasted and shown next to its fields.
function on(id, handler) {
  const el = document.getElementById(id);
  if (!el) return;
  el.addEventListener('click', async (event) => {
    event.preventDefault();
    el.disabled = true;
    const form = el.closest('form');
    try {
      await handler(el);
      if (form) showFieldErrors({ fields: [] }, form);
    } catch (err) {
      toast(refusal(err, form), true);  // first: refusal() resets the form's marks
      showFieldErrors(err, form);
    } finally {
      el.disabled = false;
    }
  });
}

// --- Inventory: stock feed and tracking file uploads ---------------------------------------------

on('feed-upload', async () => {
  const supplier = document.getElementById('feed-supplier').value;
  const { feed } = await uploadFile(`/api/suppliers/${supplier}/stock-feed`, chosenFile('feed-file'));
  document.getElementById('feed-report').hidden = false;
  const summary = document.getElementById('feed-summary');
  summary.textContent = msg('feedDone', { total: feed.rows_total, refused: feed.rows_refused, changed: feed.skus_changed });
  summary.dataset.status = feed.status;
  fillRows(document.querySelector('#feed-refused tbody'), feed.errors || [], ['row', 'sku', 'error']);
  const held = document.getElementById('feed-held');
  held.hidden = feed.status !== 'needs_confirmation';
  held.dataset.feed = feed.id;
  document.getElementById('feed-held-message').textContent = feed.message || '';
  toast(summary.textContent);
});

for (const action of ['confirm', 'discard']) {
  on(`feed-${action}`, async () => {
    const id = document.getElementById('feed-held').dataset.feed;
    await api('POST', `/api/inventory/feeds/${id}/${action}`, {});
    toast(msg(action === 'confirm' ? 'feedConfirmed' : 'feedDiscarded'));
    reloadSoon();
  });
}

on('tracking-upload', async () => {
  const supplier = document.getElementById('tracking-supplier').value;
  const file = chosenFile('tracking-file');
  const { tracking_import: run } = await uploadFile(`/api/suppliers/${supplier}/tracking-imports?filename=${encodeURIComponent(file.name)}`, file);
  document.getElementById('tracking-report').hidden = false;
  const summary = document.getElementById('tracking-summary');
  summary.textContent = msg('trackingDone', run.counts);
  fillRows(document.querySelector('#tracking-rows tbody'), run.rows || [], ['row', 'outcome', 'po_number', 'tracking_number', 'message']);
  toast(summary.textContent);
});

// --- Returns: mark received ----------------------------------------------------------------------

document.addEventListener('click', async (event) => {
  const button = event.target.closest('[data-receive]');
  if (!button) return;
  event.preventDefault();
  const form = button.closest('form');
  const lines = [...form.querySelectorAll('[data-line]')].map((row) => {
    const received = Number(row.querySelector('[name=received]').value);
    const damaged = row.querySelector('[name=condition]').value === 'damaged' ? received : 0;
    return { line_id: Number(row.dataset.line), received, damaged };
  }).filter((line) => line.received > 0);
  button.disabled = true;
  try {
    if (!lines.length) throw refused(msg('nothingReceived'));
    await api('POST', `/api/returns/${button.dataset.receive}/receive`, { lines });
    toast(msg('received'));
    reloadSoon();
  } catch (err) {
    toast(refusal(err, form), true);
    showFieldErrors(err, form);
    button.disabled = false;
  }
});

// --- Settings: per-reason windows, KPI targets in % and hours, test alert ---------------------------

on('save-windows', async () => {
  const form = document.getElementById('reason-windows');
  const windows = {};
  for (const input of form.querySelectorAll('[data-reason]')) {
    if (input.value.trim() !== '') windows[input.dataset.reason] = Number(input.value);
  }
  const { warnings } = await api('PUT', '/api/settings/return-policy', { reason_windows: windows });
  const list = document.getElementById('policy-warnings');
  list.replaceChildren(...(warnings || []).map((w) => Object.assign(document.createElement('li'), { textContent: w })));
  toast(msg('windowsSaved'));
});

on('save-kpis', async () => {
  const form = document.getElementById('kpi-human');
  const body = {};
  for (const input of form.querySelectorAll('[data-kpi]')) {
    if (input.value.trim() !== '') body[input.dataset.kpi] = Number(input.value.replace(',', '.'));
  }
  await api('PUT', '/api/settings/kpi-targets/human', body);
  toast(msg('targetsSaved'));
  reloadSoon();
});

on('test-alert', async () => {
  const { results } = await api('POST', '/api/settings/alert-channels/test', {});
  const list = document.getElementById('test-alert-results');
  list.replaceChildren(...results.map((r) => {
    const li = document.createElement('li');
    li.dataset.channel = r.channel;
    li.dataset.ok = r.ok;
    li.textContent = `${msg(r.ok ? 'testSent' : 'testFailed', { channel: r.channel })}: ${r.detail}`;
    return li;
  }));
  toast(list.textContent, results.some((r) => !r.ok));
});
