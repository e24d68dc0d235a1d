#include "app/hl_app_sender.h"

#include "app/hl_app_store.h"
#include "handlers/hl_sender_aws.h"
#include "handlers/hl_sender_http.h"
#include "handlers/hl_sender_route.h"

hl_sender *hl_app_sender_create(uv_loop_t *loop, hl_curl_uv *curl, const hl_config *cfg,
                                const hl_dispatch_options *dopt) {
  hl_sender_http_options ho = {.allow_private_targets = dopt->allow_private_targets,
                               .default_timeout_ms = dopt->default_timeout_ms > 0 ? dopt->default_timeout_ms : 30000,
                               .default_secret = dopt->default_secret,
                               .default_secret_data = dopt->default_secret_data,
                               .tls = dopt->tls};
  hl_sender_aws_options ao = {.creds = hl_app_creds_env(cfg), .region = cfg->aws_region};
  return hl_sender_route_create(hl_sender_http_create(curl, &ho), hl_sender_aws_create(loop, curl, &ao));
}
