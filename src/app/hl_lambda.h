/* hl_lambda.h — `hookloop lambda` (and the binary started as `bootstrap`):
 * an AWS Lambda custom runtime on the same loop and handlers as serve.
 *
 * Invocations come from the Runtime API (long poll on the loop):
 *   - MSK / self-managed Kafka batches: ingress records go through the
 *     processor (fan-out to egress topics), egress and retry records through
 *     the dispatcher — all records of a batch concurrently. The batch
 *     succeeds only when every record reached a durable state (delivered and
 *     recorded, on a retry topic, or dead-lettered); otherwise the invocation
 *     answers an error (Lambda retries the whole batch; the idempotency
 *     ledger makes that safe), or, with HOOKLOOP_LAMBDA_PARTIAL_BATCH=1 (for
 *     event source mappings with ReportBatchItemFailures), the failed records
 *     as batchItemFailures. Work still running close to the deadline is
 *     handed to the retry topic.
 *   - API Gateway HTTP API (v2) events: the very same route table as the
 *     HTTP server.
 * Connections, the Kafka producer, compiled schemas and subscriptions
 * survive across invocations of one sandbox.
 */
#ifndef HL_LAMBDA_H
#define HL_LAMBDA_H

#include "app/hl_config.h"

int hl_lambda_run(const hl_config *cfg);
/* Reports an initialisation failure to the Runtime API (/runtime/init/error)
 * when the configuration itself is unusable; returns the exit status. */
int hl_lambda_report_init_error(const char *message);

#endif
