// Deliveries: search by event id (by subscription or status when the API
// offers it, in pages), retry a FAILED one, replay an event (to all its
// subscriptions or one), and one delivery's page with its attempt log (when
// offered). A partner's answer (headers and body) is shown as text only.
import { get, post, seg, ApiError } from './api.js';
import { available, pathOf, labelOf } from './capabilities.js';
import { targetOf } from './page-transformations.js';
import { recoverSection } from './deliveries-recover.js';
import { h, replace, page, section, table, badge, empty, errorBox, muted, field, button, notice, fmtTime, code } from './ui.js';

function unavailableNote() {
  const missing = ['searchBySubscription', 'searchByStatus', 'attempts'].filter((f) => !available(f)).map(labelOf);
  if (!missing.length) return null;
  return h('p', { class: 'muted', id: 'unavailable' },
    `Not offered by this hookloop's API, so not shown: ${missing.join(', ')}.`);
}

/** The attempt log: each attempt's time, answer, latency and error, and
 * the partner's response (headers, body as hookloop kept it) as text. */
export function attemptsTable(list) {
  if (!list.length) return empty('No attempt recorded yet: the delivery has not been tried.');
  return table('Attempts', ['#', 'When', 'Answer', 'Latency', 'Error', 'Response'],
    list.map((a, i) => {
      const headers = a.response_headers && typeof a.response_headers === 'object' ? Object.entries(a.response_headers) : [];
      const body = typeof a.response_body === 'string' ? a.response_body : '';
      return [String(a.attempt ?? i + 1), fmtTime(a.at_ms), a.status_code == null ? 'none' : String(a.status_code),
        a.latency_ms == null ? '—' : `${a.latency_ms} ms`, a.error ? h('span', { class: 'error-text' }, a.error) : '—',
        h('div', { class: 'response', 'data-attempt': String(a.attempt ?? i + 1) },
          body ? code(body) : muted('empty body'),
          a.truncated ? h('p', { class: 'hint' }, 'Cut: hookloop keeps only the start of an answer.') : null,
          headers.length ? h('details', null, h('summary', null, `${headers.length} response header${headers.length === 1 ? '' : 's'}`),
            code(headers.map(([k, v]) => `${k}: ${v}`).join('\n'))) : null)];
    }));
}

/** The attempt log of one delivery, or why it cannot be shown. */
async function attemptLog(eventId, subId) {
  if (!available('attempts')) return muted('The attempt log is not offered by this hookloop\'s API: the last attempt is shown above.');
  try {
    const { data } = await get(pathOf('attempts', { event_id: eventId, subscription_id: subId }));
    return attemptsTable(data.attempts || []);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) throw e;
    if (e instanceof ApiError && e.status === 404) return empty(`Attempt log unavailable: ${e.message}`);
    return errorBox(e, 'The attempt log could not be read');
  }
}

const deliveryHref = (ev, sub) => `#/deliveries/${encodeURIComponent(ev)}/${encodeURIComponent(sub)}`;

/** The transformation versions that made the last attempt's bytes. */
function shapedBy(d) {
  if (!Array.isArray(d.transformations) || !d.transformations.length) return '—';
  return h('ul', { class: 'plain' }, d.transformations.map((t) => {
    const { kind, value } = targetOf(t.transformation_id);
    return h('li', null, h('a', { href: `#/transformations/${encodeURIComponent(t.transformation_id)}`, title: t.transformation_id },
      `${kind === 'subscription' ? 'its own' : value} v${t.version}`));
  }));
}

// --- pages of a subscription's deliveries ---------------------------------------

const PAGE_SIZES = [['10', '10'], ['50', '50'], ['100', '100']];

/** Links to the first and the next page of a search (the API's cursor). */
function pagingNav(data, query) {
  if (!available('searchPages')) return null;
  const at = (cursor) => {
    const p = new URLSearchParams(query);
    for (const k of ['cursor', 'replayed', 'requeued']) p.delete(k);
    if (cursor) p.set('cursor', cursor);
    return `#/deliveries?${p}`;
  };
  const links = [];
  if (query.get('cursor')) links.push(h('a', { href: at(null), class: 'button', rel: 'first' }, 'First page'));
  if (data.next_cursor) links.push(h('a', { href: at(data.next_cursor), class: 'button', rel: 'next' }, 'Next page'));
  return links.length ? h('nav', { class: 'actions paging', 'aria-label': 'Pages of deliveries' }, links) : null;
}

