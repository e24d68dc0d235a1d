// Deliveries page, "Recover a time range": re-queues every FAILED delivery
// of one subscription whose last change falls in a range
// (POST /admin/subscriptions/{id}/recover), then follows the job's
// progress (GET on the same path) until it is finished. Kept in its own
// file so the page only places the section.
import { get, post, seg, ApiError } from './api.js';
import { available } from './capabilities.js';
import { h, replace, section, muted, field, errorBox, notice, fmtTime, showErrors, topMember } from './ui.js';

const POLL_MS = 1000;
const recoverPath = (sub) => `/admin/subscriptions/${seg(sub)}/recover`;

/** The job's progress as facts; data-state carries its state for tests and styles. */
function progressView(job) {
  const running = !job.finished;
  const counts = `${job.matched} found, ${job.requeued} re-queued, ${job.skipped} skipped, ${job.errors} not re-queued`;
  return h('div', { class: 'recover-progress', 'data-state': job.state },
    job.state === 'done' ? notice(`Recovery finished: ${counts}. Re-queued deliveries are attempted again with their webhook-id; search again to see their state.`, 'ok')
      : running ? notice(`Recovering… ${counts} so far.`, 'info')
        : h('div', { class: 'error-box', role: 'alert' },
          `Recovery ${job.state}${job.error ? `: ${job.error}` : ''}. ${counts}. Post the range again to take what is still FAILED.`),
    h('dl', { class: 'facts' },
      h('dt', null, 'Job'), h('dd', null, h('code', null, job.job_id)),
      h('dt', null, 'Subscription'), h('dd', null, h('code', null, job.subscription_id)),
      h('dt', null, 'State'), h('dd', { 'data-field': 'state' }, job.state),
      h('dt', null, 'Range'), h('dd', null, `${fmtTime(job.since)} – ${fmtTime(job.until)}`),
      h('dt', null, 'Found FAILED'), h('dd', { 'data-field': 'matched' }, String(job.matched)),
      h('dt', null, 'Re-queued'), h('dd', { 'data-field': 'requeued' }, String(job.requeued)),
      h('dt', null, 'Skipped'), h('dd', { 'data-field': 'skipped' }, String(job.skipped)),
      h('dt', null, 'Errors'), h('dd', { 'data-field': 'errors' }, String(job.errors)),
      h('dt', null, 'Started'), h('dd', null, fmtTime(job.started_at)),
      h('dt', null, 'Finished'), h('dd', null, fmtTime(job.finished_at))));
}

/** Shows the job of sub in box, again every POLL_MS while it runs and the box is on the page. */
async function follow(box, sub) {
  for (;;) {
    let job;
    try {
      job = (await get(recoverPath(sub))).data;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return; /* the token prompt is open (api.js) */
      if (e instanceof ApiError && e.status === 404) { replace(box); return; }
      replace(box, errorBox(e, 'The recovery\'s progress could not be read'));
      return;
    }
    if (!box.isConnected) return;
    replace(box, progressView(job));
    if (job.finished) return;
    await new Promise((resolve) => { setTimeout(resolve, POLL_MS); });
    if (!box.isConnected) return;
  }
}

/** The section for the deliveries page; subscription_id of the query fills the form and shows its newest job. */
export function recoverSection(query) {
  if (!available('recover')) return section('Recover a time range', muted('Not offered by this hookloop\'s API.'));
  const sub = query.get('subscription_id') || '';
  const f = {
    subscription: field('Subscription to recover', 'recover_subscription', { value: sub, required: true }),
    since: field('Range start (failed at or after)', 'since', {
      value: new Date(Date.now() - 24 * 3600 * 1000).toISOString(), required: true,
      hint: 'RFC 3339 (2026-11-29T08:00:00Z) or milliseconds since the epoch.',
    }),
    until: field('Range end (failed at or before)', 'until', { hint: 'Empty: until now.' }),
  };
  const summary = h('div', { tabindex: '-1' });
  const box = h('div', { 'aria-live': 'polite' });
  const form = h('form', { class: 'form', 'aria-label': 'Recover a time range' },
    h('p', { class: 'hint' }, 'Re-queues every FAILED delivery of the subscription whose last attempt failed in the range, in the background.'),
    f.subscription.el, f.since.el, f.until.el, summary,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Recover')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    for (const x of Object.values(f)) x.setError(null);
    replace(summary);
    const id = f.subscription.control.value.trim();
    if (!id) { f.subscription.setError('Enter a subscription id.'); f.subscription.control.focus(); return; }
    const body = { since: f.since.control.value.trim(), status: ['FAILED'] };
    if (f.until.control.value.trim()) body.until = f.until.control.value.trim();
    try {
      await post(recoverPath(id), body);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return;
      if (e instanceof ApiError && e.status === 404) { f.subscription.setError(e.message); f.subscription.control.focus(); return; }
      showErrors(summary, f, e, (d) => topMember(d.path));
      return;
    }
    await follow(box, id);
  });
  if (sub) follow(box, sub);
  return section('Recover a time range', form, box);
}
