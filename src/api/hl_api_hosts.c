/* hl_api_hosts.c — GET /admin/hosts: every destination host the
 * dispatcher knows, with its circuit breaker (shared by the subscriptions
 * delivering there) and, with HOOKLOOP_ADAPTIVE_CONCURRENCY, its AIMD
 * limit. Read from memory on the loop, like /admin/stats. */
#include "api/hl_api_int.h"
#include "api/hl_api_respond.h"
#include "common/hl_common.h"

void hl_api_hosts(hl_api *a, hl_http_req *req) {
  hl_buf b = HL_BUF_INIT;
  hl_jw w;
  hl_jw_open(&w, &b);
  hl_jw_key_arr(&w, "hosts");
  if (a->dispatch) {
    uint64_t now = uv_now(a->dispatch->loop);
    size_t it = 0;
    void *v;
    while (hl_strmap_next(&a->dispatch->hosts.by_key, &it, NULL, &v)) {
      hl_host *host = v;
      hl_jw_obj_begin(&w);
      hl_host_write(&w, host, now);
      hl_jw_key_arr(&w, "subscription_ids");
      for (size_t i = 0; i < host->subs.n; i++) hl_jw_str(&w, host->subs.items[i]->rec.subscription_id);
      hl_jw_arr_end(&w);
      hl_jw_obj_end(&w);
    }
  }
  hl_jw_arr_end(&w);
  hl_jw_key_bool(&w, "adaptive_concurrency", a->dispatch && a->dispatch->hosts.cfg.adaptive);
  hl_jw_obj_end(&w);
  hl_api_respond_buf(req, 200, &b);
}
