// Subscriptions: the list with each one's state (active, breaker open or
// half open, disabled), create and edit (partner, destination, filter,
// headers, limits, its own transformation), enable, secret rotation and
// delete. Features appear when the API offers them (capabilities.js).
import { get, getTextOrNull, post, del, seg, ApiError } from './api.js';
import { memberText, prettyText, compactText, objectText } from './json-text.js';
import { available, pathOf, labelOf } from './capabilities.js';
import { h, replace, page, notFound, section, table, badge, empty, errorBox, field, showErrors, topMember, parseJson, button, notice, copyButton, nextId } from './ui.js';
import { registerForm as transformationForm } from './page-transformations.js';

const OPTIONAL = ['enableSubscription', 'disableSubscription', 'rotateSecret', 'transformations', 'destinations'];

function unavailableNote() {
  const missing = OPTIONAL.filter((f) => !available(f)).map(labelOf);
  if (!missing.length) return null;
  return h('p', { class: 'muted', id: 'unavailable' },
    `Not offered by this hookloop's API, so not shown: ${missing.join(', ')}. They appear here once GET /openapi.json describes them.`);
}

/** The answer of a create, update or rotation: the secret, shown this once
 * (an update that gave none keeps the secret the partner holds). */
function secretBox(data, verb) {
  return h('div', { class: 'notice ok', role: 'status' },
    h('p', null, `${verb} ${data.subscription_id}.`),
    data.secret
      ? [h('p', null, h('strong', null, 'Signing secret, shown only now: '), h('code', { class: 'secret' }, data.secret), ' ', copyButton(data.secret)),
        h('p', { class: 'muted' }, 'hookloop never shows it again. Give it to the partner to verify webhook-signature.')]
      : h('p', { class: 'muted' }, data.secret_source ? `Signed with the default secret (${data.secret_source}).`
        : data.signing === 'hmac' ? 'The signing secret is unchanged: the partner keeps verifying with the one it has.' : ''));
}

const BREAKER = { open: 'breaker open', half_open: 'breaker half open' };

/** Whether its deliveries are held back: disabled, or its breaker not closed. */
const heldBack = (s) => s.status === 'DISABLED' || (s.breaker && s.breaker.state !== 'closed');

function stateOf(s) {
  const out = [badge(s.status)];
  const b = s.breaker;
  if (b && BREAKER[b.state]) out.push(' ', h('span', { class: `badge ${b.state === 'open' ? 'bad' : 'wait'}` }, BREAKER[b.state]));
  if (b && b.consecutive_failures) out.push(h('span', { class: 'cell-note' }, `${b.consecutive_failures} failed in a row`));
  return out;
}

const DEST_LABEL = { sns: 'SNS topic', sqs: 'SQS queue', eventbridge: 'EventBridge bus' };
function destinationText(s) {
  const d = s.destination;
  if (!d) return h('span', { class: 'url' }, s.url ?? '—');
  const where = d.type === 'sns' ? d.topic_arn : d.type === 'sqs' ? d.queue_url : `${d.bus || 'default bus'}, source ${d.source}`;
  return [h('span', { class: 'badge plain' }, DEST_LABEL[d.type] || d.type), ' ', h('span', { class: 'url' }, where)];
}

