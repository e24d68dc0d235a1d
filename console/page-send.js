// Send a test event: an event of a subscription's type, edited as JSON,
// posted to the producer API, then its deliveries watched until the one to
// the chosen subscription is final. hookloop has no per-subscription send:
// the event goes to every subscription of its type whose filter matches.
import { get, post, seg, ApiError } from './api.js';
import { h, replace, page, section, table, badge, empty, errorBox, muted, field, showErrors, parseJson, code, notice, fmtTime } from './ui.js';

const POLL_MS = 1000;
const WATCH_MS = 60000;

/** A value that a schema's "type" accepts, for a skeleton event. */
function sample(schema, depth = 0) {
  if (!schema || typeof schema !== 'object' || depth > 4) return null;
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
  if (Array.isArray(schema.examples) && schema.examples.length) return schema.examples[0];
  const t = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (t === 'object' || schema.properties) {
    const out = {};
    for (const k of schema.required || []) out[k] = sample(schema.properties?.[k], depth + 1);
    return out;
  }
  if (t === 'array') return [];
  if (t === 'number' || t === 'integer') return typeof schema.minimum === 'number' ? Math.max(schema.minimum, 1) : 1;
  if (t === 'boolean') return true;
  if (t === 'null') return null;
  return 'test';
}

function eventFor(type, schema) {
  const id = `test-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const now = new Date().toISOString();
  const body = sample(schema);
  const rest = body && typeof body === 'object' && !Array.isArray(body) ? body : {};
  const given = rest.eventHeader && typeof rest.eventHeader === 'object' ? rest.eventHeader : {};
  delete rest.eventHeader;
  return { eventHeader: { ...given, uuid: id, eventName: 'console.test', eventType: type, createdDate: now, savedDate: now }, ...rest };
}

export default {
  title: 'Send a test event',
  async render(main, { query }) {
    const subs = (await get('/admin/subscriptions')).data.subscriptions;
    if (!subs.length) {
      replace(main, page('Send a test event', empty('No subscription to send to yet.', h('a', { href: '#/subscriptions/new' }, 'Create a subscription'))));
      return undefined;
    }
    const chosen = query.get('subscription') && subs.some((s) => s.subscription_id === query.get('subscription')) ? query.get('subscription') : subs[0].subscription_id;
    const f = {
      sub: field('Subscription', 'subscription', { kind: 'select', value: chosen, options: subs.map((s) => [s.subscription_id, `${s.partner_id} · ${s.event_type} (${s.subscription_id})`]) }),
      event: field('Event (JSON)', 'event', { kind: 'textarea', rows: 14, hint: 'The producer envelope; eventHeader.uuid is the event id. Sent as typed (numbers exactly as written).' }),
    };
    const summary = h('div', { class: 'summary', tabindex: '-1' });
    const watch = h('div', { 'aria-live': 'polite' });
    let timer = null;
    const stop = () => { if (timer) clearTimeout(timer); timer = null; };
    const fill = async () => {
      const s = subs.find((x) => x.subscription_id === f.sub.control.value);
      let schema = null;
      try {
        const { data } = await get('/admin/schemas');
        const latest = data.schemas.filter((x) => x.event_type === s.event_type && x.status === 'ACTIVE').sort((a, b) => b.version - a.version)[0];
        if (latest) schema = (await get(`/admin/schemas/${seg(latest.schema_id)}`)).data.schema;
      } catch (e) { if (e instanceof ApiError && e.status === 401) throw e; }
      f.event.control.value = JSON.stringify(eventFor(s.event_type, schema), null, 2);
    };
    f.sub.control.addEventListener('change', () => { fill(); });
    const form = h('form', { class: 'form', novalidate: true, 'aria-label': 'Send a test event' }, summary, f.sub.el, f.event.el,
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Send')));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      stop();
      replace(summary);
      replace(watch);
      f.event.setError(null);
      const text = f.event.control.value;
      const parsed = parseJson(text);
      if (parsed.error) { f.event.setError(parsed.error); f.event.control.focus(); return; }
      const subId = f.sub.control.value;
      let answer;
      try {
        answer = await post('/api/v1/events', text, 'api');
      } catch (e) {
        if (!(e instanceof ApiError)) throw e;
        showErrors(summary, f, e, () => 'event');
        return;
      }
      const id = answer.data.id;
      const started = Date.now();
      const status = h('div');
      replace(watch, section('Watching its deliveries',
        notice(answer.data.status === 'duplicate' ? `Event ${id} was accepted before (a duplicate): nothing new is delivered.` : `Event ${id} accepted.`, answer.data.status === 'duplicate' ? 'info' : 'ok'),
        h('details', null, h('summary', null, 'The event as sent'), code(text)),
        status));
      const poll = async () => {
        let rows = [];
        try {
          rows = (await get(`/admin/deliveries?event_id=${seg(id)}`)).data.deliveries;
        } catch (e) { replace(status, errorBox(e, 'Could not read the deliveries')); return; }
        const mine = rows.find((d) => d.subscription_id === subId);
        const final = mine && (mine.status === 'SUCCESS' || mine.status === 'FAILED');
        const late = Date.now() - started > WATCH_MS;
        replace(status,
          rows.length ? table(`Deliveries of ${id}`, ['Partner', 'Subscription', 'Status', 'Attempts', 'Last answer', 'Last error', 'Updated'],
            rows.map((d) => [d.partner_id ?? '—', h('code', null, d.subscription_id), badge(d.status), String(d.attempts),
              d.last_status_code == null ? '—' : String(d.last_status_code), d.last_error ?? '—', fmtTime(d.updated_at)]))
            : muted('No delivery recorded yet.'),
          final ? h('p', { class: 'result', 'data-final': mine.status }, mine.status === 'SUCCESS'
            ? `Delivered to the subscription after ${mine.attempts} attempt${mine.attempts === 1 ? '' : 's'}. `
            : 'The delivery failed for good. ',
          h('a', { href: `#/deliveries/${encodeURIComponent(id)}/${encodeURIComponent(subId)}` }, mine.status === 'SUCCESS' ? 'See its attempts' : 'See its attempts and retry it'), '.')
            : late ? h('p', { class: 'result' }, mine ? 'Still not final after a minute: see Deliveries.' : 'No delivery to this subscription: its filter may not match this event.')
              : muted('Waiting for the delivery to finish…'));
        if (!final && !late) timer = setTimeout(poll, POLL_MS);
      };
      await poll();
    });
    replace(main, page('Send a test event',
      muted('The event goes through the producer API like any other: to every subscription of its type whose filter matches, not only the one chosen.'),
      form, watch));
    await fill();
    return stop;
  },
};
