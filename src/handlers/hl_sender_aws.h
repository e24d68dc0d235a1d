/* hl_sender_aws.h — the SNS, SQS and EventBridge sender: one AWS call per
 * attempt, for subscriptions with a destination (model/hl_destination.h).
 *
 *   sns          Publish (Query protocol)
 *   sqs          SendMessage (JSON protocol)
 *   eventbridge  PutEvents (JSON protocol), one entry per delivery
 *
 * The message (SNS Message, SQS MessageBody, EventBridge Detail) is the
 * event's accepted bytes, exactly. SNS and SQS messages carry the String
 * attributes webhook-id (the event id), event_type and webhook-timestamp
 * (Unix seconds of the attempt); a FIFO topic or queue gets
 * MessageGroupId = the value at the destination's group_id_pointer in the
 * event (a string, or a number's text), else the event type, and
 * MessageDeduplicationId = the event id, so an attempt made again (a
 * retry, a restart) is taken once by the service within its five-minute
 * deduplication window. EventBridge entries carry the destination's
 * source, detail type (default: the event type) and bus.
 *
 * Each call is made once (max_attempts 1): retries, backoff, dead-lettering,
 * statuses, metrics and rate limits are the dispatcher's, as for HTTP. The
 * verdict is the AWS client's classification: throttling, 5xx, timeouts
 * and connection faults RETRY; validation, access denied and not found
 * FAIL; an EventBridge entry refused in a 200 answer counts as the call's
 * answer (ThrottlingException, InternalFailure RETRY; others FAIL). A
 * message the service could never take (not UTF-8 text, over 256 KiB, a
 * FIFO group id the event lacks, an EventBridge detail that is not a JSON
 * object) FAILs before any call.
 *
 * Finding a FIFO group id at a pointer and checking an EventBridge detail
 * parse the whole body, on every attempt: a body over
 * HL_EVENT_INLINE_BYTES is read on the libuv threadpool from a copy and
 * the call made from the loop when that is done (a request cancelled, or
 * the sender closed, meanwhile: the result is dropped); a smaller one on
 * the loop. The outcomes are the same. The sender's metric
 * hookloop_aws_body_reads_total{where="loop"|"threadpool"} counts them.
 *
 * Calls are signed for the destination's own region (the topic's or bus's
 * ARN, the queue URL's host), AWS_REGION when it names none (a bus by
 * name). Endpoints follow the SDK convention (aws/hl_aws_endpoint.h):
 * AWS_ENDPOINT_URL_SNS / _SQS / _EVENTBRIDGE, then AWS_ENDPOINT_URL, then
 * the regional endpoint of that region. The credentials chain and one
 * client per service and region are set up on the first delivery that
 * needs them, so a process with HTTP subscriptions
 * only needs no AWS settings; when they are missing, such deliveries FAIL
 * naming the setting.
 */
#ifndef HL_SENDER_AWS_H
#define HL_SENDER_AWS_H

#include <uv.h>

#include "aws/hl_aws_creds.h"
#include "aws/hl_aws_endpoint.h"
#include "handlers/hl_sender.h"
#include "loop/hl_curl_uv.h"

typedef struct {
  hl_aws_creds_env creds;   /* strings borrowed: they must outlive the sender */
  const char *region;       /* AWS_REGION (borrowed) */
  hl_aws_getenv_fn env;     /* endpoint variables; NULL: getenv */
  void *env_data;
  long timeout_ms;          /* per call; 0: 10000 */
} hl_sender_aws_options;

/* A sender over curl on loop (both borrowed; they must outlive it). */
hl_sender *hl_sender_aws_create(uv_loop_t *loop, hl_curl_uv *curl, const hl_sender_aws_options *opt);

#endif
