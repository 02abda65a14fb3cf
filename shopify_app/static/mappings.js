// The product mappings page: catalog upload, auto-match review, bulk edits, import preview and apply.
// Uses api(), refusal() and toast() from admin.js; files go as the request body with a fresh session token.

// A message from the page (translated server-side) with {name} placeholders filled in.
function msg(name, values = {}) {
  const template = document.getElementById('messages').dataset[name] || name;
  return template.replace(/\{(\w+)\}/g, (_, key) => String(values[key] ?? ''));
}

function refused(message) { return Object.assign(new Error(message), { fields: [], problems: [] }); }

const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

async function uploadFile(path, file) {
  const token = await window.shopify.idToken();
  const type = file.name.toLowerCase().endsWith('.xlsx') ? XLSX_TYPE : 'text/csv';
  const res = await fetch(path, { method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': type }, body: file });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = new Error(data.error || `HTTP ${res.status}`);
    err.fields = Array.isArray(data.fields) ? data.fields : [];
    err.problems = [];
    throw err;
  }
  return data;
}

function checkedValues(name) {
  return [...document.querySelectorAll(`input[name="${name}"]:checked`)].map((el) => Number(el.value));
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

function on(id, handler) {
  const el = document.getElementById(id);
  if (!el) return;
  el.addEventListener('click', async (event) => {
    event.preventDefault();
    el.disabled = true;
    try {
      await handler(el);
    } catch (err) {
      toast(refusal(err, el.closest('form')), true);
    } finally {
      el.disabled = false;
    }
  });
}

function selectAll(boxId, name) {
  const box = document.getElementById(boxId);
  if (box) box.addEventListener('change', () => { for (const el of document.querySelectorAll(`input[name="${name}"]`)) el.checked = box.checked; updateCount(); });
}

function updateCount() {
  const n = checkedValues('variant').length;
  const el = document.getElementById('bulk-count');
  if (el) el.textContent = n ? msg('selected', { n }) : el.dataset.empty || el.textContent;
}

document.addEventListener('change', (event) => { if (event.target.matches('input[name="variant"]')) updateCount(); });
selectAll('variants-all', 'variant');
selectAll('proposals-all', 'proposal');
const countEl = document.getElementById('bulk-count');
if (countEl) countEl.dataset.empty = countEl.textContent;

// Supplier catalog and auto-match.
on('catalog-upload', async () => {
  const file = document.getElementById('catalog-file').files[0];
  if (!file) throw refused(msg('chooseFile'));
  const supplier = document.getElementById('match-supplier').value;
  const { catalog } = await uploadFile(`/api/suppliers/${supplier}/catalog`, file);
  const report = document.getElementById('catalog-report');
  report.textContent = msg('catalogDone', { accepted: catalog.accepted, total: catalog.rows_total, refused: catalog.refused, size: catalog.catalog_size });
  report.dataset.accepted = catalog.accepted;
  toast(report.textContent);
});

on('auto-match', async () => {
  const supplier = Number(document.getElementById('match-supplier').value);
  const { found } = await api('POST', '/api/mappings/auto-match', { supplier_id: supplier });
  toast(msg('matchesFound', { sku: found.by_sku, barcode: found.by_barcode }));
  reloadSoon();
});

async function decide(action, body) {
  if (body.ids && !body.ids.length) throw refused(msg('chooseRows'));
  await api('POST', `/api/mappings/proposals/${action}`, body);
  reloadSoon();
}

on('accept-selected', () => decide('accept', { ids: checkedValues('proposal') }));
on('reject-selected', () => decide('reject', { ids: checkedValues('proposal') }));
on('accept-all', () => decide('accept', { all: true }));

// Bulk edit of the selected variants.
async function bulk(body) {
  const ids = checkedValues('variant');
  if (!ids.length) throw refused(msg('chooseRows'));
  const { edit } = await api('POST', '/api/mappings/bulk', { variant_ids: ids, ...body });
  toast(msg('edited', { n: edit.variants }));
  reloadSoon();
}

on('bulk-move', () => bulk({ supplier_id: Number(document.getElementById('bulk-supplier').value) }));
on('bulk-cost-button', () => {
  const value = document.getElementById('bulk-cost').value.trim();
  return bulk({ cost: value === '' ? null : value });
});
on('bulk-unmap', () => bulk({ unmap: true }));

// Import: preview every row, then apply the same file.
function importPath(apply) {
  const supplier = document.getElementById('import-supplier').value;
  const params = new URLSearchParams();
  if (supplier) params.set('supplier', supplier);
  if (apply) params.set('apply', '1');
  return `/api/mappings/import?${params}`;
}

function showImport(report) {
  document.getElementById('import-preview').hidden = false;
  const summary = document.getElementById('import-summary');
  summary.textContent = msg('importSummary', { accepted: report.accepted, total: report.rows_total, refused: report.refused });
  summary.dataset.accepted = report.accepted;
  summary.dataset.refused = report.refused;
  fillRows(document.querySelector('#import-rows tbody'), report.preview, ['row', 'sku', 'supplier', 'supplier_sku', 'cost']);
  fillRows(document.querySelector('#import-refused tbody'), report.refused_rows, ['row', 'sku', 'reason']);
}

on('import-preview-button', async () => {
  const file = document.getElementById('import-file').files[0];
  if (!file) throw refused(msg('chooseFile'));
  const { import_: report } = await uploadFile(importPath(false), file);
  showImport(report);
  document.getElementById('import-apply').disabled = report.accepted === 0;
});

on('import-apply', async (button) => {
  const file = document.getElementById('import-file').files[0];
  const { import_: report } = await uploadFile(importPath(true), file);
  showImport(report);
  toast(msg('imported', { n: report.applied.written }));
  button.dataset.applied = report.applied.written;
  reloadSoon();
});
