// Transformations: the list (the latest version of each), one
// transformation's spec, and the registration of its next version (or of a
// version that removes it), with the API's error pointers shown next to the
// field they concern. GET /admin/transformations/{id} serves the latest
// version only, so older versions are named, not shown.
import { get, getTextOrNull, post, seg, ApiError } from './api.js';
import { memberText, prettyText } from './json-text.js';
import { available, labelOf } from './capabilities.js';
import { h, replace, page, notFound, notOffered, section, table, badge, empty, muted, field, showErrors, topMember, parseJson, code, fmtTime, notice } from './ui.js';

const SAMPLE = `{
  "version": 1,
  "ops": [
    {"op": "copy", "from": "/eventHeader/uuid", "path": "/id"}
  ]
}`;

/** "event_type:Payment" -> {kind: 'event_type', value: 'Payment'} */
export function targetOf(id) {
  const i = String(id).indexOf(':');
  return i < 0 ? { kind: '', value: String(id) } : { kind: String(id).slice(0, i), value: String(id).slice(i + 1) };
}

function targetText(t) {
  const { kind, value } = targetOf(t.transformation_id);
  return kind === 'subscription' ? `subscription ${value}` : kind === 'event_type' ? `every subscription of ${value}` : t.transformation_id;
}

/**
 * The registration form. target: {event_type} or {subscription_id} fixes
 * the target; without one the form offers both (types and subs lists).
 * The spec goes as typed, so its numbers stay exactly as written.
 * onDone(answer) runs on 201.
 */
export function registerForm({ target, types = [], subs = [], spec = SAMPLE, label = 'Register' }, onDone) {
  const f = {};
  const fixed = target && (target.event_type || target.subscription_id);
  if (!fixed) {
    const opts = [...types.map((t) => [`event_type:${t}`, `Event type ${t} (every subscription of it)`]),
      ...subs.map((s) => [`subscription:${s.subscription_id}`, `Subscription ${s.partner_id} · ${s.event_type} (${s.subscription_id})`])];
    f.target = field('Applies to', 'target', { kind: 'select', options: opts, required: true,
      hint: 'An event type\'s transformation runs first, then the subscription\'s own.' });
  }
  f.spec = field('Spec (JSON)', 'spec', { kind: 'textarea', rows: 12, value: spec, required: true,
    hint: 'docs/transformations.md: {"version": 1, "ops": [...]}. Compiled before it is stored; leave empty to register a version that removes the transformation.' });
  const summary = h('div', { class: 'summary', tabindex: '-1' });
  const form = h('form', { class: 'form', novalidate: true, 'aria-label': 'Register a transformation' },
    summary, Object.values(f).map((x) => x.el),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, label)));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(summary);
    for (const x of Object.values(f)) x.setError(null);
    const text = f.spec.control.value.trim() || 'null';
    const parsed = parseJson(text);
    if (parsed.error) { f.spec.setError(parsed.error); f.spec.control.focus(); return; }
    let key, value;
    if (fixed) [key, value] = target.event_type ? ['event_type', target.event_type] : ['subscription_id', target.subscription_id];
    else {
      const t = targetOf(f.target.control.value);
      [key, value] = [t.kind === 'subscription' ? 'subscription_id' : 'event_type', t.value];
    }
    try {
      const { data } = await post('/admin/transformations', `{${JSON.stringify(key)}:${JSON.stringify(value)},"spec":${text}}`);
      onDone(data);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      // Pointers under /spec belong to the spec; /event_type and
      // /subscription_id to the target (or the summary when it is fixed).
      showErrors(summary, f, e, (d) => {
        const top = topMember(d.path);
        if (top === 'spec') return 'spec';
        if ((top === 'event_type' || top === 'subscription_id') && f.target) return 'target';
        return e.code === 'not_found' ? 'spec' : null;
      });
    }
  });
  return form;
}