/** A search by subscription spans events: each row names its event. */
const eventColumn = (data) => (data.event_id ? [] : ['Event']);
const eventCell = (data, d) => (data.event_id ? [] : [h('code', { class: 'event-id' }, d.event_id)]);

// --- replay (POST /admin/events/{event_id}/replay) -----------------------------

let replayed = null; // the last replay's answer, shown once by the next render

/** What the last replay queued, per subscription (text only). */
function replayNote() {
  if (!replayed) return null;
  const r = replayed;
  replayed = null;
  return h('div', { class: `notice ${r.queued ? 'ok' : 'info'}`, role: 'status', 'data-replayed': String(r.queued) },
    h('p', null, `Replayed event ${r.event_id}: ${r.queued} ${r.queued === 1 ? 'delivery' : 'deliveries'} queued again, with the same webhook-id.`),
    (r.subscriptions || []).map((x) => h('p', null, x.queued
      ? `${x.partner_id ?? x.subscription_id}: queued (replay ${x.replay}).`
      : `${x.partner_id ?? x.subscription_id}: not queued: ${x.message}`)));
}

/** A button that replays eventId to subId (every subscription when null), then goes to next. */
function replayButton(label, eventId, subId, banner, ctx, next) {
  if (!available('replay')) return null;
  return button(label, async () => {
    try {
      replayed = (await post(pathOf('replay', { event_id: eventId }), subId ? { subscriptions: [subId] } : '')).data;
      ctx.go(next);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) throw e;
      replace(banner, errorBox(e, 'Not replayed'));
      banner.focus();
    }
  });
}

const finished = (d) => d.status === 'SUCCESS' || d.status === 'FAILED';

async function results(box, eventId, query, ctx) {
  replace(box, muted('Searching…'));
  const params = new URLSearchParams();
  if (eventId) params.set('event_id', eventId);
  for (const k of ['subscription_id', 'status', 'limit', 'cursor']) if (query.get(k)) params.set(k, query.get(k));
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
    if (finished(d)) {
      const again = replayButton('Replay', ev, d.subscription_id, banner, ctx, `#/deliveries?event_id=${encodeURIComponent(ev)}`);
      if (again) cell.append(again);
    }
    cell.append(h('a', { href: deliveryHref(ev, d.subscription_id), class: 'button' }, available('attempts') ? 'Attempts' : 'Details'));
    return cell;
  };
  const requeued = query.get('requeued');
  const replayAll = eventId ? replayButton('Replay to every subscription', eventId, null, banner, ctx, `#/deliveries?event_id=${encodeURIComponent(eventId)}`) : null;
  replace(box, banner,
    requeued ? notice(`Re-queued the delivery to ${requeued}: it is PENDING and will be attempted again.`, 'ok') : null,
    replayNote(),
    replayAll ? h('div', { class: 'actions' }, replayAll) : null,
    table(`Deliveries of ${data.event_id ?? 'the search'}`, [...eventColumn(data), 'Partner', 'Subscription', 'Status', 'Actions', 'Attempts', 'Last answer', 'Last error', 'Latency', 'Transformed by', 'Updated', 'Next attempt'],
      rows.map((d) => [...eventCell(data, d), d.partner_id ?? '(deleted)', h('a', { href: deliveryHref(d.event_id ?? data.event_id, d.subscription_id) }, h('code', null, d.subscription_id)), badge(d.status), actions(d), String(d.attempts),
        d.last_status_code == null ? '—' : String(d.last_status_code), d.last_error ? h('span', { class: 'error-text' }, d.last_error) : '—',
        `${d.last_latency_ms} ms`, shapedBy(d), fmtTime(d.updated_at), fmtTime(d.next_attempt_at)])),
    pagingNav(data, query));
}

