// Building and formatting the page: an element builder, number/time/size formats, badges,
// tables and a confirmation dialog, shared by every view.

/**
 * `h('div.card#x', {onclick, title, dataset…}, child, …)`: an element. Children are nodes,
 * strings, numbers, arrays of those, or null/false (skipped).
 */
export function h(spec, attrs, ...children) {
  const m = /^([a-z0-9-]+)?((?:[.#][\w-]+)*)$/i.exec(spec) || [];
  const el = document.createElement(m[1] || 'div');
  for (const part of (m[2] || '').match(/[.#][\w-]+/g) || []) {
    if (part[0] === '.') el.classList.add(part.slice(1)); else el.id = part.slice(1);
  }
  if (attrs !== null && attrs !== undefined
    && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k === 'class') el.className = v;
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces `el`'s children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const nf = new Intl.NumberFormat('en-US');
/** 1234567 → "1,234,567"; null → "–". */
export function num(n) { return n === null || n === undefined || Number.isNaN(n) ? '–' : nf.format(Math.round(n)); }

/** Per-second figures: 1234.5 → "1.23 K/s". */
export function rate(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  if (n >= 1e9) return (n / 1e9).toFixed(2) + ' G/s';
  if (n >= 1e6) return (n / 1e6).toFixed(2) + ' M/s';
  if (n >= 1e3) return (n / 1e3).toFixed(2) + ' K/s';
  return (n >= 10 ? n.toFixed(0) : n.toFixed(1)) + ' /s';
}

/** Bytes: 1536 → "1.5 KiB". */
export function bytes(n) {
  if (n === null || n === undefined || n < 0) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + ' ' + u[i];
}

/** Milliseconds as a duration: 93000 → "1m 33s"; 45 → "45 ms". */
export function duration(ms) {
  if (ms === null || ms === undefined || ms < 0) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  let s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hh = Math.floor(s / 3600); s -= hh * 3600;
  const mm = Math.floor(s / 60); s -= mm * 60;
  if (d) return `${d}d ${hh}h`;
  if (hh) return `${hh}h ${mm}m`;
  if (mm) return `${mm}m ${s}s`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 1 : 0)}s`;
}

/** Epoch milliseconds as local date and time; ≤ 0 → "–". */
export function time(ms) {
  if (!ms || ms <= 0) return '–';
  const d = new Date(ms);
  const p = (x, n = 2) => String(x).padStart(n, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** A watermark: Long.MIN_VALUE-like or missing → "none", Long.MAX_VALUE → "end of input", else the time. */
export function watermark(ms) {
  if (ms === null || ms === undefined || ms <= -9e15) return 'none';
  if (ms >= 9e15) return 'end of input';
  return time(ms) + '.' + String(((ms % 1000) + 1000) % 1000).padStart(3, '0');
}

/** A status badge (class = the status, so CSS colours it). */
export function badge(status) { return h('span.badge.' + String(status).replace(/[^\w-]/g, '_'), String(status)); }

/** 0..1 as "37 %". */
export function pct(x) { return x === null || x === undefined ? '–' : `${Math.round(x * 100)} %`; }

/**
 * A table: `columns` = [{title, num?, cell: row => content}], `rows` = data; `onRow(row)`
 * makes rows clickable. `key(row)` sets `data-key` on each row (for tests and in-place updates).
 */
export function table(columns, rows, { onRow, key, empty = 'None.' } = {}) {
  if (!rows.length) return h('p.muted', empty);
  return h('table.grid',
    h('thead', h('tr', columns.map((c) => h(c.num ? 'th.num' : 'th', c.title)))),
    h('tbody', rows.map((r) => h(onRow ? 'tr.clickable' : 'tr',
      { onclick: onRow ? () => onRow(r) : null, dataset: key ? { key: key(r) } : null },
      columns.map((c) => h(c.num ? 'td.num' : 'td', c.cell(r)))))));
}

/** A labelled figure card. */
export function card(label, value, extra) {
  return h('div.card', h('div.label', label), h('div.value', value), extra || null);
}

/**
 * Asks the user to confirm `question`; resolves true on "OK". `fields` (optional) are extra
 * inputs shown in the dialog, read back as `{name: value}` (resolves to that object, or null).
 */
export function confirmDialog(title, question, { ok = 'OK', danger = false, fields = [] } = {}) {
  return new Promise((resolve) => {
    const inputs = fields.map((f) => h('input', { name: f.name, value: f.value || '', placeholder: f.placeholder || '', type: f.type || 'text' }));
    const dlg = h('dialog.confirm',
      h('h3', title), h('p', question),
      fields.length ? h('form.stack', { onsubmit: (e) => e.preventDefault() },
        fields.map((f, i) => [h('label', f.label), inputs[i], f.hint ? h('div.hint', f.hint) : null])) : null,
      h('div.actions',
        h('button', { type: 'button', onclick: () => done(null) }, 'Cancel'),
        h(danger ? 'button.danger' : 'button.primary', { type: 'button', onclick: () => done(true) }, ok)));
    function done(v) {
      dlg.close();
      dlg.remove();
      if (!v) resolve(fields.length ? null : false);
      else resolve(fields.length ? Object.fromEntries(inputs.map((i) => [i.name, i.value])) : true);
    }
    dlg.addEventListener('cancel', () => done(null));
    document.body.append(dlg);
    dlg.showModal();
  });
}

/** A notice line: kind = ok | bad | info. */
export function notice(kind, text) { return h('div.notice.' + kind, text); }

/**
 * Brings `tbody`'s rows in line with `rows` = [{key, sig, render(), attrs?}] without rebuilding
 * those whose `sig` is unchanged: a row keeps its element (and so hover, focus and selection),
 * and rows are only moved, added or removed. `attr` names the data attribute of the key.
 */
export function syncRows(tbody, rows, attr = 'key') {
  const old = new Map();
  for (const tr of tbody.children) if (tr.dataset[attr] !== undefined) old.set(tr.dataset[attr], tr);
  const next = rows.map((r) => {
    let tr = old.get(r.key);
    if (!tr || tr.__sig !== r.sig) {
      const made = r.render();
      made.dataset[attr] = r.key;
      made.__sig = r.sig;
      if (tr) tr.replaceWith(made);
      tr = made;
    }
    return tr;
  });
  const same = next.length === tbody.children.length && next.every((tr, i) => tbody.children[i] === tr);
  if (!same) tbody.replaceChildren(...next);
}