async function list(main, ctx, query) {
  const [{ data }, schemas, subs] = await Promise.all([get('/admin/transformations'), get('/admin/schemas'), get('/admin/subscriptions')]);
  const rows = data.transformations.slice().sort((a, b) => a.transformation_id.localeCompare(b.transformation_id));
  const types = [...new Set(schemas.data.schemas.map((x) => x.event_type))].sort();
  const done = query.get('registered');
  const formBox = h('div');
  if (types.length || subs.data.subscriptions.length) {
    replace(formBox, registerForm({ types, subs: subs.data.subscriptions },
      (r) => ctx.go(`#/transformations/${encodeURIComponent(r.transformation_id)}?registered=${r.version}`)));
  } else {
    replace(formBox, empty('A transformation applies to an event type or a subscription: register an event type first.', h('a', { href: '#/schemas' }, 'Register a schema')));
  }
  replace(main, page('Transformations',
    done ? notice(`Registered ${done}.`, 'ok') : null,
    muted('A transformation rewrites an event before a partner receives it (and the signature covers the rewritten bytes). Each registration is the next version; a stored version never changes.'),
    section('Registered transformations', rows.length === 0
      ? empty('No transformation yet: partners receive events exactly as accepted.')
      : table('Registered transformations', ['Transformation', 'Applies to', 'Latest version', 'State', 'Registered'],
        rows.map((t) => [h('a', { href: `#/transformations/${encodeURIComponent(t.transformation_id)}` }, t.transformation_id), targetText(t),
          String(t.version), t.removed ? badge('REMOVED') : badge('ACTIVE'), fmtTime(t.created_at)]))),
    section('Register a transformation', formBox)));
}

async function view(main, ctx, id, query) {
  const got = await getTextOrNull(`/admin/transformations/${seg(id)}`);
  if (!got) { notFound(main, 'Transformation not found', `No transformation is registered as ${id}.`, '#/transformations'); return; }
  const t = got.data;
  // Shown and prefilled from the answer's text: values move as their exact text.
  const spec = t.removed ? '' : prettyText(memberText(got.text, 'spec'));
  const target = t.subscription_id ? { subscription_id: t.subscription_id } : { event_type: t.event_type };
  const again = (r) => ctx.go(`#/transformations/${encodeURIComponent(r.transformation_id)}?registered=${r.version}`);
  const registered = query.get('registered');
  replace(main, page(`Transformation ${t.transformation_id}`,
    h('p', null, h('a', { href: '#/transformations' }, '← All transformations')),
    registered ? notice(`Registered version ${registered}.`, 'ok') : null,
    h('dl', { class: 'facts' },
      h('dt', null, 'Applies to'), h('dd', null, t.subscription_id
        ? h('a', { href: `#/subscriptions/${encodeURIComponent(t.subscription_id)}` }, `subscription ${t.subscription_id}`)
        : `every subscription of ${t.event_type}`),
      h('dt', null, 'Version'), h('dd', null, `${t.version} (the latest; ${t.version > 1 ? `versions 1 to ${t.version - 1} are kept in the store, and the deliveries they shaped name them` : 'the first'})`),
      h('dt', null, 'State'), h('dd', null, t.removed ? badge('REMOVED') : badge('ACTIVE')),
      h('dt', null, 'Registered'), h('dd', null, fmtTime(t.created_at))),
    section(`Spec of version ${t.version}`, t.removed ? muted('This version removed the transformation: partners receive the events as accepted.') : code(spec)),
    section(`Register version ${t.version + 1}`, registerForm({ target, spec: t.removed ? SAMPLE : spec, label: `Register version ${t.version + 1}` }, again))));
}

export default {
  title: 'Transformations',
  async render(main, { rest, query }, ctx) {
    if (!available('transformations')) { notOffered(main, 'Transformations', labelOf('transformations').toLowerCase()); return; }
    if (rest[0]) await view(main, ctx, rest[0], query);
    else await list(main, ctx, query);
  },
};
