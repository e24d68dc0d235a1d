// Overview: live figures from GET /admin/stats, polled every few seconds.
// Rates are differences between two polls (the counters count since the
// process started).
import { get, ApiError } from './api.js';
import { available } from './capabilities.js';
import { h, replace, page, section, table, badge, empty, errorBox, muted } from './ui.js';
import { sparkline } from './chart.js';

const EVERY_MS = 3000;
const KEEP = 40;

const attemptsOf = (c) => c.deliveries_success + c.deliveries_retry + c.deliveries_failed;

function card(title, value, sub, chart) {
  return h('div', { class: 'card' }, h('h3', null, title), h('p', { class: 'big' }, value), sub ? h('p', { class: 'muted' }, sub) : null, chart || null);
}

const fmtRate = (v) => (v == null ? '—' : v < 10 ? v.toFixed(2) : v.toFixed(0));
const fmtPct = (v) => (v == null ? '—' : `${(v * 100).toFixed(1)} %`);
const fmtNum = (v) => (v == null ? '—' : String(v));

export default {
  title: 'Overview',
  async render(main) {
    const figures = h('div', { class: 'cards', 'aria-live': 'off' });
    const subs = h('div');
    const status = h('p', { class: 'muted', role: 'status' });
    replace(main, page('Overview',
      muted(`Live figures of this hookloop process, refreshed every ${EVERY_MS / 1000} s. Rates are over the last interval.`),
      status, figures, section('Per subscription', subs)));
    if (!available('stats')) {
      replace(figures, empty('This hookloop does not offer GET /admin/stats; see /metrics instead.'));
      return undefined;
    }
    const hist = { rate: [], success: [], inflight: [], backlog: [] };
    let prev = null;
    const push = (k, v) => { hist[k].push(v); if (hist[k].length > KEEP) hist[k].shift(); };

    let timer = null;
    let refused = false;
    async function tick() {
      let s;
      try {
        s = (await get('/admin/stats')).data;
      } catch (e) {
        replace(status, errorBox(e, 'Could not read the figures'));
        // A 401 opened the token prompt (api.js): asking again every few
        // seconds would only be refused again. A token given renders the
        // page anew, which polls again.
        if (e instanceof ApiError && e.status === 401) { refused = true; clearInterval(timer); }
        return;
      }
      const c = s.counters;
      let rate = null, success = null;
      if (prev && c && prev.counters) {
        const dt = (s.now_ms - prev.now_ms) / 1000;
        const da = attemptsOf(c) - attemptsOf(prev.counters);
        if (dt > 0) rate = Math.max(0, da / dt);
        if (da > 0) success = (c.deliveries_success - prev.counters.deliveries_success) / da;
      }
      prev = s;
      push('rate', rate); push('success', success); push('inflight', s.in_flight); push('backlog', s.backlog);
      const total = c ? attemptsOf(c) : null;
      replace(status, `Updated ${new Date(s.now_ms).toLocaleTimeString()} · store ${s.store}, queue ${s.queue}`);
      replace(figures,
        card('Deliveries/s', fmtRate(rate), c ? `${total} attempts in all` : 'not counted by this process', sparkline(hist.rate, { n: KEEP, label: 'deliveries per second, recent' })),
        card('Success rate', fmtPct(success), c && total ? `${fmtPct(c.deliveries_success / total)} since start` : 'no attempt yet', sparkline(hist.success, { n: KEEP, max: 1, label: 'success rate, recent' })),
        card('Retries', fmtNum(c ? c.events_to_retry : null), 'attempts that ended in a scheduled retry'),
        card('Dead letters', fmtNum(c ? c.events_to_dlq : null), 'deliveries failed for good'),
        card('In flight', fmtNum(s.in_flight), `${fmtNum(s.in_memory)} held in memory`, sparkline(hist.inflight, { n: KEEP, label: 'requests in flight, recent' })),
        card('Backlog', fmtNum(s.backlog), 'deliveries not yet final, all subscriptions', sparkline(hist.backlog, { n: KEEP, label: 'backlog, recent' })));
      replace(subs, s.subscriptions.length === 0
        ? empty('No subscriptions yet.', h('a', { href: '#/subscriptions' }, 'Create one'))
        : [table('Figures per subscription', ['Partner', 'Event type', 'State', 'In flight', 'Held in memory'],
            s.subscriptions.map((x) => [x.partner_id, x.event_type, badge(x.status), fmtNum(x.in_flight), fmtNum(x.in_memory)])),
          muted('Per subscription, hookloop reports the deliveries in flight and held in memory (waiting for a slot or a retry due soon); the store\'s backlog is counted for all subscriptions together.')]);
    }
    await tick();
    if (!refused) timer = setInterval(tick, EVERY_MS);
    return () => clearInterval(timer);
  },
};
