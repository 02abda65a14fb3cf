// The product mappings page: catalog upload, auto-match review, bulk edits, import preview and apply.
// Uses actions.js (msg, uploadFile, on, fillRows) and admin.js (api, refusal, toast).

function checkedValues(name) {
  return [...document.querySelectorAll(`input[name="${name}"]:checked`)].map((el) => Number(el.value));
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
  const file = chosenFile('catalog-file');
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
  const file = chosenFile('import-file');
  const { import_: report } = await uploadFile(importPath(false), file);
  showImport(report);
  document.getElementById('import-apply').disabled = report.accepted === 0;
});

on('import-apply', async (button) => {
  const file = chosenFile('import-file');
  const { import_: report } = await uploadFile(importPath(true), file);
  showImport(report);
  toast(msg('imported', { n: report.applied.written }));
  button.dataset.applied = report.applied.written;
  reloadSoon();
});
