/* e2e_util.h — starting hookloop and the mock partner for end-to-end tests. */
#ifndef E2E_UTIL_H
#define E2E_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "json/hl_json.h"

typedef struct {
  pid_t pid;
  int port;
  char base[64];     /* http://127.0.0.1:PORT */
  char *dir;         /* data dir */
  char log[512];
} e2e_hookloop;

typedef struct {
  pid_t pid;
  int port;
  char base[64];
  char log[512];
} e2e_partner;

/* Starts `hookloop serve` with the given extra env ("K=V", NULL-terminated)
 * on port 0 (h->port and h->base are what it bound; a restart gets a new
 * port); reuses h->dir when set (restart), else makes a new one. Waits until
 * /healthz answers 200. */
void e2e_start_hookloop(e2e_hookloop *h, const char *const *env);
/* Sends sig and waits for exit; returns the wait status. */
int e2e_stop_hookloop(e2e_hookloop *h, int sig, int timeout_ms);
/* Starts the mock partner on port 0 with the given extra arguments. */
void e2e_start_partner(e2e_partner *p, const char *const *args);
void e2e_stop_partner(e2e_partner *p);

/* POSTs/GETs JSON to hookloop; returns status; *doc gets the parsed answer
 * (dispose with hl_json_doc_dispose) when doc != NULL. */
long e2e_call(const char *method, const char *url, const char *body, hl_json_doc *doc);
/* The same with an Authorization: Bearer token (HOOKLOOP_ADMIN_TOKEN, ...). */
long e2e_call_auth(const char *method, const char *url, const char *body, const char *token, hl_json_doc *doc);
/* Registers the test schema (type Payment, requires amount number and
 * currency string) and a subscription to url with the given extra JSON
 * members (e.g. "\"max_in_flight\": 3"); returns the subscription id and
 * copies the secret into secret (may be NULL). */
char *e2e_setup(const e2e_hookloop *h, const char *partner_id, const char *url, const char *extra,
                char *secret, size_t secret_len);
/* Posts one Payment event with the given id; returns the HTTP status. */
long e2e_post_event(const e2e_hookloop *h, const char *id, const char *amount);
/* Polls GET /requests?name=NAME of the partner until count >= n or timeout;
 * returns the last parsed list (caller disposes). */
int e2e_wait_requests(const e2e_partner *p, const char *name, size_t n, int timeout_ms, hl_json_doc *doc);
/* A number from the partner's GET /stats (e.g. "requests", "unique_ids",
 * "held", "signature_failures"), or -1. */
int64_t e2e_partner_stat(const e2e_partner *p, const char *field);
/* Answers the requests the partner holds for /hook/name (URLs with hold=1),
 * again and again, until it has received n requests there and holds none,
 * or timeout_ms passes. Returns the requests received there. */
int e2e_release_until(const e2e_partner *p, const char *name, size_t n, int timeout_ms);
/* The delivery status of event id to its (only) subscription, or "" */
void e2e_status(const e2e_hookloop *h, const char *id, char *out, size_t outlen, long *attempts);
/* Waits until the status is `want`. */
bool e2e_wait_status(const e2e_hookloop *h, const char *id, const char *want, int timeout_ms);

/* The AWS test peer (tools/aws_peer) answering Secrets Manager's
 * GetSecretValue with secret_value (NULL: "not found") on a free loopback
 * port; fills endpoint_env with HOOKLOOP_SECRETSMANAGER_ENDPOINT=... (keep
 * it alive while the process using it runs). Returns its pid. */
pid_t e2e_start_secrets_peer(const char *secret_value, char *endpoint_env, size_t len, int *port);

#endif
