// Deliveries: search by event id (by subscription or status, and a
// delivery's attempts, when the API offers them), retry a FAILED one, and
// recover a time range when offered.
import { get, post, seg, ApiError } from './api.js';
import { available, pathOf, labelOf } from './capabilities.js';
import { h, replace, page, section, table, badge, empty, errorBox, muted, field, button, notice, fmtTime, code } from './ui.js';

function unavailableNote() {
  const missing = ['searchBySubscription', 'searchByStatus', 'attempts', 'recover'].filter((f) => !available(f)).map(labelOf);
  if (!missing.length) return null;
  return h('p', { class: 'muted', id: 'unavailable' },
    `Not offered by this hookloop's API, so not shown: ${missing.join(', ')}. Each delivery shows its last attempt (status code, error, latency).`);
}

function attemptsTable(list) {
  if (!list.length) return muted('No attempt recorded yet.');
  return table('Attempts', ['#', 'When', 'Status', 'Latency', 'Response'],
    list.map((a, i) => [String(a.attempt ?? i + 1), fmtTime(a.at ?? a.started_at), a.status_code == null ? '—' : String(a.status_code),
      a.latency_ms == null ? '—' : `${a.latency_ms} ms`, code(String(a.response_snippet ?? a.error ?? ''))]));
}

/** The transformation versions that made the last attempt's bytes. */
function shapedBy(d) {
  if (!Array.isArray(d.transformations) || !d.transformations.length) return '—';
  return h('ul', { class: 'plain' }, d.transformations.map((t) => h('li', null,
    h('a', { href: `#/transformations/${encodeURIComponent(t.transformation_id)}` }, t.transformation_id), ` v${t.version}`)));
}

async function results(box, eventId, query, ctx) {
  replace(box, muted('Searching…'));
  const params = new URLSearchParams();
  if (eventId) params.set('event_id', eventId);
  for (const k of ['subscription_id', 'status']) if (query.get(k)) params.set(k, query.get(k));
  let data;
  try {
    data = (await get(`/admin/deliveries?${params}`)).data;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) throw e;
    replace(box, errorBox(e, 'Search failed'));
    return;
  }
  const rows = data.deliveries || [];
  const banner = h('div', { tabindex: '-1' });
  if (!rows.length) {
    replace(box, empty(eventId ? `No delivery of event "${eventId}": the id is unknown, or no subscription's filter matched it.` : 'No delivery matches.'));
    return;
  }
  const actions = (d) => {
    const cell = h('div', { class: 'row-actions' });
    const ev = d.event_id ?? data.event_id;
    if (d.status === 'FAILED') cell.append(button('Retry', async () => {
      try {
        await post(`/admin/deliveries/${seg(ev)}/${seg(d.subscription_id)}/retry`, '');
        ctx.go(`#/deliveries?event_id=${encodeURIComponent(ev)}&requeued=${encodeURIComponent(d.subscription_id)}`);
      } catch (e) { replace(banner, errorBox(e, 'Not re-queued')); banner.focus(); }
    }, 'primary'));
    if (available('attempts')) {
      const out = h('div');
      cell.append(button('Attempts', async () => {
        try {
          const { data: a } = await get(pathOf('attempts', { event_id: ev, subscription_id: d.subscription_id }));
          replace(out, attemptsTable(a.attempts || []));
        } catch (e) { replace(out, errorBox(e, 'Attempts not read')); }
      }), out);
    }
    return cell;
  };
  const requeued = query.get('requeued');
  replace(box, banner,
    requeued ? notice(`Re-queued the delivery to ${requeued}: it is PENDING and will be attempted again.`, 'ok') : null,
    table(`Deliveries of ${data.event_id ?? 'the search'}`, ['Partner', 'Subscription', 'Status', 'Attempts', 'Last answer', 'Last error', 'Latency', 'Transformed by', 'Updated', 'Next attempt', 'Actions'],
      rows.map((d) => [d.partner_id ?? '(deleted)', h('code', null, d.subscription_id), badge(d.status), String(d.attempts),
        d.last_status_code == null ? '—' : String(d.last_status_code), d.last_error ? h('span', { class: 'error-text' }, d.last_error) : '—',
        `${d.last_latency_ms} ms`, shapedBy(d), fmtTime(d.updated_at), fmtTime(d.next_attempt_at), actions(d)])));
}

function recoverForm(subs) {
  const f = {
    sub: field('Subscription', 'subscription_id', { kind: 'select', options: subs.map((s) => [s.subscription_id, `${s.partner_id} · ${s.event_type}`]) }),
    from: field('From', 'from', { kind: 'datetime-local' }),
    to: field('To', 'to', { kind: 'datetime-local' }),
  };
  const out = h('div', { tabindex: '-1' });
  const form = h('form', { class: 'form', novalidate: true, 'aria-label': 'Recover a time range' }, Object.values(f).map((x) => x.el),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Recover')), out);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { from_ms: Date.parse(f.from.control.value), to_ms: Date.parse(f.to.control.value) };
    try {
      const { data } = await post(pathOf('recover', { id: f.sub.control.value }), body);
      replace(out, notice(`Recovered: ${JSON.stringify(data)}`, 'ok'));
    } catch (e) { replace(out, errorBox(e, 'Not recovered')); }
    out.focus();
  });
  return form;
}

export default {
  title: 'Deliveries',
  async render(main, { query }, ctx) {
    const eventId = query.get('event_id') || '';
    const f = { event_id: field('Event id', 'event_id', { value: eventId, hint: 'The event\'s id (eventHeader.uuid, or a CloudEvent\'s id).' }) };
    const extra = [];
    if (available('searchBySubscription')) extra.push(f.subscription_id = field('Subscription id', 'subscription_id', { value: query.get('subscription_id') || '' }));
    if (available('searchByStatus')) extra.push(f.status = field('Status', 'status', { kind: 'select', value: query.get('status') || '', options: [['', 'any'], ['PENDING', 'PENDING'], ['RETRYING', 'RETRYING'], ['SUCCESS', 'SUCCESS'], ['FAILED', 'FAILED']] }));
    const box = h('div', { 'aria-live': 'polite' });
    const form = h('form', { class: 'form search', role: 'search', 'aria-label': 'Search deliveries' },
      f.event_id.el, extra.map((x) => x.el), h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Search')));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const p = new URLSearchParams();
      for (const [k, x] of Object.entries(f)) if (x.control.value.trim()) p.set(k, x.control.value.trim());
      if (!p.toString()) { f.event_id.setError('Enter an event id.'); f.event_id.control.focus(); return; }
      ctx.go(`#/deliveries?${p}`);
    });
    let recover = null;
    if (available('recover')) recover = section(labelOf('recover'), recoverForm((await get('/admin/subscriptions')).data.subscriptions));
    replace(main, page('Deliveries', form, box, recover, unavailableNote()));
    if (eventId || query.get('subscription_id') || query.get('status')) await results(box, eventId, query, ctx);
    else replace(box, empty('Search for an event\'s deliveries by its id.'));
    return undefined;
  },
};
