/* hl_app_sender.h — the dispatcher's sender for serve and lambda: webhooks
 * over HTTP (handlers/hl_sender_http) for subscriptions with a url, SNS,
 * SQS and EventBridge (handlers/hl_sender_aws) for those with a
 * destination, behind one router (handlers/hl_sender_route). */
#ifndef HL_APP_SENDER_H
#define HL_APP_SENDER_H

#include <uv.h>

#include "app/hl_config.h"
#include "handlers/hl_dispatch.h"

/* The HTTP sender's settings come from dopt (as the dispatcher's own
 * default would take them), the AWS sender's from cfg (credentials chain,
 * AWS_REGION; endpoints from the environment). loop, curl and cfg must
 * outlive the sender; the dispatcher takes it (dopt->sender). */
hl_sender *hl_app_sender_create(uv_loop_t *loop, hl_curl_uv *curl, const hl_config *cfg,
                                const hl_dispatch_options *dopt);

#endif
