/* hl_app_inbox.h — the inbox source (handlers/hl_inbox) wired to the
 * process: its settings from the environment (loop/hl_inbox_conf: the
 * seed's API_BASE_URL, SECRET_ARN, MAX_EVENTS_PER_RUN, and AWS_REGION for
 * Secrets Manager), SECRET_ARN read through the Secrets Manager client
 * (aws/hl_secrets), cached and read again every INBOX_SECRET_TTL_S, the
 * poll timer (INBOX_POLL_INTERVAL_S), and one CloudWatch EMF line per pass
 * on stdout.
 *
 * Used by `hookloop inbox` (one pass, or --poll), `serve` with
 * HOOKLOOP_ROLE=inbox, and the Lambda runtime's scheduled events.
 */
#ifndef HL_APP_INBOX_H
#define HL_APP_INBOX_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "app/hl_config.h"
#include "common/hl_buf.h"
#include "handlers/hl_inbox.h"
#include "loop/hl_curl_uv.h"
#include "store/hl_store.h"

typedef struct hl_app_inbox hl_app_inbox;

/* Whether the environment names an inbox (API_BASE_URL is set). */
bool hl_app_inbox_configured(void);
/* Reads the settings and prepares the source over store and curl
 * (borrowed; they must outlive it). default_secret: WEBHOOK_SECRET_ARN's
 * reader, or NULL. Returns 0, or HL_EINVAL with one line in err naming the
 * variable. */
int hl_app_inbox_open(hl_app_inbox **out, uv_loop_t *loop, hl_curl_uv *curl, hl_store *store, const hl_config *cfg,
                      const char *(*default_secret)(void *data), void *default_secret_data, char *err, size_t errlen);
/* One pass (the secret is read first when it is not in hand); stop_at_ms
 * as in hl_inbox_source_pass. done runs once. A pass asked for while one
 * runs is refused with status HL_EBUSY in the report. */
void hl_app_inbox_pass(hl_app_inbox *a, int64_t stop_at_ms, hl_inbox_pass_cb done, void *data);
/* Passes now and every INBOX_POLL_INTERVAL_S (a tick that finds a pass
 * still running is skipped), until hl_app_inbox_stop; each (may be NULL)
 * hears of every pass. */
void hl_app_inbox_poll(hl_app_inbox *a, hl_inbox_pass_cb each, void *data);
void hl_app_inbox_stop(hl_app_inbox *a);
bool hl_app_inbox_busy(const hl_app_inbox *a);
/* The report as a JSON object (the Lambda answer, `hookloop inbox`'s output). */
void hl_app_inbox_report_json(const hl_inbox_pass_report *r, hl_buf *out);
void hl_app_inbox_render_metrics(const hl_app_inbox *a, hl_buf *out);
void hl_app_inbox_close(hl_app_inbox *a, void (*cb)(void *data), void *data);

/* `hookloop inbox [--poll]`: a process of its own (store, curl, secrets,
 * SIGTERM/SIGINT end a poll after the pass running). Returns the exit code:
 * 0 when the (last) pass ran, 1 when it failed, 2 for bad settings. */
int hl_app_inbox_run(const hl_config *cfg, bool poll);

#endif