/** One delivery: its state, retry when FAILED, and its attempt log. */
async function delivery(main, ctx, eventId, subId, query) {
  const rows = (await get(`/admin/deliveries?event_id=${seg(eventId)}`)).data.deliveries || [];
  const d = rows.find((x) => x.subscription_id === subId);
  const back = h('p', null, h('a', { href: `#/deliveries?event_id=${encodeURIComponent(eventId)}` }, `← All deliveries of ${eventId}`));
  if (!d) {
    replace(main, page('Delivery not found', back, empty(`No delivery of event ${eventId} to subscription ${subId}.`)));
    return;
  }
  const banner = h('div', { tabindex: '-1' });
  const retry = d.status === 'FAILED' ? button('Retry', async () => {
    try {
      await post(`/admin/deliveries/${seg(eventId)}/${seg(subId)}/retry`, '');
      ctx.go(`${deliveryHref(eventId, subId)}?requeued=1`);
    } catch (e) { replace(banner, errorBox(e, 'Not re-queued')); banner.focus(); }
  }, 'primary') : null;
  const again = finished(d) ? replayButton('Replay', eventId, subId, banner, ctx, deliveryHref(eventId, subId)) : null;
  const log = h('div', { 'aria-busy': 'true' }, muted('Reading the attempt log…'));
  replace(main, page(`Delivery to ${d.partner_id ?? subId}`,
    back, banner,
    query.get('requeued') ? notice('Re-queued: it is PENDING and will be attempted again.', 'ok') : null,
    replayNote(),
    h('dl', { class: 'facts' },
      h('dt', null, 'Event'), h('dd', null, h('code', null, eventId)),
      h('dt', null, 'Subscription'), h('dd', null, h('a', { href: `#/subscriptions/${encodeURIComponent(subId)}` }, subId)),
      h('dt', null, 'Status'), h('dd', { 'data-status': d.status }, badge(d.status)),
      h('dt', null, 'Attempts'), h('dd', null, String(d.attempts)),
      h('dt', null, 'Last answer'), h('dd', null, d.last_status_code == null ? 'none' : String(d.last_status_code)),
      h('dt', null, 'Last error'), h('dd', null, d.last_error ? h('span', { class: 'error-text' }, d.last_error) : '—'),
      h('dt', null, 'Transformed by'), h('dd', null, shapedBy(d)),
      h('dt', null, 'Updated'), h('dd', null, fmtTime(d.updated_at)),
      h('dt', null, 'Next attempt'), h('dd', null, fmtTime(d.next_attempt_at))),
    retry || again ? h('div', { class: 'actions' }, retry, again) : null,
    section('Attempts', log)));
  replace(log, await attemptLog(eventId, subId));
  log.removeAttribute('aria-busy');
}

export default {
  title: 'Deliveries',
  async render(main, { rest, query }, ctx) {
    if (rest.length >= 2) { await delivery(main, ctx, rest[0], rest[1], query); return undefined; }
    const eventId = query.get('event_id') || '';
    const f = { event_id: field('Event id', 'event_id', { value: eventId, hint: 'The event\'s id (eventHeader.uuid, or a CloudEvent\'s id).' }) };
    const extra = [];
    if (available('searchBySubscription')) extra.push(f.subscription_id = field('Subscription id', 'subscription_id', { value: query.get('subscription_id') || '' }));
    if (available('searchByStatus')) extra.push(f.status = field('Status', 'status', { kind: 'select', value: query.get('status') || '', options: [['', 'any'], ['PENDING', 'PENDING'], ['RETRYING', 'RETRYING'], ['SUCCESS', 'SUCCESS'], ['FAILED', 'FAILED']] }));
    if (available('searchPages') && f.subscription_id) extra.push(f.limit = field('Per page', 'limit', { kind: 'select', value: query.get('limit') || '50', options: PAGE_SIZES, hint: 'With a subscription id: deliveries per page, newest first.' }));
    const box = h('div', { 'aria-live': 'polite' });
    const form = h('form', { class: 'form search', role: 'search', 'aria-label': 'Search deliveries' },
      f.event_id.el, extra.map((x) => x.el), h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Search')));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const p = new URLSearchParams();
      for (const [k, x] of Object.entries(f)) if (x.control.value.trim()) p.set(k, x.control.value.trim());
      if (p.get('limit') === '50' || !p.get('subscription_id')) p.delete('limit'); // pages are of a subscription's search
      if (!p.toString()) { f.event_id.setError('Enter an event id.'); f.event_id.control.focus(); return; }
      ctx.go(`#/deliveries?${p}`);
    });
    replace(main, page('Deliveries', form, box, unavailableNote(), recoverSection(query)));
    if (eventId || query.get('subscription_id') || query.get('status')) await results(box, eventId, query, ctx);
    else replace(box, empty('Search for an event\'s deliveries by its id.'));
    return undefined;
  },
};
