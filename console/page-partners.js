// Partners: the list (registered ones and those only implied by their
// subscriptions), register or update one (name, contact, metadata, limits
// across all its subscriptions), and delete one without subscriptions.
import { get, getTextOrNull, post, del, seg, ApiError } from './api.js';
import { memberText, prettyText, objectText } from './json-text.js';
import { available, labelOf } from './capabilities.js';
import { h, replace, page, notFound, notOffered, section, table, badge, empty, errorBox, muted, field, showErrors, topMember, parseJson, button, notice, fmtTime } from './ui.js';

const limits = (p) => `${p.max_in_flight ? `${p.max_in_flight} in flight` : 'no in-flight cap'} · ${p.rate_limit_per_s ? `${p.rate_limit_per_s}/s` : 'no rate limit'}`;

/** p: the partner's answer {data, text} (text: its metadata's exact numbers), or null for a new one. */
function partnerForm(got, onDone) {
  const p = got?.data;
  const f = {
    partner_id: field('Partner id', 'partner_id', { value: p?.partner_id, required: true, attrs: p ? { readonly: true } : undefined,
      hint: p ? 'The id does not change.' : 'Letters, digits, . _ - (at most 128). Subscriptions name their partner by it.' }),
    name: field('Name', 'name', { value: p?.name ?? '', hint: 'A display name.' }),
    contact: field('Contact', 'contact', { value: p?.contact ?? '', hint: 'Who to call when deliveries fail (an e-mail address, say).' }),
    max_in_flight: field('Max in flight, all its subscriptions', 'max_in_flight', { kind: 'number', value: p ? String(p.max_in_flight) : '', hint: '0–100000; 0 or empty: no cap (each subscription keeps its own)' }),
    rate_limit_per_s: field('Rate limit per second, all its subscriptions', 'rate_limit_per_s', { kind: 'number', value: p ? String(p.rate_limit_per_s) : '', hint: '0 or empty: no limit' }),
    metadata: field('Metadata', 'metadata', { kind: 'textarea', rows: 4, value: p?.metadata ? prettyText(memberText(got.text, 'metadata')) : '', hint: 'Optional JSON object, at most 4096 bytes.' }),
  };
  const summary = h('div', { class: 'summary', tabindex: '-1' });
  const form = h('form', { class: 'form', novalidate: true, 'aria-label': p ? 'Edit the partner' : 'New partner' },
    summary, Object.values(f).map((x) => x.el),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, p ? 'Save' : 'Register')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(summary);
    for (const x of Object.values(f)) x.setError(null);
    const body = { partner_id: f.partner_id.control.value.trim() };
    for (const k of ['name', 'contact']) body[k] = f[k].control.value.trim() || null;
    for (const k of ['max_in_flight', 'rate_limit_per_s']) {
      const v = f[k].control.value.trim();
      if (v !== '') body[k] = /^-?\d+$/.test(v) ? Number(v) : v;
    }
    // The metadata goes as typed, once checked: its numbers exactly as written.
    let metadata;
    if (f.metadata.control.value.trim()) {
      const m = parseJson(f.metadata.control.value);
      if (m.error) { f.metadata.setError(m.error); f.metadata.control.focus(); return; }
      metadata = f.metadata.control.value.trim();
    }
    try {
      const { data } = await post('/admin/partners', objectText(body, { metadata }));
      onDone(data);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      showErrors(summary, f, e, (d) => topMember(d.path));
    }
  });
  return form;
}

async function list(main, ctx, query) {
  const { data } = await get('/admin/partners');
  const rows = data.partners.slice().sort((a, b) => a.partner_id.localeCompare(b.partner_id));
  const banner = h('div', { tabindex: '-1' });
  const rowActions = (p) => {
    const box = h('div', { class: 'row-actions' });
    const normal = () => [
      h('a', { href: `#/partners/${encodeURIComponent(p.partner_id)}`, class: 'button' }, 'Edit'),
      button('Delete', () => {
        replace(box, h('span', null, `Delete ${p.partner_id}? `),
          button('Yes, delete', async () => {
            try {
              await del(`/admin/partners/${seg(p.partner_id)}`);
              ctx.go(`#/partners?deleted=${encodeURIComponent(p.partner_id)}`);
            } catch (e) {
              replace(banner, errorBox(e, `${p.partner_id} not deleted`));
              replace(box, ...normal());
              banner.focus();
            }
          }, 'danger'),
          button('Keep it', () => { replace(box, ...normal()); box.querySelector('a,button').focus(); }));
        box.querySelector('button').focus();
      }, 'danger')];
    replace(box, ...normal());
    return box;
  };
  const deleted = query.get('deleted'), saved = query.get('saved');
  replace(main, page('Partners',
    banner,
    deleted ? notice(`Deleted ${deleted}.`, 'ok') : null,
    saved ? notice(`Saved ${saved}.`, 'ok') : null,
    muted('A partner receives the deliveries of its subscriptions. Its limits hold across all of them, on top of each subscription\'s own.'),
    rows.length === 0
      ? empty('No partner yet. Register one below, or create a subscription: its partner is then implied.')
      : table('Partners', ['Partner', 'Name', 'Contact', 'Limits', 'Subscriptions', 'In flight', 'Kind', 'Actions'],
        rows.map((p) => [h('code', null, p.partner_id), p.name ?? '—', p.contact ?? '—', limits(p),
          p.subscriptions ? h('a', { href: `#/partners/${encodeURIComponent(p.partner_id)}` }, String(p.subscriptions)) : '0',
          String(p.in_flight), p.registered ? badge('REGISTERED') : h('span', { class: 'badge plain' }, 'implied'), rowActions(p)])),
    section('Register a partner', partnerForm(null, (p) => ctx.go(`#/partners?saved=${encodeURIComponent(p.partner_id)}`)))));
}

async function view(main, ctx, id) {
  const got = await getTextOrNull(`/admin/partners/${seg(id)}`);
  if (!got) { notFound(main, 'Partner not found', `No partner ${id}.`, '#/partners'); return; }
  const p = got.data;
  const subs = (await get(`/admin/subscriptions?partner_id=${seg(id)}`)).data.subscriptions;
  replace(main, page(`Partner ${p.partner_id}`,
    h('p', null, h('a', { href: '#/partners' }, '← All partners')),
    h('dl', { class: 'facts' },
      h('dt', null, 'Kind'), h('dd', null, p.registered ? 'registered' : 'implied by its subscriptions (saving registers it)'),
      h('dt', null, 'In flight'), h('dd', null, String(p.in_flight)),
      h('dt', null, 'Registered'), h('dd', null, fmtTime(p.created_at))),
    section('Its subscriptions', subs.length
      ? table(`Subscriptions of ${p.partner_id}`, ['Event type', 'State', 'Id'],
        subs.map((s) => [s.event_type, badge(s.status), h('a', { href: `#/subscriptions/${encodeURIComponent(s.subscription_id)}` }, s.subscription_id)]))
      : empty('No subscription: it receives nothing.', h('a', { href: '#/subscriptions/new' }, 'New subscription'))),
    section('Details and limits', partnerForm(got, (r) => ctx.go(`#/partners?saved=${encodeURIComponent(r.partner_id)}`)))));
}

export default {
  title: 'Partners',
  async render(main, { rest, query }, ctx) {
    if (!available('partners')) { notOffered(main, 'Partners', labelOf('partners').toLowerCase()); return; }
    if (rest[0]) await view(main, ctx, rest[0]);
    else await list(main, ctx, query);
  },
};