async function list(main, ctx, query) {
  const [{ data }, schemas] = await Promise.all([get('/admin/subscriptions'), get('/admin/schemas')]);
  const subs = data.subscriptions.slice().sort((a, b) => `${a.partner_id}/${a.event_type}`.localeCompare(`${b.partner_id}/${b.event_type}`));
  const banner = h('div', { tabindex: '-1' });
  const rowActions = (s) => {
    const box = h('div', { class: 'row-actions' });
    const askDelete = button('Delete', () => {
      replace(box, h('span', null, 'Delete this subscription? '),
        button('Yes, delete', async () => {
          try {
            await del(`/admin/subscriptions/${seg(s.subscription_id)}`);
            ctx.go(`#/subscriptions?deleted=${encodeURIComponent(s.subscription_id)}`);
          } catch (e) { replace(banner, errorBox(e, 'Not deleted')); banner.focus(); }
        }, 'danger'),
        button('Keep it', () => { replace(box, ...normal()); box.querySelector('a,button').focus(); }));
      box.querySelector('button').focus();
    }, 'danger');
    const act = (f, after) => button(labelOf(f), async () => {
      try {
        const { data: r } = await post(pathOf(f, { id: s.subscription_id }), '');
        after(r);
      } catch (e) { replace(banner, errorBox(e, `${labelOf(f)} failed`)); banner.focus(); }
    });
    const normal = () => [
      h('a', { href: `#/subscriptions/${encodeURIComponent(s.subscription_id)}`, class: 'button' }, 'Edit'),
      h('a', { href: `#/send?subscription=${encodeURIComponent(s.subscription_id)}`, class: 'button' }, 'Send test'),
      // Enabling resumes a disabled subscription and closes an open
      // breaker; on one that delivers it would change nothing.
      available('enableSubscription') && heldBack(s)
        ? act('enableSubscription', () => ctx.go(`#/subscriptions?enabled=${encodeURIComponent(s.subscription_id)}`)) : null,
      available('disableSubscription') && s.status !== 'DISABLED'
        ? act('disableSubscription', () => ctx.go(`#/subscriptions?disabled=${encodeURIComponent(s.subscription_id)}`)) : null,
      available('rotateSecret')
        ? act('rotateSecret', (r) => { replace(banner, secretBox({ ...r, subscription_id: s.subscription_id }, labelOf('rotateSecret'))); banner.focus(); }) : null,
      askDelete];
    replace(box, ...normal());
    return box;
  };
  const done = [['deleted', 'Deleted'], ['enabled', 'Enabled'], ['disabled', 'Disabled']].filter(([k]) => query.get(k))
    .map(([k, verb]) => notice(`${verb} ${query.get(k)}.${k === 'enabled' ? ' Its breaker is closed and its held deliveries are being attempted.' : ''}`, 'ok'));
  const partnerCell = (s) => (available('partners') ? h('a', { href: `#/partners/${encodeURIComponent(s.partner_id)}` }, s.partner_id) : s.partner_id);
  replace(main, page('Subscriptions',
    banner, done,
    h('p', null, h('a', { href: '#/subscriptions/new', class: 'button primary' }, 'New subscription')),
    subs.length === 0
      ? empty(schemas.data.schemas.length
        ? 'No subscription yet: no partner receives anything. Create the first one.'
        : 'No subscription yet, and no schema: register an event type first, then subscribe partners to it.',
      h('a', { href: schemas.data.schemas.length ? '#/subscriptions/new' : '#/schemas' }, schemas.data.schemas.length ? 'New subscription' : 'Register a schema'))
      : table('Subscriptions', ['Partner', 'Event type', 'Destination', 'State', 'Limits', 'Id', 'Actions'],
        subs.map((s) => [partnerCell(s), s.event_type, destinationText(s), h('div', { class: 'state', 'data-status': s.status, 'data-breaker': s.breaker?.state ?? '' }, stateOf(s)),
          `${s.max_in_flight} in flight · ${s.rate_limit_per_s ? `${s.rate_limit_per_s}/s` : 'no rate limit'} · ${s.timeout_ms} ms`,
          h('code', null, s.subscription_id), rowActions(s)])),
    unavailableNote()));
}

function headerRows(initial) {
  const rows = h('div', { class: 'header-rows' });
  const addRow = (name = '', value = '', redacted = false) => {
    const id = nextId('hdr');
    const row = h('div', { class: 'header-row', 'data-header': '' },
      h('label', { for: `${id}-n`, class: 'sr-only' }, 'Header name'),
      h('input', { id: `${id}-n`, class: 'h-name', placeholder: 'name', value: name, autocomplete: 'off' }),
      h('label', { for: `${id}-v`, class: 'sr-only' }, 'Header value'),
      h('input', { id: `${id}-v`, class: 'h-value', placeholder: redacted ? 'enter the value again (never shown)' : 'value', value, autocomplete: 'off' }),
      button('Remove', () => { row.remove(); }, 'small'));
    rows.append(row);
    return row;
  };
  for (const [n, v] of Object.entries(initial || {})) addRow(n, v === 'REDACTED' ? '' : v, v === 'REDACTED');
  const adder = button('Add a header', () => addRow().querySelector('input').focus(), 'small');
  const read = () => {
    const out = {};
    for (const r of rows.querySelectorAll('[data-header]')) {
      const n = r.querySelector('.h-name').value.trim();
      if (n) out[n] = r.querySelector('.h-value').value;
    }
    return out;
  };
  return { rows, adder, read };
}

