// Event types and schemas: the list, one schema's document, and the
// registration of a new version with the API's error pointers shown next
// to the field they concern.
import { get, getTextOrNull, post, seg, ApiError } from './api.js';
import { memberText, prettyText } from './json-text.js';
import { h, replace, page, notFound, section, table, badge, empty, muted, field, showErrors, topMember, parseJson, code, fmtTime, button, notice } from './ui.js';

const SAMPLE = `{
  "type": "object",
  "required": ["eventHeader", "amount", "currency"],
  "properties": {
    "amount": {"type": "number", "minimum": 0},
    "currency": {"type": "string"}
  }
}`;

function registerForm(prefill, onDone) {
  const f = {
    domain: field('Domain', 'domain', { value: prefill.domain || '', required: true, hint: 'Letters, digits, . _ - (part of the ingress topic name)' }),
    event_type: field('Event type', 'event_type', { value: prefill.event_type || '', required: true }),
    version: field('Version', 'version', { kind: 'number', value: String(prefill.version || 1), attrs: { min: '1', max: '1000000' } }),
    status: field('Status', 'status', { kind: 'select', options: [['ACTIVE', 'ACTIVE (events are checked against it)'], ['INACTIVE', 'INACTIVE']], value: 'ACTIVE' }),
    schema: field('JSON Schema', 'schema', { kind: 'textarea', rows: 12, value: prefill.schema || SAMPLE, required: true,
      hint: 'Draft 2020-12 by default, or draft-07 with "$schema". Checked against its meta-schema before it is stored.' }),
  };
  const summary = h('div', { class: 'summary', tabindex: '-1' });
  const form = h('form', { class: 'form', novalidate: true, 'aria-label': 'Register a schema' },
    summary, Object.values(f).map((x) => x.el),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Register')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(summary);
    for (const x of Object.values(f)) x.setError(null);
    const text = f.schema.control.value;
    const parsed = parseJson(text);
    if (parsed.error) { f.schema.setError(parsed.error); f.schema.control.focus(); return; }
    const version = f.version.control.value.trim();
    // A JSON integer is spliced as typed ("02" is none: it goes as a string,
    // which the API refuses at /version). The schema goes as typed (its numbers exactly as written); the rest is encoded here.
    const body = `{"domain":${JSON.stringify(f.domain.control.value.trim())},"event_type":${JSON.stringify(f.event_type.control.value.trim())},`
      + `${version ? `"version":${/^(0|[1-9]\d*)$/.test(version) ? version : JSON.stringify(version)},` : ''}"status":${JSON.stringify(f.status.control.value)},"schema":${text}}`;
    try {
      const { data } = await post('/admin/schemas', body);
      onDone(data);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      // invalid_schema points into the schema; other codes into the body.
      showErrors(summary, f, e, (d, err) => (err.code === 'invalid_schema' ? 'schema' : topMember(d.path)));
    }
  });
  return form;
}

async function list(main, ctx, query) {
  const { data } = await get('/admin/schemas');
  const rows = data.schemas.slice().sort((a, b) => a.schema_id.localeCompare(b.schema_id));
  const done = query.get('registered');
  const formBox = h('div');
  const showForm = (prefill) => replace(formBox, registerForm(prefill, (r) => ctx.go(`#/schemas?registered=${encodeURIComponent(r.schema_id)}`)));
  showForm({});
  replace(main, page('Event types and schemas',
    done ? notice(`Registered ${done}.`, 'ok') : null,
    section('Registered schemas', rows.length === 0
      ? empty('No schema is registered yet: events of any type are refused until one is. Register the first one below.')
      : table('Registered schemas', ['Schema', 'Event type', 'Domain', 'Version', 'Status', 'Registered'],
          rows.map((s) => [h('a', { href: `#/schemas/${encodeURIComponent(s.schema_id)}` }, s.schema_id), s.event_type, s.domain,
            String(s.version), badge(s.status), fmtTime(s.created_at)]))),
    section('Register a schema', muted('Registering the same domain, type and version again replaces it; a higher version becomes the one events are checked against when ACTIVE.'), formBox)));
}

async function view(main, ctx, id) {
  const got = await getTextOrNull(`/admin/schemas/${seg(id)}`);
  if (!got) { notFound(main, 'Schema not found', `No schema is registered as ${id}.`, '#/schemas'); return; }
  const s = got.data;
  // Shown and prefilled from the answer's text: its numbers as registered.
  const doc = prettyText(memberText(got.text, 'schema'));
  const formBox = h('div');
  replace(formBox, button('Register a new version from this one', () => {
    replace(formBox, registerForm({ domain: s.domain, event_type: s.event_type, version: s.version + 1, schema: doc },
      (r) => ctx.go(`#/schemas?registered=${encodeURIComponent(r.schema_id)}`)));
    formBox.querySelector('input').focus();
  }));
  replace(main, page(`Schema ${s.schema_id}`,
    h('p', null, h('a', { href: '#/schemas' }, '← All schemas')),
    h('dl', { class: 'facts' },
      h('dt', null, 'Event type'), h('dd', null, s.event_type),
      h('dt', null, 'Domain'), h('dd', null, s.domain),
      h('dt', null, 'Version'), h('dd', null, String(s.version)),
      h('dt', null, 'Status'), h('dd', null, badge(s.status)),
      h('dt', null, 'Ingress topic'), h('dd', null, s.ingress_topic),
      h('dt', null, 'Registered'), h('dd', null, fmtTime(s.created_at))),
    section('Document', code(doc)),
    section('New version', formBox)));
}

export default {
  title: 'Event types',
  async render(main, { rest, query }, ctx) {
    if (rest[0]) await view(main, ctx, rest[0]);
    else await list(main, ctx, query);
  },
};
