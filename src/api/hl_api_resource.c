/* hl_api_resource.c — what the routes on one subscription or partner
 * share: the subscription a path names (or its 404), and a DELETE answered
 * once the store has deleted the record.
 *
 * Below every resource's file (hl_api_subs.c, hl_api_partners.c,
 * hl_api_signing.c, ...): they call it and it calls none of them, so the
 * room has no circle. */
#include "api/hl_api_int.h"
#include "common/hl_common.h"
#include "common/hl_log.h"

#include <stdio.h>

/* A DELETE in the store, then out of the registry; 204. Not found in the
 * store counts as deleted (a partner only implied was never stored). */
typedef struct {
  hl_api *a;
  hl_http_req *req;
  char *id;
  bool (*forget)(hl_registry *r, const char *id);
  const char *noun; /* "subscription", "partner": the log line and its id member */
} delete_ctx;

static void on_deleted(void *data, int status, hl_store_result *res) {
  delete_ctx *c = data;
  (void)res;
  c->a->pending--;
  if (status == 0 || status == HL_ENOTFOUND) {
    c->forget(c->a->reg, c->id);
    char msg[64];
    snprintf(msg, sizeof msg, "%s deleted", c->noun);
    hl_log_info(msg, "\"%s_id\":\"%s\"", c->noun, hl_log_esc(c->id, (size_t)-1));
    hl_http_respond(c->req, 204, NULL, 0, NULL, 0);
  } else {
    hl_api_respond_store_error(c->req, status);
  }
  hl_free(c->id);
  hl_free(c);
}

hl_store_cb hl_api_delete_begin(hl_api *a, hl_http_req *req, const char *id,
                                bool (*forget)(hl_registry *r, const char *id), const char *noun, void **data) {
  delete_ctx *c = hl_malloc(sizeof *c);
  *c = (delete_ctx){a, req, hl_strdup(id), forget, noun};
  a->pending++;
  *data = c;
  return on_deleted;
}

hl_sub *hl_api_sub_or_404(hl_api *a, hl_http_req *req, const char *id) {
  hl_sub *s = hl_registry_sub_get(a->reg, id);
  if (!s)
    hl_api_respond_error(req, 404, "not_found", "no subscription with this id; list them with GET /admin/subscriptions", NULL);
  return s;
}