// Where deliveries go: an HTTP URL, or (when offered) an SNS topic, an SQS
// queue or an EventBridge bus, each with its own members. Returns the
// fields (keyed by their pointer under the body, "url" or
// "destination/<member>") and read() -> the body's url or destination.
const DEST_MEMBERS = {
  http: [],
  sns: [['topic_arn', 'Topic ARN', 'arn:aws:sns:<region>:<account>:<name>', true], ['group_id_pointer', 'Group id pointer', 'FIFO topics only: JSON pointer of the MessageGroupId; default: the event type']],
  sqs: [['queue_url', 'Queue URL', 'https://sqs.<region>.amazonaws.com/<account>/<name>', true], ['group_id_pointer', 'Group id pointer', 'FIFO queues only: JSON pointer of the MessageGroupId; default: the event type']],
  eventbridge: [['source', 'Source', 'e.g. com.example.payments', true], ['bus', 'Bus', 'name or ARN; empty: the default bus'], ['detail_type', 'Detail type', 'empty: the event type']],
};
function destinationFields(s) {
  const current = s?.destination?.type || 'http';
  const kinds = available('destinations') ? ['http', 'sns', 'sqs', 'eventbridge'] : ['http'];
  const names = { http: 'HTTP endpoint (URL)', ...DEST_LABEL };
  const f = {
    dest_type: field('Delivered to', 'dest_type', { kind: 'select', value: current, options: kinds.map((k) => [k, names[k]]) }),
    url: field('URL', 'url', { kind: 'url', value: s?.url ?? '', required: true,
      hint: s?.url?.includes('REDACTED@') ? 'The URL\'s user and password are not shown: type them again.' : 'http(s) URL the events are POSTed to.' }),
  };
  const members = new Map();
  for (const [type, list] of Object.entries(DEST_MEMBERS)) {
    for (const [m, label, hint, required] of list) {
      const key = `destination/${m}`;
      if (!f[key]) f[key] = field(label, `destination-${m}`, { value: s?.destination?.[m] ?? '', hint, required });
      members.set(key, [...(members.get(key) || []), type]);
    }
  }
  const show = () => {
    const t = f.dest_type.control.value;
    f.url.el.hidden = t !== 'http';
    for (const [key, types] of members) f[key].el.hidden = !types.includes(t);
  };
  f.dest_type.control.addEventListener('change', show);
  show();
  const read = () => {
    const t = f.dest_type.control.value;
    if (t === 'http') return { url: f.url.control.value.trim() };
    const d = { type: t };
    for (const [m] of DEST_MEMBERS[t]) {
      const v = f[`destination/${m}`].control.value.trim();
      if (v) d[m] = v;
    }
    return { destination: d };
  };
  const els = [f.dest_type.el, f.url.el, ...[...members.keys()].map((k) => f[k].el)];
  return { f, els, read };
}

/** The subscription's own transformation (its latest version) and its spec's text, or null. */
async function ownTransformation(id) {
  if (!id || !available('transformations')) return null;
  const got = await getTextOrNull(`/admin/transformations/${seg(`subscription:${id}`)}`);
  return got && !got.data.removed ? { version: got.data.version, spec: memberText(got.text, 'spec') } : null;
}

// Members the form does not edit: carried from the GET answer as their
// text, since a save replaces the whole subscription and a member left out
// gets its default (an ed25519 subscription would become hmac, with a new
// secret; a fifo one unordered).
const KEPT = ['signing', 'ordering', 'skip_after', 'enrichment'];

