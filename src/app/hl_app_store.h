/* hl_app_store.h — opening the store the configuration asks for, the same
 * way for serve, lambda and `tables create`. */
#ifndef HL_APP_STORE_H
#define HL_APP_STORE_H

#include <stdbool.h>
#include <uv.h>

#include "app/hl_config.h"
#include "aws/hl_secrets.h"
#include "loop/hl_curl_uv.h"
#include "store/hl_store.h"

/* The table names of the configuration (pointers into cfg). */
void hl_app_table_names(const hl_config *cfg, hl_table_names *t);
/* HOOKLOOP_STORE=sqlite: the SQLite store in data_dir (queue included).
 * HOOKLOOP_STORE=dynamodb: the DynamoDB store; when embedded_queue, an
 * SQLite store in data_dir keeps the embedded queue beneath it.
 * HOOKLOOP_STORE=postgres: the PostgreSQL store (queue included); with
 * DATABASE_PASSWORD_SECRET_ARN the password is read first, running loop
 * until it is (nothing else runs yet). curl must
 * outlive the store (close the store first). Returns 0 or a negative hl_err
 * with a message for the operator in err. */
int hl_app_store_open(uv_loop_t *loop, hl_curl_uv *curl, const hl_config *cfg, const char *data_dir,
                      bool embedded_queue, hl_store **out, char *err, size_t errlen);
/* Closes s and runs loop until it has closed: the end of a run on a loop
 * of its own, where nothing else is left to run. */
void hl_app_store_close_wait(hl_store *s, uv_loop_t *loop);

/* The AWS credentials chain's settings of cfg (pointers into cfg). */
hl_aws_creds_env hl_app_creds_env(const hl_config *cfg);
/* Work arrived from elsewhere (another process sharing the store): claim
 * for subscription_id (NULL: for every subscription). Only the PostgreSQL
 * store tells; with the others nothing happens. */
void hl_app_store_on_work(hl_store *s, void (*cb)(void *data, const char *subscription_id), void *data);

/* The default-secret reader for WEBHOOK_SECRET_ARN (credentials as for
 * the DynamoDB store; re-read every HOOKLOOP_CONFIG_TTL_S, at least every
 * 5 minutes). Returns 0 or HL_EINVAL with a message in err. */
int hl_app_secrets_init(hl_secrets *s, uv_loop_t *loop, hl_curl_uv *curl, const hl_config *cfg, char *err,
                        size_t errlen);

#endif
