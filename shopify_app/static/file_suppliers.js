// A file supplier's page: preview a sample file through the mapping being edited, and read the folders now.
// The mapping comes from the same form the "Save mapping" button sends (collect() in suppliers.js).

function previewTable(result, button) {
  const out = document.createElement('div');
  if (result.file_refused) {
    const p = document.createElement('p');
    p.className = 'badge failed';
    p.textContent = `${button.dataset.labelFileRefused} ${result.refused.map((r) => r.reason).join('; ')}`;
    out.append(p);
    return out;
  }
  const table = document.createElement('table');
  table.className = 'preview-rows';
  const head = table.insertRow();
  for (const name of [button.dataset.labelRow, ...result.fields]) {
    const th = document.createElement('th');
    th.textContent = name;
    head.append(th);
  }
  for (const row of result.rows) {
    const tr = table.insertRow();
    tr.insertCell().textContent = row.row;
    for (const name of result.fields) tr.insertCell().textContent = row.values[name] ?? '';
  }
  out.append(table);
  if (result.refused.length) {
    const refused = document.createElement('table');
    refused.className = 'preview-refused';
    const h = refused.insertRow();
    for (const name of [button.dataset.labelRow, button.dataset.labelReason]) {
      const th = document.createElement('th');
      th.textContent = name;
      h.append(th);
    }
    for (const r of result.refused) {
      const tr = refused.insertRow();
      tr.insertCell().textContent = r.row ?? '';
      tr.insertCell().textContent = r.reason;
    }
    out.append(refused);
  }
  return out;
}

document.addEventListener('click', async (event) => {
  const button = event.target.closest('[data-file-preview]');
  if (!button) return;
  event.preventDefault();
  const form = document.getElementById(button.dataset.form);
  const file = form.querySelector('[data-preview-file]').files[0];
  const out = form.querySelector('.file-preview');
  if (!file) { out.textContent = form.querySelector('[data-preview-file]').closest('label').textContent.trim(); return; }
  const body = new FormData();
  body.append('file', file);
  body.append('mapping', JSON.stringify(collect(form)));
  button.disabled = true;
  try {
    const token = await window.shopify.idToken();
    const res = await fetch(button.dataset.filePreview, { method: 'POST', body, headers: { Authorization: `Bearer ${token}`, 'Accept-Language': LANG } });
    const data = await res.json();
    if (!res.ok) {
      const err = new Error(data.error || String(res.status));
      err.fields = Array.isArray(data.fields) ? data.fields : [];
      err.problems = [];
      throw err;
    }
    out.replaceChildren(previewTable(data.preview, button));
  } catch (err) {
    out.textContent = refusal(err, null);
  } finally {
    button.disabled = false;
  }
});

document.addEventListener('click', async (event) => {
  const button = event.target.closest('[data-file-poll]');
  if (!button) return;
  event.preventDefault();
  button.disabled = true;
  try {
    const { poll } = await api('POST', button.dataset.filePoll);
    toast(poll.error || button.dataset.done, Boolean(poll.error));
    setTimeout(() => window.location.reload(), 600);
  } catch (err) {
    toast(refusal(err, null), true);
    button.disabled = false;
  }
});

// "When purchase orders go out": per order, or batched at times of day / every N minutes on the checked days.
document.addEventListener('click', async (event) => {
  const button = event.target.closest('[data-po-batching]');
  if (!button) return;
  event.preventDefault();
  const form = button.closest('form');
  const mode = form.elements.mode.value;
  const body = { mode };
  if (mode === 'batched') {
    const times = form.elements.times.value.split(',').map((s) => s.trim()).filter(Boolean);
    const every = form.elements.every_minutes.value.trim();
    if (times.length) body.times = times;
    if (every) body.every_minutes = Number(every);
    body.weekdays = Array.from(form.querySelectorAll('[name="weekdays"]:checked')).map((el) => el.value);
  }
  button.disabled = true;
  try {
    await api('PUT', button.dataset.poBatching, body);
    toast(button.dataset.done, false);
    setTimeout(() => window.location.reload(), 600);
  } catch (err) {
    toast(refusal(err, form), true);
    button.disabled = false;
  }
});