async function edit(main, ctx, id) {
  const [schemas, partners] = await Promise.all([get('/admin/schemas'),
    available('partners') ? get('/admin/partners') : Promise.resolve({ data: { partners: [] } })]);
  let s = null, sText = '';
  if (id !== 'new') {
    const got = await getTextOrNull(`/admin/subscriptions/${seg(id)}`);
    if (!got) { notFound(main, 'Subscription not found', `No subscription ${id}.`, '#/subscriptions'); return; }
    ({ data: s, text: sText } = got);
  }
  const xform = await ownTransformation(s?.subscription_id);
  const types = [...new Set(schemas.data.schemas.map((x) => x.event_type))].sort();
  if (!s && types.length === 0) {
    replace(main, page('New subscription', empty('Register an event type first: a subscription is to one event type.', h('a', { href: '#/schemas' }, 'Register a schema'))));
    return;
  }
  const partnerList = nextId('partners');
  const dest = destinationFields(s);
  const f = {
    partner_id: field('Partner id', 'partner_id', { value: s?.partner_id, required: true, attrs: { list: partnerList },
      hint: 'A registered partner (see Partners), or a new id (letters, digits, . _ -). The same partner and event type again updates that subscription.' }),
    event_type: field('Event type', 'event_type', { kind: 'select', options: types.map((t) => [t, t]), value: s?.event_type || types[0], required: true }),
    ...dest.f,
    secret: field('Secret', 'secret', { kind: 'password', hint: s ? 'Empty: the current secret is kept (it is never shown). Or whsec_ + base64 to replace it.' : 'Empty: one is generated and shown once. Or whsec_ + base64.' }),
    filter: field('Filter', 'filter', { kind: 'textarea', rows: 4, value: s?.filter ? prettyText(memberText(sText, 'filter')) : '', hint: 'Optional JSON: {"/pointer": value or {"$gte": 10}, ...}; all must match.' }),
    max_in_flight: field('Max in flight', 'max_in_flight', { kind: 'number', value: s ? String(s.max_in_flight) : '', hint: '1–100000; default 256' }),
    rate_limit_per_s: field('Rate limit per second', 'rate_limit_per_s', { kind: 'number', value: s ? String(s.rate_limit_per_s) : '', hint: '0: none' }),
    timeout_ms: field('Timeout (ms)', 'timeout_ms', { kind: 'number', value: s ? String(s.timeout_ms) : '', hint: '100–300000; default 30000' }),
    retry_schedule: field('Retry schedule', 'retry_schedule', { value: s?.retry_schedule || '', hint: 'e.g. 1s,5s,30s,2m; empty: the process default' }),
    // The API never shows a client certificate, so an edit cannot carry it
    // over: rather than drop it unseen, saving without it is refused.
    client_certificate: field('Client certificate (PEM)', 'client_certificate', { kind: 'textarea', rows: 4,
      hint: s?.client_certificate
        ? `Now ${s.client_certificate.subject ?? 'set'}${s.client_certificate.not_after ? `, valid until ${s.client_certificate.not_after}` : ''}. Never shown: enter it and its key again to keep it, or tick "Remove it".`
        : 'Optional, for an https:// partner that asks for one (mTLS), with its private key.' }),
    client_key: field('Its private key (PEM)', 'client_key', { kind: 'textarea', rows: 4, hint: 'Sealed at rest like the secret; never shown.' }),
  };
  if (s?.client_certificate) f.drop_client_certificate = field('Remove it', 'drop_client_certificate', { kind: 'checkbox' });
  if (available('transformations')) {
    f.transformation = field('Its own transformation (JSON spec)', 'transformation', { kind: 'textarea', rows: 6, value: xform ? prettyText(xform.spec) : '',
      hint: `Optional (docs/transformations.md). Registered as the next version of this subscription's transformation once it is saved${xform ? ` (now version ${xform.version})` : ''}; empty it to remove it. An event type's transformation runs first.` });
  }
  const hdr = headerRows(s?.headers);
  const headersFieldErr = h('div', { class: 'field-error', id: 'headers-err', 'aria-live': 'polite' });
  f.headers = { el: null, control: hdr.adder, setError: (l) => replace(headersFieldErr, l == null ? null : [].concat(l).join('; ')) };
  const summary = h('div', { class: 'summary', tabindex: '-1' });
  const form = h('form', { class: 'form', novalidate: true, 'aria-label': s ? 'Edit the subscription' : 'New subscription' },
    summary,
    f.partner_id.el, h('datalist', { id: partnerList }, partners.data.partners.map((p) => h('option', { value: p.partner_id }, p.name || p.partner_id))),
    f.event_type.el,
    h('fieldset', { class: 'field' }, h('legend', null, 'Destination'), dest.els),
    h('fieldset', { class: 'field' }, h('legend', null, 'TLS client certificate'), f.client_certificate.el, f.client_key.el,
      f.drop_client_certificate ? f.drop_client_certificate.el : null),
    f.secret.el,
    h('fieldset', { class: 'field', 'aria-describedby': 'headers-err' }, h('legend', null, 'Headers sent with every delivery'),
      s && Object.keys(s.headers || {}).length ? h('p', { class: 'hint' }, 'Header values are never shown: enter them again, or they are sent empty.') : null,
      hdr.rows, hdr.adder, headersFieldErr),
    f.filter.el,
    h('fieldset', { class: 'field' }, h('legend', null, 'Limits'), f.max_in_flight.el, f.rate_limit_per_s.el, f.timeout_ms.el, f.retry_schedule.el),
    f.transformation ? f.transformation.el : null,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, s ? 'Save' : 'Create'),
      h('a', { href: '#/subscriptions', class: 'button' }, 'Cancel')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(summary);
    for (const x of Object.values(f)) x.setError(null);
    const body = { partner_id: f.partner_id.control.value.trim(), event_type: f.event_type.control.value, ...dest.read() };
    if (f.secret.control.value) body.secret = f.secret.control.value;
    const headers = hdr.read();
    if (Object.keys(headers).length) body.headers = headers;
    // JSON typed in the form is checked here and sent as typed (json-text.js).
    const typedJson = {};
    for (const k of ['filter', 'transformation']) {
      if (!f[k] || !f[k].control.value.trim()) continue;
      const p = parseJson(f[k].control.value);
      if (p.error) { f[k].setError(p.error); f[k].control.focus(); return; }
      typedJson[k] = f[k].control.value.trim();
    }
    const raw = { filter: typedJson.filter };
    for (const k of KEPT) {
      const r = s ? memberText(sText, k) : undefined;
      if (r !== undefined && r !== 'null') raw[k] = r;
    }
    const certificate = f.client_certificate.control.value, privateKey = f.client_key.control.value;
    if (certificate.trim() || privateKey.trim()) body.client_certificate = { certificate, private_key: privateKey };
    else if (s?.client_certificate && !f.drop_client_certificate.control.checked) {
      f.client_certificate.setError('Saving replaces the whole subscription and the current certificate is never shown: enter it again, with its key, or tick "Remove it".');
      f.client_certificate.control.focus();
      return;
    }
    for (const k of ['max_in_flight', 'rate_limit_per_s', 'timeout_ms']) {
      const v = f[k].control.value.trim();
      if (v !== '') body[k] = /^-?\d+$/.test(v) ? Number(v) : v;
    }
    if (f.retry_schedule.control.value.trim()) body.retry_schedule = f.retry_schedule.control.value.trim();
    let answer;
    try {
      answer = await post('/admin/subscriptions', objectText(body, raw));
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      showErrors(summary, f, e, (d) => {
        const top = topMember(d.path);
        if (top === 'client_certificate') return d.path.endsWith('/private_key') ? 'client_key' : 'client_certificate';
        if (top !== 'destination') return top;
        const m = d.path.split('/')[2];
        return f[`destination/${m}`] ? `destination/${m}` : 'dest_type';
      });
      if (e.code === 'unknown_event_type') f.event_type.setError(e.message);
      if (e.code === 'invalid_filter') f.filter.setError(e.message);
      if (e.code === 'unknown_partner') f.partner_id.setError(e.message);
      return;
    }
    const { status, data } = answer;
    // The transformation is versioned on its own: registered once the
    // subscription exists, through the transformation form, whose errors
    // (pointers under /spec) then show next to the spec, under the secret.
    const xformBox = h('div');
    const typed = typedJson.transformation || '';
    const changed = f.transformation && (typed ? compactText(typed) !== (xform ? compactText(xform.spec) : null) : !!xform);
    replace(main, page(status === 201 ? 'Subscription created' : 'Subscription saved',
      secretBox(data, status === 201 ? 'Created' : 'Saved'), xformBox,
      h('p', null, h('a', { href: '#/subscriptions' }, 'Back to the subscriptions'), ' · ',
        h('a', { href: `#/send?subscription=${encodeURIComponent(data.subscription_id)}` }, 'Send a test event to it'))));
    document.getElementById('page-title').focus();
    if (changed) {
      const tform = transformationForm({ target: { subscription_id: data.subscription_id }, spec: typed, label: 'Register the transformation' },
        (t) => replace(xformBox, notice(t.removed ? `Removed its transformation (version ${t.version}).` : `Registered its transformation, version ${t.version}.`, 'ok')));
      replace(xformBox, section('Its transformation', tform));
      tform.requestSubmit();
    }
  });
  replace(main, page(s ? `Subscription of ${s.partner_id} to ${s.event_type}` : 'New subscription',
    h('p', null, h('a', { href: '#/subscriptions' }, '← All subscriptions')),
    s ? h('p', { class: 'muted' }, 'Id ', h('code', null, s.subscription_id), ', egress topic ', h('code', null, s.egress_topic), '. State: ', stateOf(s), '.') : null,
    s ? h('div', { class: 'notice info', role: 'note' },
      h('p', null, h('strong', null, 'Saving replaces the whole subscription'), ' (the API has no partial update): leave Secret empty to keep the current signing secret or key pair, or enter one to replace it (Rotate secret keeps the old one valid meanwhile). Signing, ordering, skip_after and enrichment are kept as they are. Header values, URL credentials and the client certificate are never shown, so enter them again.')) : null,
    form, unavailableNote()));
}

export default {
  title: 'Subscriptions',
  async render(main, { rest, query }, ctx) {
    if (rest[0]) await edit(main, ctx, rest[0]);
    else await list(main, ctx, query);
  },
};
