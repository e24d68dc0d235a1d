// DOM helpers. Everything the API says reaches the page as text: h() puts
// strings in text nodes and attributes through setAttribute, and no file
// of the console uses innerHTML or any other HTML parser (a test checks),
// so an event body, a partner's answer or an error message can never
// become markup or script, whatever it holds.

/** h('tag', {attr: value, class, onclick: fn, text}, ...children) */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = String(v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  add(el, children);
  return el;
}

function add(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  add(el, children);
  return el;
}

let uid = 0;
export const nextId = (p) => `${p}-${++uid}`;

/** A page's frame: its h1 (focused on arrival, for keyboard and screen readers) and body. */
export function page(title, ...children) {
  return [h('h1', { tabindex: '-1', id: 'page-title' }, title), ...children];
}

export function section(title, ...children) {
  const id = nextId('sec');
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

export const muted = (text) => h('p', { class: 'muted' }, text);

/** An empty state: what is missing and what to do. */
export function empty(text, action) {
  return h('div', { class: 'empty', role: 'status' }, h('p', null, text), action || null);
}

/** A page for something the API does not know (a 404), with the way back. */
export function notFound(main, title, text, href) {
  replace(main, page(title, empty(text, h('a', { href }, 'Back to the list'))));
}

/** A page whose routes this hookloop's API does not describe. */
export function notOffered(main, title, what) {
  replace(main, page(title, empty(`This hookloop's API does not offer ${what}.`)));
}

/** An error state: the API's code and message, as text. */
export function errorBox(err, title = 'Something went wrong') {
  const code = err && err.code ? err.code : 'error';
  return h('div', { class: 'error-box', role: 'alert' },
    h('p', null, h('strong', null, `${title}: `), err && err.message ? err.message : String(err)),
    h('p', { class: 'muted' }, `code ${code}${err && err.status ? `, HTTP ${err.status}` : ''}`));
}

export function notice(text, kind = 'info') {
  return h('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

const BADGES = { SUCCESS: 'ok', ACTIVE: 'ok', FAILED: 'bad', DISABLED: 'bad', PENDING: 'wait', RETRYING: 'wait' };
export function badge(status) {
  return h('span', { class: `badge ${BADGES[status] || 'plain'}` }, status ?? '—');
}

/**
 * A table in a scrollable, focusable region. On narrow screens each row
 * becomes a card whose cells carry their column's name (data-label, shown
 * by the style sheet); the explicit roles keep it a table to assistive
 * technology whatever its display.
 */
export function table(caption, columns, rows) {
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption },
    h('table', { role: 'table' },
      h('caption', { class: 'sr-only' }, caption),
      h('thead', { role: 'rowgroup' }, h('tr', { role: 'row' }, columns.map((c) => h('th', { scope: 'col', role: 'columnheader' }, c)))),
      h('tbody', { role: 'rowgroup' }, rows.map((r) => h('tr', { role: 'row' },
        r.map((cell, i) => h('td', { role: 'cell', 'data-label': columns[i] }, cell)))))));
}

export const fmtTime = (ms) => (ms ? new Date(ms).toLocaleString() : '—');
export const pretty = (v) => JSON.stringify(v, null, 2);
export const code = (text) => h('pre', { class: 'code' }, h('code', null, text));

export function button(label, onclick, cls = '') {
  return h('button', { type: 'button', class: cls, onclick }, label);
}

/**
 * A form field: label, control, hint, and a slot for its error, tied
 * together with aria-describedby. kind: input type, 'textarea' or 'select'
 * (options: [[value, label]]). Returns {el, control, setError(text|null)}.
 */
export function field(label, name, { kind = 'text', value = '', hint, options, required, rows, attrs } = {}) {
  const id = nextId(`f-${name}`);
  const errId = `${id}-err`, hintId = `${id}-hint`;
  let control;
  const common = { id, name, required: required || null, 'aria-describedby': `${hint ? hintId : ''} ${errId}`.trim(), ...(attrs || {}) };
  if (kind === 'textarea') control = h('textarea', { ...common, rows: rows || 8, spellcheck: 'false' });
  else if (kind === 'select') control = h('select', common, (options || []).map(([v, l]) => h('option', { value: v }, l)));
  else control = h('input', { ...common, type: kind, autocomplete: 'off' });
  control.value = value ?? '';
  const err = h('div', { id: errId, class: 'field-error', 'aria-live': 'polite' });
  const el = h('div', { class: 'field', 'data-field': name },
    h('label', { for: id }, label, required ? h('span', { class: 'req', 'aria-hidden': 'true' }, ' *') : null),
    control, hint ? h('p', { id: hintId, class: 'hint' }, hint) : null, err);
  const setError = (lines) => {
    const list = lines == null ? [] : Array.isArray(lines) ? lines : [lines];
    control.toggleAttribute('aria-invalid', list.length > 0);
    if (list.length) control.setAttribute('aria-invalid', 'true');
    replace(err, list.length === 1 ? list[0] : list.length ? h('ul', null, list.map((l) => h('li', null, l))) : null);
  };
  return { el, control, setError };
}

/**
 * Shows an API error next to the fields it points at. fields: {name:
 * field()} ; route(detail, err) returns the field name a detail belongs to
 * (or null). Unplaced details and the message go to the summary element.
 */
export function showErrors(summary, fields, err, route) {
  for (const f of Object.values(fields)) f.setError(null);
  const placed = {};
  const rest = [];
  for (const d of err.details || []) {
    const name = route(d, err);
    const text = describeDetail(d);
    if (name && fields[name]) (placed[name] ||= []).push(text);
    else rest.push(text);
  }
  for (const [name, lines] of Object.entries(placed)) fields[name].setError(lines);
  replace(summary, errorBox(err, 'Not accepted'), rest.length ? h('ul', null, rest.map((t) => h('li', null, t))) : null);
  const first = Object.keys(placed)[0];
  if (first) fields[first].control.focus();
  else summary.focus();
}

/** "at /amount: message (keyword)" */
export function describeDetail(d) {
  const where = d.path === '' ? 'the whole document' : d.path;
  const extra = [d.keyword, d.name ? `name "${d.name}"` : null].filter(Boolean).join(', ');
  return `at ${where}: ${d.message || ''}${extra ? ` (${extra})` : ''}`;
}

/** The first body pointer segment ("/headers/x" -> "headers"). */
export function topMember(pointer) {
  if (typeof pointer !== 'string' || !pointer.startsWith('/')) return null;
  return pointer.slice(1).split('/')[0].replace(/~1/g, '/').replace(/~0/g, '~');
}

/** Parses JSON text or returns {error} with a position. */
export function parseJson(text) {
  try { return { value: JSON.parse(text) }; } catch (e) { return { error: `not valid JSON: ${e.message}` }; }
}

export function copyButton(text) {
  return button('Copy', async (ev) => {
    try { await navigator.clipboard.writeText(text); ev.target.textContent = 'Copied'; } catch { ev.target.textContent = 'Copy it by hand'; }
  });
}
